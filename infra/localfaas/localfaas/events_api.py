"""The EventBridge API endpoint that functions (and `localfaas put-events`) talk to.

moto's EventBridge accepts PutEvents but cannot invoke a local function, so localfaas serves the one
operation that matters itself: an HTTP server on 127.0.0.1 speaking EventBridge's AWS JSON 1.1
protocol (POST /, `X-Amz-Target: AWSEvents.PutEvents`, `Content-Type: application/x-amz-json-1.1`).
PutEvents goes to localfaas's buses and is answered as the API answers it: `{"FailedEntryCount",
"Entries"}` with 200, or `{"__type": "ValidationException", "message"}` with 400 for a request
rejected as a whole. Any other operation is forwarded unchanged to the backend's endpoint (moto,
LocalStack) when there is one, and otherwise answered with an UnknownOperationException.

A function reaches it through `AWS_ENDPOINT_URL_EVENTBRIDGE`, the service-specific endpoint variable
that boto3 honours before `AWS_ENDPOINT_URL` (the suffix is the service id, "EventBridge"):
https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
Request signatures are not checked (the backends do not check them either). PutEvents sent to the
path AS_SERVICE_PATH (only `localfaas put-events --as-service` does) is put as the AWS service itself
would send it (`put_service_events`; localfaas.service_events), so an ``aws.`` source is accepted
there; at the root, where functions send theirs, it is refused as AWS refuses it. A `guard` (a fault
plan's throttling, localfaas.throttling; the roles, localfaas.role_enforcement) may refuse a request before it is served or forwarded.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from localfaas.bus import EventBridgeError
from localfaas.loopback_server import LoopbackServer

# Set on a request a guard let through (localfaas.throttling.JUDGED_HEADER, which imports this name).
JUDGED_HEADER = "x-localfaas-fault-judged"
# Set on a request counted already (localfaas.call_meter.METERED_HEADER, which imports this name).
METERED_HEADER = "x-localfaas-metered"

__all__ = ["AS_SERVICE_PATH", "ENDPOINT_VARIABLE", "PUT_EVENTS", "EventsApi"]

log = logging.getLogger(__name__)

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_EVENTBRIDGE"
PUT_EVENTS = "AWSEvents.PutEvents"
AS_SERVICE_PATH = "/as-service"
CONTENT_TYPE = "application/x-amz-json-1.1"
# Hop-by-hop and recomputed headers are not forwarded to the backend.
_NOT_FORWARDED = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}

PutEvents = Callable[[list[dict[str, Any]]], dict[str, Any]]
# Given a request's headers, path and body, the answer that refuses it (a fault plan's throttle, a
# role that does not allow the call), or None.
Guard = Callable[[Any, str, bytes], "tuple[int, list[tuple[str, str]], bytes] | None"]


class EventsApi(LoopbackServer):
    """Serves PutEvents into `put_events` on 127.0.0.1:`port` (0 picks a free port) in a thread."""

    describe = "the events endpoint"
    thread_name = "localfaas-events-api"

    def __init__(
        self,
        put_events: PutEvents,
        *,
        proxy_url: str | None = None,
        port: int = 0,
        guard: Guard | None = None,
        put_service_events: PutEvents | None = None,
    ) -> None:
        self.put_events = put_events
        self.put_service_events = put_service_events
        self.guard = guard
        self.proxy_url = proxy_url.rstrip("/") if proxy_url else None
        super().__init__(port)

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_class(self)

    # -- what one request gets ------------------------------------------------------------------

    def answer(self, body: bytes, *, as_service: bool = False) -> tuple[int, dict[str, Any]]:
        """Status and JSON document for a PutEvents call (anything else is the caller's to forward)."""
        put_events = self.put_service_events if as_service else self.put_events
        if put_events is None:
            return 400, _error("UnknownOperationException", "this endpoint puts no events as an AWS service")
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, _error("SerializationException", "Request body is not valid JSON.")
        entries = request.get("Entries") if isinstance(request, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return 400, _error(
                "ValidationException",
                "1 validation error detected: Value null at 'entries' failed to satisfy constraint: "
                "Member must not be null",
            )
        try:
            return 200, put_events(entries)
        except EventBridgeError as e:
            return 400, _error(e.code, e.message)
        except Exception as e:  # a bug of localfaas's: the caller gets a 500, the log the traceback
            log.exception("PutEvents failed")
            return 500, _error("InternalException", f"localfaas could not put the events: {e}")


def _error(code: str, message: str) -> dict[str, str]:
    return {"__type": code, "message": message}


def _handler_class(api: EventsApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        # Headers and body go out in two writes; with Nagle's algorithm the second waits for the
        # client's delayed ACK (tens of milliseconds per PutEvents).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            refused = api.guard(self.headers, self.path, body) if api.guard is not None else None
            if refused is not None:
                return self._send_raw(*refused)
            target = self.headers.get("X-Amz-Target", "")
            if target == PUT_EVENTS:
                as_service = self.path.split("?", 1)[0].rstrip("/") == AS_SERVICE_PATH
                status, document = api.answer(body, as_service=as_service)
                return self._send_json(status, document)
            if api.proxy_url is not None:
                return self._forward(body)
            operation = target.split(".", 1)[-1] or "(none)"
            return self._send_json(
                400,
                _error(
                    "UnknownOperationException",
                    f"localfaas's EventBridge endpoint serves PutEvents only; {operation} needs a backend "
                    "with an endpoint (moto or LocalStack)",
                ),
            )

        def do_GET(self) -> None:
            if api.proxy_url is not None:
                return self._forward(b"")
            return self._send_json(404, _error("UnknownOperationException", "Unknown operation"))

        def _forward(self, body: bytes) -> None:
            """Pass the request to the backend as it came, and its answer back as it came."""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
            if api.guard is not None:  # judged and counted here already: the backend's guard lets it by
                headers[JUDGED_HEADER] = "1"
                headers[METERED_HEADER] = "1"
            request = urllib.request.Request(  # noqa: S310 - the backend's own http endpoint
                f"{api.proxy_url}{self.path}", data=body or None, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    status, reply_headers, reply = response.status, response.headers, response.read()
            except urllib.error.HTTPError as e:
                status, reply_headers, reply = e.code, e.headers, e.read()
            except OSError as e:
                message = f"backend {api.proxy_url} did not answer: {e}"
                return self._send_json(503, _error("ServiceUnavailableException", message))
            self.send_response(status)
            for name, value in reply_headers.items():
                if name.lower() not in _NOT_FORWARDED and name.lower() not in ("date", "server"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return None

        def _send_raw(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _send_json(self, status: int, document: dict[str, Any]) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            if status >= 400 and "__type" in document:
                self.send_header("x-amzn-ErrorType", document["__type"])
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("events api: " + format, *args)

    return Handler
