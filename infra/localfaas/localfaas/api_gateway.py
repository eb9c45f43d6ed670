"""API Gateway on 127.0.0.1: the template's REST and HTTP APIs served on one port, as
`sam local start-api` serves them (no stage prefix in the path), each request routed
(localfaas.api_routes), turned into the proxy event, the function invoked, and its answer mapped back
(localfaas.api_events).

What a client sees beside the function's own answers, as API Gateway answers:
- no route: a REST API's 403 `{"message": "Missing Authentication Token"}`, an HTTP API's 404
  `{"message": "Not Found"}`;
- a function error or an answer that is not a proxy response: 502 `{"message": "Internal server
  error"}` (REST) or 500 `{"message": "Internal Server Error"}` (HTTP), the reason in localfaas's log;
- CORS: a REST API's OPTIONS methods are the mock integrations SAM generates from `Cors` (their static
  headers); an HTTP API with a CorsConfiguration answers preflight requests itself and adds
  Access-Control-Allow-Origin (and Expose-Headers, Allow-Credentials) to the responses of allowed
  origins, as "Configuring CORS for an HTTP API" says:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html

Lambda authorizers (localfaas.api_authorizers) and JWT authorizers (localfaas.api_jwt) run before
the integration. Not emulated: Cognito and IAM authorizers (requests go through), throttling, the 29 s integration
timeout (the function's own Timeout applies), request validation, API keys.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from localfaas.api_authorizers import AuthorizerCache, Decision, authorize_with_lambda
from localfaas.api_events import HttpRequest, HttpResponse, MalformedResponse, proxy_event, proxy_response
from localfaas.api_jwt import JwksSource, authorize_with_jwt, jwks_from_issuer
from localfaas.api_routes import REST, URL, Api, Cors, RouteMatch, apis_from_stack, match_route
from localfaas.loopback_server import LoopbackServer
from localfaas.runtime import InvocationResult

if TYPE_CHECKING:
    from localfaas.local_stack import LocalStack

__all__ = ["ApiGateway", "api_gateway_for"]

log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], InvocationResult]


def api_gateway_for(stack: LocalStack, *, port: int = 0, jwks: JwksSource | None = None) -> ApiGateway | None:
    """API Gateway over a started stack's APIs (not started), or None when the template has none."""
    apis = apis_from_stack(stack.template)
    if not any(api.routes for api in apis):
        return None
    return ApiGateway(apis, stack.invoke, account_id=stack.account_id, port=port, jwks=jwks)


