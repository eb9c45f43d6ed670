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
the report) carry LOCALFAAS_USER_AGENT and are never throttled. The calls are seen where
localfaas.sdk_hooks sees them (moto's server and botocore's before-send in this process); a call
let through in this process is marked, so it is not drawn again. A throttled request is refused,
not served: AWS rejects it before doing anything, and botocore's retry modes resend it as safe to
repeat (sdk_hooks keeps moto's in-process stubber from performing it behind the refusal).
Services not listed are never throttled. In virtual time, the SDK's backoff sleeps are skipped
(`skip_sdk_backoff`), as localfaas skips its own waits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from localfaas import sdk_hooks
from localfaas.backend import LOCALFAAS_USER_AGENT
from localfaas.events_api import JUDGED_HEADER  # set on a call already judged, so no one draws again
from localfaas.faults import Dice
from localfaas.sdk_hooks import Answer, SdkCall, wsgi_middleware

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


# Keyed by the client's service name: the SigV4 signing name, but for SES's API v2 (SdkCall.api).
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


class Throttler:
    """Decides, for one call, whether it is throttled: only the functions' calls, `share` of them."""

    def __init__(self, share: float, dice: Dice) -> None:
        self.share = share
        self.dice = dice

    def decide(
        self, headers: Mapping[str, Any], path: str = "", body: bytes = b""
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The throttling answer for a call with these headers to this path, or None to let it by."""
        return self.judge(SdkCall("POST", f"http://localhost{path}", dict(headers), body))

    def judge(self, call: SdkCall) -> Answer | None:
        if call.from_localfaas or call.header(JUDGED_HEADER):
            return None
        service = call.api
        if service not in _THROTTLES:
            return None
        if not self.dice.roll("throttle", self.share, label=f"throttled {service}"):
            return None
        return throttle_response(service)

    def judge_in_process(self, call: SdkCall) -> Answer | None:
        refused = self.judge(call)
        if refused is None:
            call.headers[JUDGED_HEADER] = "1"  # the request's own headers: the events endpoint sees it
        return refused

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """`app` with the functions' calls throttled before they reach it (moto's server)."""
        return wsgi_middleware(self.judge)(app)


def install_in_process(throttler: Throttler) -> Callable[[], None]:
    """Throttle the calls of every botocore client made in this process from now on; returns what
    undoes it (localfaas.sdk_hooks)."""
    return sdk_hooks.install_in_process(throttler.judge_in_process, "throttle")


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
