"""Backends: where a stack's AWS services live while localfaas runs its functions.

A backend answers two questions: how localfaas itself reaches the services (`client(service)`), and
what a function process needs in its environment to reach the same services (`function_env()`), so
that a handler's plain `boto3.client("dynamodb")` lands on the backend without knowing it.

- `MotoBackend` (the default) runs moto's server in a thread on 127.0.0.1.
- `LocalStackBackend` points at a LocalStack that runs elsewhere (localfaas does not start it).
- `AwsBackend` is real AWS through the user's own credential chain.

Functions reach local backends through `AWS_ENDPOINT_URL`, which boto3 (1.28 and later) honours for
every service; a service-specific `AWS_ENDPOINT_URL_<SERVICE>` in the user's environment would win
over it, as the SDK reference says:
https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
Lambda itself sets `AWS_REGION`, `AWS_DEFAULT_REGION` and the execution role's temporary
credentials in a function's environment; local backends give dummy credentials in their place:
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime

Not emulated: the services themselves (moto or LocalStack answer for them), IAM on a local backend
(every call is allowed, whatever the function's role says, unless localfaas.role_enforcement checks
it), more than one region and account per backend.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

__all__ = [
    "AwsBackend",
    "Backend",
    "BackendError",
    "LocalStackBackend",
    "MotoBackend",
    "RemoteMotoBackend",
    "local_credentials",
    "make_backend",
]

DEFAULT_REGION = "us-east-1"
# moto's default account, and what localfaas's template loader assumes unless told otherwise.
DEFAULT_ACCOUNT_ID = "123456789012"
_DUMMY_SECRET = "localfaas"  # noqa: S105 - local emulators accept any secret; this one is not a secret


# localfaas's own calls say so in their user agent: a fault plan never throttles them (throttling.py).
LOCALFAAS_USER_AGENT = "localfaas/internal"


# boto3 is imported when a client is first made, not with this module: a `localfaas invoke` whose
# function makes no AWS call never needs it (issue 15: importing boto3 was a third of that command).
@functools.cache
def _own_clients() -> Config:
    from botocore.config import Config

    return Config(user_agent_extra=LOCALFAAS_USER_AGENT)


def _boto3() -> Any:
    import boto3

    return boto3


def local_credentials(account_id: str | None = None) -> dict[str, str]:
    """The variables a process outside a stack (invoke, redrive) signs with against its local backend:
    the stack's account as the access key id, as the stack's own clients sign (LocalStackBackend)."""
    return {
        "AWS_ACCESS_KEY_ID": account_id or DEFAULT_ACCOUNT_ID,
        "AWS_SECRET_ACCESS_KEY": _DUMMY_SECRET,
        "AWS_SESSION_TOKEN": _DUMMY_SECRET,
    }


class BackendError(RuntimeError):
    """A backend that cannot be started or reached."""


class Backend(Protocol):
    """What the rest of localfaas needs from a backend."""

    kind: str
    region: str
    endpoint_url: str | None

    def client(self, service: str) -> Any:
        """A boto3 client for `service` on this backend, made once and reused."""

    def function_env(self) -> dict[str, str]:
        """Environment variables a function process needs to reach this backend."""

    def start(self) -> Backend: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc_info: object) -> None: ...


class _ClientCache:
    """Shared by the implementations: one boto3 session, one client per service, thread-safe.

    boto3 clients are thread-safe once made, but making them through one session is not, hence the lock.
    """

    kind = "base"

    def __init__(self, region: str) -> None:
        self.region = region
        self.endpoint_url: str | None = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None

    def _new_session(self) -> boto3.session.Session:
        raise NotImplementedError

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = self._new_session()
                self._clients[service] = self._session.client(
                    service, region_name=self.region, endpoint_url=self.endpoint_url, config=_own_clients()
                )
            return self._clients[service]

    def _forget_clients(self) -> None:
        with self._lock:
            self._clients.clear()
            self._session = None

    def _region_env(self) -> dict[str, str]:
        return {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}

    def start(self) -> _ClientCache:
        return self

    def stop(self) -> None:
        self._forget_clients()

    def __enter__(self) -> _ClientCache:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        endpoint = self.endpoint_url or ("AWS" if self.kind == "aws" else "not started")
        return f"<{type(self).__name__} region={self.region} endpoint={endpoint}>"


class _LocalCredentials(_ClientCache):
    """Dummy credentials, the same for localfaas's clients and for function processes."""

    access_key_id = "localfaas"

    def _new_session(self) -> boto3.session.Session:
        return _boto3().session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=_DUMMY_SECRET,
            aws_session_token=_DUMMY_SECRET,
            region_name=self.region,
        )

    def function_env(self) -> dict[str, str]:
        if self.endpoint_url is None:
            raise BackendError(f"{type(self).__name__} is not started: it has no endpoint yet")
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": _DUMMY_SECRET,
            "AWS_SESSION_TOKEN": _DUMMY_SECRET,
            **self._region_env(),
        }


