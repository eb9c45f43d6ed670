"""Lambda's Invoke API on 127.0.0.1, so `boto3.client("lambda")` and `aws lambda invoke` reach the
template's functions (`localfaas start-lambda`, and the functions themselves through
`AWS_ENDPOINT_URL_LAMBDA`, the service-specific endpoint variable boto3 honours before
`AWS_ENDPOINT_URL`: https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).

`POST /2015-03-31/functions/{FunctionName}/invocations` is answered as "Invoke" in the AWS Lambda API
Reference says (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html):
- `X-Amz-Invocation-Type: RequestResponse` (the default): 200 and the function's response; a function
  error is still 200, with `X-Amz-Function-Error: Unhandled` and the error object as the payload;
- `Event`: 202 once the event is queued for Lambda's asynchronous invocation (retries, destinations);
- `DryRun`: 204, the function found and the request valid, nothing run;
- `X-Amz-Log-Type: Tail` (synchronous only): the last 4 KB of the invocation's log, base64, in
  `X-Amz-Log-Result`; `X-Amz-Executed-Version: $LATEST` on every synchronous answer;
- FunctionName as a name, a partial ARN (`123456789012:function:name`) or a full ARN, each with an
  optional `:qualifier`, or `?Qualifier=`; only `$LATEST` exists locally (no versions, no aliases).
  The logical id is accepted too, as `sam local start-lambda` takes it.
- errors carry Lambda's REST-JSON shape: `x-amzn-ErrorType` and `{"Type", "Message"}`, with
  ResourceNotFoundException (404), InvalidRequestContentException (400), and
  RequestEntityTooLargeException (413) for a payload over the page's 6 MB (synchronous) or 1 MB (Event);
  an answer over 6 MB is the function error Function.ResponseSizeTooLarge, as Lambda reports it.

Each request is shown to `observe` first, when given (the functions' calls counted: localfaas.call_meter).

Not emulated: ClientContext (read, not passed to the handler), versions and aliases, permissions
(request signatures are not checked), every other Lambda operation (404 UnknownOperationException).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from localfaas.loopback_server import LoopbackServer
from localfaas.runtime import InProcessRuntime, InvocationResult
from localfaas.sdk_hooks import SdkCall
from localfaas.template import FunctionNotFound, FunctionSpec

if TYPE_CHECKING:
    from localfaas.local_stack import LocalStack

__all__ = ["ENDPOINT_VARIABLE", "LambdaApi", "TooManyRequests", "lambda_api_for"]

log = logging.getLogger(__name__)

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LAMBDA"
LATEST = "$LATEST"
TAIL_BYTES = 4096
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
EVENT_PAYLOAD_LIMIT = 1024 * 1024
# A synchronous answer over this is replaced by Function.ResponseSizeTooLarge (Lambda's own figure).
RESPONSE_LIMIT = 6_291_556
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# name, account:function:name or arn:partition:lambda:region:account:function:name; then :qualifier.
_FUNCTION_NAME = re.compile(
    r"^(?:arn:[^:]+:lambda:(?P<region>[^:]+):(?P<arn_account>\d{12}):function:"
    r"|(?P<account>\d{12}):function:)?(?P<name>[A-Za-z0-9_.-]+)(?::(?P<qualifier>[^:]+))?$"
)

FindFunction = Callable[[str], FunctionSpec]
Invoke = Callable[[str, Any], InvocationResult]
InvokeAsync = Callable[[str, Any], str]


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


class LambdaApi(LoopbackServer):
    """Serves Invoke on 127.0.0.1:`port` (0 picks a free port) in a thread, for one stack's functions.

    `find` resolves a name or logical id to a function (FunctionNotFound otherwise); `invoke` runs it
    synchronously by function name; `invoke_async` queues an Event invocation and returns its request
    id. `region` and `account_id` are the stack's: an ARN naming another account is not found."""

    describe = "the Lambda endpoint"
    thread_name = "localfaas-lambda-api"

    def __init__(
        self,
        find: FindFunction,
        invoke: Invoke,
        invoke_async: InvokeAsync,
        *,
        region: str,
        account_id: str,
        port: int = 0,
        observe: Callable[[SdkCall], object] | None = None,
    ) -> None:
        self.find, self.invoke, self.invoke_async = find, invoke, invoke_async
        self.observe = observe
        self.region, self.account_id = region, account_id
        super().__init__(port)

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_class(self)

    # -- what one request gets ------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: Any, body: bytes) -> Answer:
        """The answer to one HTTP request (`headers` is anything with a case-insensitive .get)."""
        parts = urlsplit(target)
        match = _INVOKE_PATH.match(parts.path)
        if method != "POST" or match is None:
            return _error(404, "UnknownOperationException", "localfaas's Lambda endpoint serves Invoke only")
        qualifier = (parse_qs(parts.query).get("Qualifier") or [None])[0]
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            return _error(
                400,
                "InvalidParameterValueException",
                f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to "
                "satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
            )
        try:
            function = self._function(unquote(match["name"]), qualifier)
        except _NotFound as e:
            return _error(404, "ResourceNotFoundException", f"Function not found: {e}")
        limit = EVENT_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(body) > limit:
            return _error(
                413,
                "RequestEntityTooLargeException",
                f"{len(body)} byte payload is too large for the {invocation_type} invocation type "
                f"(limit {limit} bytes)",
            )
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as e:
            return _error(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {e}"
            )
        if invocation_type == "DryRun":
            return Answer(204, {"x-amzn-RequestId": str(uuid.uuid4())})
        if invocation_type == "Event":
            request_id = self.invoke_async(function.function_name, event)
            return Answer(202, {"x-amzn-RequestId": request_id})
        return self._invoke(function, event, tail=headers.get("X-Amz-Log-Type") == "Tail")

    def _function(self, name: str, qualifier: str | None) -> FunctionSpec:
        """The function FunctionName (and Qualifier) names; _NotFound with the ARN Lambda would print."""
        match = _FUNCTION_NAME.match(name)
        if match is None:
            raise _NotFound(name)
        qualifier = qualifier or match["qualifier"]
        account = match["arn_account"] or match["account"] or self.account_id
        region = match["region"] or self.region
        arn = f"arn:aws:lambda:{region}:{account}:function:{match['name']}"
        arn += f":{qualifier}" if qualifier else ""
        if account != self.account_id or region != self.region or qualifier not in (None, LATEST):
            raise _NotFound(arn)
        try:
            return self.find(match["name"])
        except FunctionNotFound:
            raise _NotFound(arn) from None

    def _invoke(self, function: FunctionSpec, event: Any, *, tail: bool) -> Answer:
        try:
            result = self.invoke(function.function_name, event)
        except TooManyRequests as e:
            return _error(429, "TooManyRequestsException", str(e))
        headers = {
            "x-amzn-RequestId": result.request_id,
            "X-Amz-Executed-Version": LATEST,
            "Content-Type": "application/json",
        }
        error = result.error
        if error is None:
            body = (
                result.payload if isinstance(result.payload, bytes) else json.dumps(result.payload).encode()
            )
            if len(body) > RESPONSE_LIMIT:
                # The function ran, but Lambda does not return an answer over the quota: an error instead.
                message = (
                    f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                    f"({RESPONSE_LIMIT} bytes)."
                )
                error = {"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}
        if error is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = json.dumps(error).encode()
        if tail:
            headers["X-Amz-Log-Result"] = base64.b64encode(result.logs.encode()[-TAIL_BYTES:]).decode()
        return Answer(200, headers, body)


class _NotFound(Exception):
    pass


class TooManyRequests(Exception):
    """The function cannot run now; answered as Lambda's throttling error (429)."""


def lambda_api_for(stack: LocalStack, *, port: int = 0) -> LambdaApi:
    """The Invoke API over a stack's functions (it may be made before the stack's runtime is):
    synchronous calls through `stack.invoke`, Event through its asynchronous invoker (so its
    retries, DLQ and destinations apply)."""
    return LambdaApi(
        stack.function,
        lambda name, event: _invoke_on(stack, name, event),
        lambda name, event: stack.async_invoker.invoke_async(name, event),
        region=stack.region,
        account_id=stack.account_id,
        port=port,
        # A worker process's Invoke is seen here only (one from this process was counted at before-send).
        observe=stack.meter.observe if stack.meter is not None else None,
    )


def _invoke_on(stack: LocalStack, function_name: str, event: Any) -> InvocationResult:
    """`stack.invoke`, except that the in-process runtime runs one invocation at a time in the whole
    process: a function that invokes another synchronously holds it while it waits for the answer,
    so the callee would wait for ever. After the callee's own Timeout it is refused as Lambda
    refuses a call beyond its concurrency, saying what to do instead."""
    if not isinstance(stack.runtime, InProcessRuntime):
        return stack.invoke(function_name, event)
    from localfaas import runtime

    function = stack.function(function_name)
    if not runtime._PROCESS_LOCK.acquire(timeout=function.timeout):  # the runtime module's own lock
        raise TooManyRequests(
            f"{function.logical_id} could not start within its Timeout: the in-process runtime runs "
            "one invocation at a time; run with --runtime worker for functions that invoke functions"
        )
    try:
        return stack.invoke(function_name, event)
    finally:
        runtime._PROCESS_LOCK.release()


def _error(status: int, code: str, message: str) -> Answer:
    # Lambda's REST-JSON errors: the code in x-amzn-ErrorType, {"Type": "User", "Message"} as the body.
    body = json.dumps({"Type": "User", "Message": message}).encode()
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amzn-ErrorType": code,
        "Content-Type": "application/json",
    }
    return Answer(status, headers, body)


def _handler_class(api: LambdaApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        disable_nagle_algorithm = True  # headers and body go out in two writes (see events_api)

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if api.observe is not None:
                api.observe(
                    SdkCall(self.command, f"http://localhost{self.path}", dict(self.headers.items()), body)
                )
            try:
                answer = api.answer(self.command, self.path, self.headers, body)
            except Exception as e:  # a bug of localfaas's: the caller gets a 500, the log the traceback
                log.exception("Invoke failed")
                answer = _error(500, "ServiceException", f"localfaas could not invoke the function: {e}")
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_POST = do_GET = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("lambda api: " + format, *args)

    return Handler
