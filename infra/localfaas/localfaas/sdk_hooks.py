"""Where localfaas sees the functions' AWS calls before the backend answers them: a fault plan's
throttling (localfaas.throttling) and the execution roles' enforcement (localfaas.role_enforcement).

Two ways in, both needed: a WSGI middleware around moto's server (functions in worker processes, or
any process, calling it over HTTP) and a botocore `before-send` handler for calls made in this
process, registered among botocore's built-in handlers just before moto's stubber (where moto
registers it), so a refused call never reaches moto's in-process mock; a moto server that runs in
this process asks the same judges (`judge_here`). The call meter (localfaas.call_meter) is a judge
that never refuses. A judge looks at one call
(`SdkCall`) and returns the answer that refuses it, or None to let it by; judges run in a fixed
order (roles before throttling: a call IAM refuses is not counted against a rate) and the first
refusal is the answer.

A refused request is refused, not served: AWS rejects it before doing anything. botocore calls every
before-send handler, not only until one answers (botocore.endpoint: `emit`, then
`first_non_none_response`), so moto's stubber is told to leave a refused request alone; it would
otherwise perform the write behind the refusal (an idempotency record put, then "already exists"
on the SDK's retry, issue 9).
"""

from __future__ import annotations

import io
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localfaas.backend import LOCALFAAS_USER_AGENT

__all__ = [
    "Answer",
    "Judge",
    "SdkCall",
    "install_in_process",
    "judge_here",
    "server_middleware",
    "wsgi_middleware",
]

Answer = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body


class SdkCall:
    """One signed AWS request: method, URL, headers (the request's own, in this process) and body."""

    def __init__(
        self,
        method: str,
        url: str,
        headers: MutableMapping[str, Any],
        body: bytes | Callable[[], bytes] = b"",
    ) -> None:
        self.method = method.upper()
        self.url = url
        self.headers = headers
        self._body = body
        parts = urlsplit(url)
        self.host, self.path, self.query = parts.netloc, parts.path or "/", parts.query

    @property
    def body(self) -> bytes:
        if callable(self._body):  # read once, only by a judge that needs it
            self._body = self._body()
        return self._body

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            value = self.headers.get(name.lower())
        if value is None:
            value = next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")
        return value.decode() if isinstance(value, bytes) else str(value or "")

    def _scope(self) -> list[str]:
        """`Credential=AKID/date/region/SERVICE/aws4_request` of the SigV4 Authorization header."""
        _, _, scope = self.header("Authorization").partition("Credential=")
        parts = scope.split(",", 1)[0].split("/")
        return parts if len(parts) >= 5 else []

    @property
    def access_key_id(self) -> str | None:
        scope = self._scope()
        return scope[0] if scope else None

    @property
    def region(self) -> str | None:
        scope = self._scope()
        return scope[2] if scope else None

    @property
    def signing_service(self) -> str | None:
        scope = self._scope()
        return scope[3] if scope else None

    @property
    def api(self) -> str | None:
        """The client's service name: the signing name, but SES signs both of its APIs as "ses", and
        version 2 is the REST one, under /v2/."""
        name = self.signing_service
        return "sesv2" if name == "ses" and self.path.startswith("/v2/") else name

    @property
    def from_localfaas(self) -> bool:
        return LOCALFAAS_USER_AGENT in self.header("User-Agent")

    def form(self) -> dict[str, str]:
        """The query protocol's parameters (form body, or URL query), first value of each."""
        text = self.body.decode("utf-8", "replace") if self.method == "POST" else self.query
        return {k: v[0] for k, v in parse_qs(text or self.query, keep_blank_values=True).items()}


Judge = Callable[[SdkCall], Answer | None]

# Judges' kinds in the order they see a call. The meter (localfaas.call_meter) never refuses; last,
# it counts only what the others let by, which the backend then serves.
ORDER = ("roles", "throttle", "meter")


def _first_refusal(judges: Iterable[Judge], call: SdkCall) -> Answer | None:
    for judge in judges:
        answer = judge(call)
        if answer is not None:
            return answer
    return None


# -- over HTTP: moto's server ------------------------------------------------------------------------

_REASONS = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests", 503: "Slow Down"}