class ApiGateway(LoopbackServer):
    """Serves `apis` on 127.0.0.1:`port` (0 picks a free port) in a thread; `invoke(function_arn,
    event)` runs a function synchronously; `jwks(issuer)` gives JWT authorizers their keys (by
    default the issuer's own, through its OpenID configuration)."""

    describe = "the API endpoint"
    thread_name = "localfaas-api-gateway"

    def __init__(
        self,
        apis: list[Api],
        invoke: Invoke,
        *,
        account_id: str,
        port: int = 0,
        jwks: JwksSource | None = None,
        authorizer_cache: AuthorizerCache | None = None,
    ) -> None:
        self.apis, self.invoke, self.account_id = apis, invoke, account_id
        self.jwks = jwks or jwks_from_issuer()
        self.authorizer_cache = authorizer_cache or AuthorizerCache()
        super().__init__(port)

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_class(self)

    # -- what one request gets ------------------------------------------------------------------

    def answer(self, request: HttpRequest) -> HttpResponse:
        preflight = self._preflight(request)
        if preflight is not None:
            return preflight
        match = match_route(self.apis, request.method, request.path)
        if match is None:
            if any(api.kind == REST for api in self.apis):
                return _message(403, "Missing Authentication Token")
            return _message(404, "Not Found")
        route = match.route
        if route.mock_headers is not None:
            return HttpResponse(200, list(route.mock_headers.items()))
        decision = self._authorize(request, match)
        if decision.status is not None:
            response = HttpResponse(
                decision.status, [("Content-Type", "application/json")], json.dumps(decision.body).encode()
            )
        else:
            response = self._integrate(request, match, decision.context)
        cors = route.api.cors
        origin = request.header("Origin")
        if cors is not None and origin and _allowed(cors, origin):
            response.headers.extend(_origin_headers(cors, origin))
        return response

    def _authorize(self, request: HttpRequest, match: RouteMatch) -> Decision:
        authorizer = match.route.authorizer
        if authorizer is None:
            return Decision()
        if authorizer.kind == "jwt":
            return authorize_with_jwt(authorizer, match.route.scopes, request, match, self.jwks)
        event = proxy_event(request, match, self.account_id)
        return authorize_with_lambda(
            authorizer, request, match, event, self.invoke, self.account_id, self.authorizer_cache
        )

    def _integrate(
        self, request: HttpRequest, match: RouteMatch, authorizer: dict[str, Any] | None
    ) -> HttpResponse:
        route = match.route
        result = self.invoke(
            route.function_arn or "", proxy_event(request, match, self.account_id, authorizer)
        )
        if result.error is not None:
            log.warning(
                "%s: %s failed: %s", route.route_key, result.function_name, result.error.get("errorType")
            )
            return _integration_failed(route.api)
        try:
            return proxy_response(result.payload, match, request)
        except MalformedResponse as e:
            log.warning("%s: %s: %s", route.route_key, result.function_name, e)
            return _integration_failed(route.api)

    def _preflight(self, request: HttpRequest) -> HttpResponse | None:
        """An HTTP API's own answer to a CORS preflight request, when one of its routes has the path."""
        wanted = request.header("Access-Control-Request-Method")
        origin = request.header("Origin")
        if request.method != "OPTIONS" or not wanted or not origin:
            return None
        for api in self.apis:
            if not api.http_like or api.cors is None:
                continue
            if match_route([api], wanted.upper(), request.path) is None:
                continue
            response = HttpResponse(204)
            if _allowed(api.cors, origin):
                response.headers.extend(_origin_headers(api.cors, origin, preflight=True))
                requested = request.header("Access-Control-Request-Headers")
                if api.cors.allow_headers:
                    # "*" allows whatever the client asks for.
                    wildcard = "*" in api.cors.allow_headers and requested
                    allowed = requested if wildcard else ",".join(api.cors.allow_headers)
                    response.headers.append(("Access-Control-Allow-Headers", allowed))
            return response
        return None


def _allowed(cors: Cors, origin: str) -> bool:
    return any(fnmatch.fnmatchcase(origin, pattern) for pattern in cors.allow_origins)


def _origin_headers(cors: Cors, origin: str, *, preflight: bool = False) -> list[tuple[str, str]]:
    headers = [("Access-Control-Allow-Origin", "*" if cors.allow_origins == ("*",) else origin)]
    if cors.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if preflight:
        if cors.allow_methods:
            headers.append(("Access-Control-Allow-Methods", ",".join(cors.allow_methods)))
        if cors.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    elif cors.expose_headers:
        headers.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))
    return headers


def _message(status: int, message: str) -> HttpResponse:
    return HttpResponse(
        status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode()
    )


def _integration_failed(api: Api) -> HttpResponse:
    if api.kind == REST:
        return _message(502, "Internal server error")
    if api.kind == URL:
        return _message(502, "Internal Server Error")
    return _message(500, "Internal Server Error")


def _handler_class(gateway: ApiGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes (see events_api)

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            request = HttpRequest(
                self.command,
                unquote(parts.path) or "/",
                parts.query,
                [
                    (k, v)
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "connection")
                ],
                body,
                source_ip=self.client_address[0],
            )
            try:
                response = gateway.answer(request)
            except Exception:  # a bug of localfaas's: the client gets a 500, the log the traceback
                log.exception("%s %s failed", self.command, parts.path)
                response = _message(500, "Internal Server Error")
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("apigw-requestid", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("api gateway: " + format, *args)

    return Handler
