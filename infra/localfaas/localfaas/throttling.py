"""Throttled AWS calls: a share of the functions' calls answered with the service's own throttling
error, in the service's protocol, so that botocore's retry modes (standard, adaptive) see a throttle.

What each service sends when it throttles (status, code, body as its protocol shapes errors):

- DynamoDB: 400 `ThrottlingException`, JSON 1.0 ("Error handling with DynamoDB",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html);
- SES (API v1, query): 400 `Throttling` "Maximum sending rate exceeded." ("Common Errors", SES API
  reference, https://docs.aws.amazon.com/ses/latest/APIReference/CommonErrors.html);
- SES API v2 (REST JSON, same signing name, paths under /v2/): 429 `TooManyRequestsException`
  ("SendEmail" errors, SES API v2 reference,
  https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html);
- SNS (query): 400 `Throttling` ("Common Errors", SNS API reference,
  https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html). SNS also models `Throttled` (429)
  for a topic's own publish rate, which botocore's standard mode does not retry: not sent here;
- SQS (AWS JSON 1.0 with query compatibility, as botocore speaks to it): 400 `RequestThrottled`,
  with `x-amzn-query-error: RequestThrottled;Sender` ("SendMessage" errors, SQS API reference,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html);
- S3 (REST XML): 503 `SlowDown` "Please reduce your request rate." ("Error responses", S3 API
  reference, https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html);
- EventBridge: 400 `ThrottlingException`, JSON 1.1 ("Common Errors", EventBridge API reference,
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html);
- Secrets Manager: 400 `ThrottlingException`, JSON 1.1 ("Common Errors", Secrets Manager API
  reference, https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html);
- Lambda (REST JSON): 429 `TooManyRequestsException` "Rate Exceeded." ("Invoke", Lambda API
  reference, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).

Every code above is one botocore's standard retry mode counts as a throttle ("Retry behavior",
https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). A call's service is
read from its SigV4 credential scope. localfaas's own clients (provisioning, pollers, destinations,
the report) carry LOCALFAAS_USER_AGENT and are never throttled. Two ways in, both needed: a WSGI
middleware around moto's server (functions in worker processes, or any process, calling it over
HTTP) and a botocore `before-send` handler for calls made in this process, which runs before
moto's in-process mock answers them; a call it let through is marked, so it is not drawn again.
A throttled request is refused, not served: AWS rejects it before doing anything, and botocore's
retry modes resend it as safe to repeat. botocore calls every before-send handler, not only until
one answers (botocore.endpoint: `emit`, then `first_non_none_response`), so moto's stubber is told
to leave a refused request alone; it would otherwise perform the write behind the refusal (an
idempotency record put, then "already exists" on the SDK's retry). Services not listed are never
throttled. In virtual time, the SDK's backoff sleeps are skipped
(`skip_sdk_backoff`), as localfaas skips its own waits.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from localfaas.backend import LOCALFAAS_USER_AGENT
from localfaas.events_api import JUDGED_HEADER  # set on a call already judged, so no one draws again
from localfaas.faults import Dice

__all__ = [
    "JUDGED_HEADER",
    "LOCALFAAS_USER_AGENT",
    "THROTTLED_SERVICES",
    "Throttler",
    "install_in_process",
    "skip_sdk_backoff",
    "throttle_response",
]


@dataclass(frozen=True)
class ThrottleResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _json_error(version: str, type_name: str, message: str, **extra: str) -> ThrottleResponse:
    body = json.dumps({"__type": type_name, "message": message}).encode()
    headers = (("Content-Type", f"application/x-amz-json-{version}"), *extra.items())
    return ThrottleResponse(400, headers, body)


def _query_error(namespace: str, code: str, message: str) -> ThrottleResponse:
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{{request_id}}</RequestId></ErrorResponse>"
    )
    return ThrottleResponse(400, (("Content-Type", "text/xml"),), body.encode())


# Keyed by the client's service name: the SigV4 signing name, but for SES's API v2 (see _api).
_THROTTLES: dict[str, ThrottleResponse] = {
    "dynamodb": _json_error(
        "1.0",
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "ses": _query_error(
        "http://ses.amazonaws.com/doc/2010-12-01/", "Throttling", "Maximum sending rate exceeded."
    ),
    "sesv2": ThrottleResponse(
        429,
        (("Content-Type", "application/json"), ("x-amzn-ErrorType", "TooManyRequestsException")),
        b'{"message": "Too many requests."}',
    ),
    "sns": _query_error("http://sns.amazonaws.com/doc/2010-03-31/", "Throttling", "Rate exceeded"),
    "sqs": _json_error(
        "1.0",
        "com.amazonaws.sqs#RequestThrottled",
        "Request is throttled.",
        **{"x-amzn-query-error": "RequestThrottled;Sender"},
    ),
    "s3": ThrottleResponse(
        503,
        (("Content-Type", "application/xml"),),
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message><RequestId>{request_id}</RequestId></Error>",
    ),
    "events": _json_error("1.1", "ThrottlingException", "Rate exceeded"),
    "secretsmanager": _json_error("1.1", "ThrottlingException", "Rate exceeded"),
    "lambda": ThrottleResponse(
        429,
        (("Content-Type", "application/json"), ("x-amzn-ErrorType", "TooManyRequestsException")),
        json.dumps(
            {"Type": "User", "message": "Rate Exceeded.", "Reason": "CallerRateLimitExceeded"}
        ).encode(),
    ),
}
THROTTLED_SERVICES = tuple(_THROTTLES)


def throttle_response(service: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """Status, headers and body of `service`'s throttling error (None: a service not throttled)."""
    template = _THROTTLES.get(service)
    if template is None:
        return None
    request_id = str(uuid.uuid4())
    body = template.body.replace(b"{request_id}", request_id.encode())
    headers = [*template.headers, ("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    return template.status, headers, body


def signing_service(headers: Mapping[str, Any]) -> str | None:
    """The service of a SigV4-signed request: `Credential=AKID/date/region/SERVICE/aws4_request`."""
    authorization = _header(headers, "Authorization")
    _, _, scope = authorization.partition("Credential=")
    parts = scope.split(",", 1)[0].split("/")
    return parts[3] if len(parts) >= 5 else None


def _api(signing_name: str | None, path: str) -> str | None:
    # SES signs both of its APIs as "ses"; version 2 is the REST one, under /v2/.
    return "sesv2" if signing_name == "ses" and path.startswith("/v2/") else signing_name


def _header(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower(), "")
    return value.decode() if isinstance(value, bytes) else str(value or "")


class Throttler:
    """Decides, for one call, whether it is throttled: only the functions' calls, `share` of them."""

    def __init__(self, share: float, dice: Dice) -> None:
        self.share = share
        self.dice = dice

    def decide(
        self, headers: Mapping[str, Any], path: str = ""
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The throttling answer for a call with these headers to this path, or None to let it by."""
        if LOCALFAAS_USER_AGENT in _header(headers, "User-Agent") or _header(headers, JUDGED_HEADER):
            return None
        service = _api(signing_service(headers), path)
        if service not in _THROTTLES:
            return None
        if not self.dice.roll("throttle", self.share, label=f"throttled {service}"):
            return None
        return throttle_response(service)

    # -- over HTTP: moto's server --------------------------------------------------------------------

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """`app` with the functions' calls throttled before they reach it."""

        def throttled(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            headers = {
                "Authorization": environ.get("HTTP_AUTHORIZATION", ""),
                "User-Agent": environ.get("HTTP_USER_AGENT", ""),
                JUDGED_HEADER: environ.get("HTTP_X_LOCALFAAS_FAULT_JUDGED", ""),
            }
            refused = self.decide(headers, environ.get("PATH_INFO", ""))
            if refused is None:
                return app(environ, start_response)
            status, reply_headers, body = refused
            start_response(f"{status} {_REASONS.get(status, 'Error')}", reply_headers)
            return [body]

        return throttled

    # -- in this process: botocore's before-send ------------------------------------------------------

    def before_send(self, request: Any, **_: Any) -> Any:
        refused = self.decide(request.headers, urlsplit(request.url).path)
        if refused is None:
            request.headers[JUDGED_HEADER] = "1"
            return None
        from botocore.awsrequest import AWSResponse

        _refuse(request)
        status, headers, body = refused
        return AWSResponse(request.url, status, dict(headers), _Raw(body))


_REASONS = {400: "Bad Request", 429: "Too Many Requests", 503: "Slow Down"}


class _Raw:
    """What botocore reads an AWSResponse's body from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self.body


# -- the in-process hook ------------------------------------------------------------------------------

_active: list[Throttler] = []
_registered = threading.Lock()
_hooked = False


# Requests refused at this attempt. botocore sends the same request object again on a retry, and
# this hook runs first on every attempt, so it forgets the last attempt's refusal before judging.
_refused: weakref.WeakSet[Any] = weakref.WeakSet()
_guarded_stubbers: weakref.WeakSet[Any] = weakref.WeakSet()


def _before_send(request: Any, **kwargs: Any) -> Any:
    _refused.discard(request)
    return _active[-1].before_send(request, **kwargs) if _active else None


def _refuse(request: Any) -> None:
    _refused.add(request)
    _guard_moto_stubber()


def _guard_moto_stubber() -> None:
    """moto's in-process stubber (one per process, moto.core.models) skips refused requests."""
    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    if stubber is None or stubber in _guarded_stubbers:
        return
    process_request = stubber.process_request

    def unless_refused(request: Any) -> Any:
        return None if request in _refused else process_request(request)

    stubber.process_request = unless_refused
    _guarded_stubbers.add(stubber)


def install_in_process(throttler: Throttler) -> Callable[[], None]:
    """Throttle the calls of every botocore client made in this process from now on (clients already
    made keep their handlers); returns what undoes it. Registered in botocore's built-in handlers just
    before moto's stubber, where moto registers it, so a throttled call never reaches moto's mock."""
    global _hooked
    with _registered:
        if not _hooked:
            from botocore.handlers import BUILTIN_HANDLERS

            position = next(
                (
                    i
                    for i, (event, handler, *_) in enumerate(BUILTIN_HANDLERS)
                    if _is_moto_stubber(event, handler)
                ),
                len(BUILTIN_HANDLERS),
            )
            BUILTIN_HANDLERS.insert(position, ("before-send", _before_send))
            _hooked = True
        _hook_default_session()
        _active.append(throttler)

    def uninstall() -> None:
        with _registered:
            if throttler in _active:
                _active.remove(throttler)

    return uninstall


def _hook_default_session() -> None:
    """boto3's default session (behind `boto3.client(...)`, shared by in-process functions) copied
    the built-in handlers when it was made: one made before the hook gets it first in line too."""
    import boto3

    if boto3.DEFAULT_SESSION is not None:
        # Once per session, first: drop the copy an earlier install put first and the built-in copy of
        # a session made after the hook. Two copies would judge each attempt twice, the second
        # forgetting the first's refusal, so moto would serve a request refused.
        events = boto3.DEFAULT_SESSION.events
        events.unregister("before-send", unique_id=_HOOK_ID)
        events.unregister("before-send", _before_send)
        events.register_first("before-send", _before_send, unique_id=_HOOK_ID)


_HOOK_ID = "localfaas-throttling"


def _is_moto_stubber(event: str, handler: Any) -> bool:
    return event == "before-send" and type(handler).__name__ == "BotocoreStubber"


# -- backoff in virtual time --------------------------------------------------------------------------


class _NoWait:
    """botocore.endpoint's `time`, but its retry sleeps return at once."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def sleep(self, seconds: float) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def skip_sdk_backoff() -> Callable[[], None]:
    """Until undone, botocore retries at once instead of sleeping its backoff (1 s and doubling for a
    throttle, in standard mode) in this process: a virtual-time run's clock jumps over the waits of
    the functions' retries as it jumps over its own, while the attempts stay the SDK's. Returns what
    undoes it. Worker processes still wait for real."""
    import botocore.endpoint

    real = botocore.endpoint.time
    if isinstance(real, _NoWait):
        return lambda: None
    botocore.endpoint.time = _NoWait(real)

    def undo() -> None:
        botocore.endpoint.time = real

    return undo