def wsgi_middleware(
    judge: Judge,
) -> Callable[[Callable[..., Iterable[bytes]]], Callable[..., Iterable[bytes]]]:
    """What wraps a WSGI app so that `judge` sees each call before the app does."""

    def wrap(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def judged(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            call = SdkCall(
                environ.get("REQUEST_METHOD", "GET"),
                f"http://{environ.get('HTTP_HOST', '')}{environ.get('PATH_INFO', '')}"
                + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""),
                _environ_headers(environ),
                lambda: _read_body(environ),
            )
            refused = judge(call)
            if refused is None:
                return app(environ, start_response)
            status, headers, body = refused
            start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
            return [body]

        return judged

    return wrap


def _environ_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").title(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    return headers


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, put back so that the app reads it too."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    body = (
        stream.read(int(length)) if length else stream.read() if environ.get("wsgi.input_terminated") else b""
    )
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def chain(*middlewares: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """One middleware made of several (the first given sees a call first); None if there is none."""
    present = [m for m in middlewares if m is not None]
    if not present:
        return None

    def wrap(app: Any) -> Any:
        for middleware in reversed(present):
            app = middleware(app)
        return app

    return wrap


# -- in this process: botocore's before-send ----------------------------------------------------------

_active: dict[str, list[Judge]] = {kind: [] for kind in ORDER}
_registered = threading.Lock()
_hooked = False
_HOOK_ID = "localfaas-sdk-hooks"


# Requests refused at this attempt. botocore sends the same request object again on a retry, and
# this hook runs first on every attempt, so it forgets the last attempt's refusal before judging.
_refused: weakref.WeakSet[Any] = weakref.WeakSet()
_guarded_stubbers: weakref.WeakSet[Any] = weakref.WeakSet()


def _before_send(request: Any, **_: Any) -> Any:
    _refused.discard(request)
    judges = [judges[-1] for judges in _active.values() if judges]  # the latest of each kind
    if not judges:
        return None
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes | bytearray):
        body = b""  # a streamed upload: the judges read the call's URL and headers, not its content
    refused = _first_refusal(judges, SdkCall(request.method, request.url, request.headers, bytes(body)))
    if refused is None:
        return None
    from botocore.awsrequest import AWSResponse

    _refuse(request)
    status, headers, content = refused
    return AWSResponse(request.url, status, dict(headers), _Raw(content))


def _refuse(request: Any) -> None:
    _refused.add(request)
    _guard_moto_stubber()


def _guard_moto_stubber() -> None:
    """moto's in-process stubber (one per process, moto.core.models) skips refused requests."""
    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    if stubber is None or stubber in _guarded_stubbers:
        return
    # Looked up on the class at each call, not bound now: localfaas.moto_in_process may route moto's
    # requests (it patches the class) after this guard is put on the instance.
    stubber_class = type(stubber)

    def unless_refused(request: Any) -> Any:
        return None if request in _refused else stubber_class.process_request(stubber, request)

    stubber.process_request = unless_refused
    _guarded_stubbers.add(stubber)


class _Raw:
    """What botocore reads an AWSResponse's body from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self.body


# Kinds whose judges also sit in front of a moto server this process runs (localfaas.backend): the
# roles judge the same call the same way wherever it is seen, the meter counts it once wherever it is
# first seen; a throttle draws once per call, so it has a middleware of its own, given to the server
# it throttles (outside this one: a call it throttles is not counted).
SERVER_KINDS = ("roles", "meter")


def judge_here(call: SdkCall) -> Answer | None:
    """The latest installed judge of each SERVER_KINDS kind, on a call a moto server of this process got."""
    return _first_refusal([_active[k][-1] for k in SERVER_KINDS if _active[k]], call)


def server_middleware(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """`app` (a moto server of this process) behind `judge_here`, at no cost while no judge is installed."""
    judged = wsgi_middleware(judge_here)(app)

    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if any(_active[k] for k in SERVER_KINDS):
            return judged(environ, start_response)
        return app(environ, start_response)

    return serve


def install_in_process(judge: Judge, kind: str) -> Callable[[], None]:
    """`judge` sees the calls of every botocore client made in this process from now on (clients
    already made keep their handlers), until what this returns is called. Of several judges of one
    kind, the latest installed decides."""
    global _hooked
    if kind not in _active:
        raise ValueError(f"unknown kind of judge {kind!r}; one of {', '.join(ORDER)}")
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
        _active[kind].append(judge)

    def uninstall() -> None:
        with _registered:
            if judge in _active[kind]:
                _active[kind].remove(judge)

    return uninstall


def _hook_default_session() -> None:
    """boto3's default session (behind `boto3.client(...)`) copied the built-in handlers when it was
    made: one made before the hook gets it first in line too."""
    import boto3

    if boto3.DEFAULT_SESSION is not None:
        # Once per session, first: drop the copy an earlier install put first and the built-in copy of
        # a session made after the hook. Two copies would judge each attempt twice, the second
        # forgetting the first's refusal, so moto would serve a request refused.
        events = boto3.DEFAULT_SESSION.events
        events.unregister("before-send", unique_id=_HOOK_ID)
        events.unregister("before-send", _before_send)
        events.register_first("before-send", _before_send, unique_id=_HOOK_ID)


def _is_moto_stubber(event: str, handler: Any) -> bool:
    return event == "before-send" and type(handler).__name__ == "BotocoreStubber"