class MotoBackend(_LocalCredentials):
    """moto's server in a daemon thread of this process, on 127.0.0.1 and a free port by default.

    moto keeps its state in module globals, so every MotoBackend of one process (and any `mock_aws`
    in it) sees the same resources; `reset()` empties them. Requests are put in `account_id` (moto
    reads the `x-moto-account-id` header), so ARNs moto makes match the ones the template resolved.
    Not emulated here: EventBridge delivery to targets (moto's server cannot invoke localfaas's
    functions; localfaas's own bus delivers) and IAM enforcement (localfaas.role_enforcement judges
    the functions' calls in front of the server).
    """

    kind = "moto"

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        host: str = "127.0.0.1",
        port: int = 0,
        reset: bool = False,
        middleware: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(region)
        self.account_id = account_id
        self.host = host
        self.port = port
        self.reset_on_start = reset
        self.middleware = middleware  # wraps the server's WSGI app (a fault plan's throttling)
        self._server: Any = None

    def start(self) -> MotoBackend:
        if self._server is None:
            self._server = _new_moto_server(self.host, self.port, self.account_id, self.middleware)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
            if self.reset_on_start:
                self.reset()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.endpoint_url = None
        super().stop()

    def reset(self) -> None:
        """Forget every resource moto holds (its `/moto-api/reset` endpoint)."""
        if self.endpoint_url is None:
            raise BackendError("MotoBackend is not started")
        import urllib.request  # here, not at the top: http.client is a cost every command would pay

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own loopback server
            pass


class RemoteMotoBackend(_LocalCredentials):
    """A moto server that another process runs (and that outlives this one): started and stopped
    by its owner, never reset here, so a localfaas that restarts finds its resources as it left
    them. Its kind is "moto" (moto's answers, moto-api readings), but it is not a MotoBackend: the
    functions' calls always go to its endpoint, never to an in-process mock."""

    kind = "moto"

    def __init__(
        self, endpoint_url: str, *, region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID
    ) -> None:
        super().__init__(region)
        self.endpoint_url = endpoint_url.rstrip("/")
        self.account_id = account_id

    def start(self) -> RemoteMotoBackend:
        return self

    def stop(self) -> None:
        self._forget_clients()  # the server is its owner's to stop; the endpoint stays


def _account_middleware(app: Any, account_id: str) -> Any:
    """WSGI wrapper that puts every request without an explicit account into `account_id`."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        environ.setdefault("HTTP_X_MOTO_ACCOUNT_ID", account_id)
        return app(environ, start_response)

    return wrapped


def _moto_server_class() -> type:
    # moto's server pulls in Flask and every service's URL map: import it only when a MotoBackend starts.
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class QuietRequestHandler(MotoRequestHandler):
        # werkzeug logs every request to stderr; a run's output is the functions' logs, not moto's.
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    class AccountMotoServer(ThreadedMotoServer):
        """ThreadedMotoServer whose app answers in one account and does not log requests."""

        def __init__(self, host: str, port: int, account_id: str, middleware: Any = None) -> None:
            super().__init__(ip_address=host, port=port, verbose=False)
            self._account_id = account_id
            self._middleware = middleware

        def _server_entry(self) -> None:
            from localfaas.sdk_hooks import server_middleware

            app = _account_middleware(DomainDispatcherApplication(create_backend_app), self._account_id)
            # The execution roles a stack of this process enforces (localfaas.role_enforcement).
            app = server_middleware(app)
            if self._middleware is not None:
                app = self._middleware(app)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=QuietRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return AccountMotoServer


def _new_moto_server(host: str, port: int, account_id: str, middleware: Any = None) -> Any:
    return _moto_server_class()(host, port, account_id, middleware)


class LocalStackBackend(_LocalCredentials):
    """A LocalStack that the user runs (`localstack start`); localfaas only points clients at it.

    The endpoint is the one given, else localstack-client's own resolution (`AWS_ENDPOINT_URL`,
    `LOCALSTACK_HOST`, `USE_SSL`, default http://localhost:4566). The access key id is the 12-digit
    account id, which LocalStack takes as the account to namespace resources in:
    https://docs.localstack.cloud/aws/capabilities/config/credentials
    """

    kind = "localstack"

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        super().__init__(region)
        self.endpoint_url = (endpoint_url or _localstack_edge()).rstrip("/")
        self.account_id = account_id
        self.access_key_id = account_id

    def start(self) -> LocalStackBackend:
        """Check that LocalStack answers, so a run fails early with a clear message rather than later."""
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/_localstack/health", timeout=5):  # noqa: S310
                pass
        except (urllib.error.URLError, OSError) as error:
            raise BackendError(
                f"LocalStack is not reachable at {self.endpoint_url} ({error}); "
                "start it with `localstack start` or pass its endpoint"
            ) from error
        return self

    def stop(self) -> None:
        self._forget_clients()  # LocalStack keeps running: it is not ours to stop


def _localstack_edge() -> str:
    from localstack_client import config

    return config.get_service_endpoint("edge") or f"http://localhost:{config.DEFAULT_EDGE_PORT}"


class AwsBackend(_ClientCache):
    """Real AWS: no endpoint override and no credentials of localfaas's own.

    Clients use the user's credential chain (environment, `profile`, SSO, instance role). A function
    process gets only the region and the profile's name, never keys: it resolves credentials the same
    way. `account_id` is accepted for symmetry and ignored; the account is the credentials' own.
    """

    kind = "aws"

    def __init__(
        self, profile: str | None = None, *, region: str = DEFAULT_REGION, account_id: str | None = None
    ) -> None:
        super().__init__(region)
        self.profile = profile

    def _new_session(self) -> boto3.session.Session:
        return _boto3().session.Session(profile_name=self.profile, region_name=self.region)

    def function_env(self) -> dict[str, str]:
        env = self._region_env()
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        return env


BackendKind = Literal["moto", "localstack", "aws"]
_KINDS: dict[str, type] = {"moto": MotoBackend, "localstack": LocalStackBackend, "aws": AwsBackend}


def make_backend(kind: BackendKind = "moto", **options: Any) -> Backend:
    """Build (not start) a backend by name; options go to its constructor (region=, account_id=, ...)."""
    try:
        backend_class = _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(_KINDS)}") from None
    return backend_class(**options)
