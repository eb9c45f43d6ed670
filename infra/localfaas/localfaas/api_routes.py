"""API Gateway APIs as the template defines them, and which route a request takes.

SAM expands each `Api` event into an AWS::ApiGateway::RestApi and each `HttpApi` event into an
AWS::ApiGatewayV2::Api, both carrying an OpenAPI `Body`: its paths with their
`x-amazon-apigateway-integration` (the function's ARN in the `uri`, `payloadFormatVersion` for an
HTTP API), the CORS settings (mock OPTIONS methods for a REST API, `x-amazon-apigateway-cors` for an
HTTP API) and the binary media types. The stages hold the stage name and the stage variables. This
module reads them back from the loaded template, so what localfaas serves is what SAM deploys.

Route selection follows "Routes for HTTP APIs in API Gateway" (most specific match first: literal
path, then path variables, then greedy `{proxy+}`; a method over ANY; `$default` last):
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html
and, for a REST API, "Set up a proxy integration with a proxy resource" (`{proxy+}`, ANY):
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-set-up-simple-proxy.html

Not read: authorizers, request validators, API keys and usage plans, custom domains, non-Lambda
integrations (HTTP, AWS service), OpenAPI `DefinitionUri` files that SAM does not inline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localfaas.template import Stack

__all__ = [
    "Api",
    "Authorizer",
    "Cors",
    "Route",
    "RouteMatch",
    "apis_from_stack",
    "cors_from_config",
    "match_route",
]

REST, HTTP = "REST", "HTTP"
URL = "URL"  # a Lambda function URL (localfaas.function_urls): an HTTP API of one $default route
DEFAULT_ROUTE = "$default"
_ANY = "x-amazon-apigateway-any-method"
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
_FUNCTION_ARN = re.compile(r"/functions/(?P<arn>arn:[^/]+)/invocations$")


@dataclass(frozen=True)
class Cors:
    """An HTTP API's CorsConfiguration, as `x-amazon-apigateway-cors` carries it."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True)
class Authorizer:
    """A route's authorizer as the OpenAPI's `x-amazon-apigateway-authorizer` describes it."""

    name: str
    kind: str  # token, request or jwt
    function_arn: str | None = None
    # (where, name): ("header", "Authorization"), ("querystring", "k"), ("stageVariables", "v")...
    identity_sources: tuple[tuple[str, str], ...] = ()
    payload_format: str = "1.0"
    simple_responses: bool = False
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    ttl: int | None = None  # authorizerResultTtlInSeconds, when the template sets it

    @property
    def ttl_s(self) -> int:
        """How long an answer is cached: API Gateway's default is 300 s, REST and HTTP alike."""
        return 300 if self.ttl is None else self.ttl


@dataclass(frozen=True, eq=False)
class Route:
    """One method on one path of an API: a Lambda proxy integration, or (REST CORS) a mock."""

    api: Api
    method: str  # GET, POST, ..., or ANY
    path: str  # /orders/{id}, /files/{proxy+}, or $default
    function_arn: str | None = None
    payload_format: str = "1.0"
    mock_headers: dict[str, str] | None = None  # a mock integration's static response headers
    authorizer: Authorizer | None = None
    scopes: tuple[str, ...] = ()  # AuthorizationScopes a JWT must carry one of

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def _pattern(self) -> re.Pattern[str]:
        parts = []
        for segment in self.path.strip("/").split("/"):
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            variable = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                parts.append(f"(?P<{greedy[1]}>.+)")
            elif variable:
                parts.append(f"(?P<{variable[1]}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        return re.compile("^/" + "/".join(parts) + "/?$")

    def specificity(self) -> tuple[int, ...]:
        """Smaller is more specific: literal segments before variables before greedy, a method
        before ANY, $default last."""
        if self.path == DEFAULT_ROUTE:
            return (1, 0, 0, 0, 0)
        segments = self.path.strip("/").split("/")
        greedy = sum(s.endswith("+}") for s in segments)
        variables = sum(s.startswith("{") for s in segments) - greedy
        return (0, greedy, -len(segments), variables, int(self.method == "ANY"))

    def parameters(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` matches this route, else None."""
        if self.path == DEFAULT_ROUTE:
            return {}
        found = self._pattern.match(path)
        return None if found is None else found.groupdict()


@dataclass(frozen=True, eq=False)
class Api:
    logical_id: str
    kind: str  # REST or HTTP
    api_id: str
    stage: str
    stage_variables: dict[str, str] = field(default_factory=dict)
    binary_media_types: tuple[str, ...] = ()
    cors: Cors | None = None
    routes: list[Route] = field(default_factory=list, compare=False, hash=False)
    auth_type: str | None = None  # a function URL's AuthType (NONE or AWS_IAM)

    @property
    def http_like(self) -> bool:
        """An HTTP API or a function URL: text bodies sniffed, base64 answers always decoded."""
        return self.kind in (HTTP, URL)


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


def match_route(apis: list[Api], method: str, path: str) -> RouteMatch | None:
    """The route a request takes across `apis` (served on one port, as `sam local start-api` does)."""
    candidates = sorted(
        (route for api in apis for route in api.routes if route.method in (method, "ANY")),
        key=Route.specificity,
    )
    for route in candidates:
        parameters = route.parameters(path)
        if parameters is not None:
            return RouteMatch(route, parameters)
    return None


def apis_from_stack(stack: Stack) -> list[Api]:
    """Every REST and HTTP API of the loaded template, with its routes."""
    apis = []
    for resource in stack.resources_of_type("AWS::ApiGateway::RestApi"):
        stage, variables = _stage(stack, "AWS::ApiGateway::Stage", "RestApiId", resource.physical_name)
        body = resource.properties.get("Body") or {}
        media = resource.properties.get("BinaryMediaTypes") or body.get(
            "x-amazon-apigateway-binary-media-types"
        )
        api = Api(
            resource.logical_id,
            REST,
            resource.physical_name,
            stage or "Prod",
            variables,
            tuple(_media_type(m) for m in media or ()),
        )
        api.routes.extend(_routes(api, body))
        apis.append(api)
    for resource in stack.resources_of_type("AWS::ApiGatewayV2::Api"):
        stage, variables = _stage(stack, "AWS::ApiGatewayV2::Stage", "ApiId", resource.physical_name)
        body = resource.properties.get("Body") or {}
        api = Api(
            resource.logical_id,
            HTTP,
            resource.physical_name,
            stage or DEFAULT_ROUTE,
            variables,
            cors=cors_from_config(
                body.get("x-amazon-apigateway-cors") or resource.properties.get("CorsConfiguration")
            ),
        )
        api.routes.extend(_routes(api, body))
        apis.append(api)
    return apis


def _stage(stack: Stack, kind: str, api_property: str, api_id: str) -> tuple[str | None, dict[str, str]]:
    for stage in stack.resources_of_type(kind):
        if stage.properties.get(api_property) == api_id:
            variables = stage.properties.get("Variables") or stage.properties.get("StageVariables") or {}
            return str(stage.properties.get("StageName")), {k: str(v) for k, v in variables.items()}
    return None, {}


def _routes(api: Api, body: dict[str, Any]) -> list[Route]:
    routes = []
    authorizers = _authorizers(body)
    for path, methods in (body.get("paths") or {}).items():
        for key, operation in (methods or {}).items():
            method = "ANY" if key == _ANY else key.upper() if key in _METHODS else None
            integration = (operation or {}).get("x-amazon-apigateway-integration") or {}
            if method is None or not integration:
                continue
            if integration.get("type") == "mock":
                routes.append(Route(api, method, path, mock_headers=_mock_headers(integration)))
                continue
            arn = _FUNCTION_ARN.search(str(integration.get("uri", "")))
            if integration.get("type") == "aws_proxy" and arn:
                version = str(
                    integration.get("payloadFormatVersion") or ("2.0" if api.kind == HTTP else "1.0")
                )
                authorizer, scopes = None, ()
                for requirement in operation.get("security") or body.get("security") or ():
                    for name, wanted in (requirement or {}).items():
                        if name in authorizers:  # "NONE" (or an unknown name): no authorizer
                            authorizer, scopes = authorizers[name], tuple(wanted or ())
                routes.append(Route(api, method, path, arn["arn"], version, None, authorizer, scopes))
    return routes


def _authorizers(body: dict[str, Any]) -> dict[str, Authorizer]:
    schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
    found = {}
    for name, scheme in schemes.items():
        config = (scheme or {}).get("x-amazon-apigateway-authorizer")
        if not isinstance(config, dict):
            continue
        kind = str(config.get("type", "")).lower()
        arn = _FUNCTION_ARN.search(str(config.get("authorizerUri", "")))
        sources = config.get("identitySource")
        if sources is None and kind == "token":  # a TOKEN authorizer reads the scheme's header
            sources = f"method.request.header.{scheme.get('name') or 'Authorization'}"
        jwt = config.get("jwtConfiguration") or {}
        found[name] = Authorizer(
            name,
            kind,
            arn["arn"] if arn else None,
            tuple(_identity_source(s) for s in _split_sources(sources)),
            str(config.get("authorizerPayloadFormatVersion") or "1.0"),
            bool(config.get("enableSimpleResponses")),
            jwt.get("issuer"),
            tuple(str(a) for a in jwt.get("audience") or ()),
            _optional_int(config.get("authorizerResultTtlInSeconds")),
        )
    return found


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _split_sources(sources: Any) -> list[str]:
    if isinstance(sources, list):
        return [str(s).strip() for s in sources]
    return [s.strip() for s in str(sources or "").split(",") if s.strip()]


def _identity_source(source: str) -> tuple[str, str]:
    """method.request.header.X (REST) or $request.header.X (HTTP) as ("header", "X")."""
    for prefix in ("method.request.", "$request."):
        if source.startswith(prefix):
            where, _, name = source[len(prefix) :].partition(".")
            return where, name
    if source.startswith("$stageVariables.") or source.startswith("stageVariables."):
        return "stageVariables", source.split(".", 1)[1]
    return "context", source


def _mock_headers(integration: dict[str, Any]) -> dict[str, str]:
    """A mock integration's response headers: `method.response.header.X: "'value'"` (quoted literals)."""
    parameters = ((integration.get("responses") or {}).get("default") or {}).get("responseParameters") or {}
    prefix = "method.response.header."
    return {k[len(prefix) :]: str(v).strip("'") for k, v in parameters.items() if k.startswith(prefix)}


def _media_type(value: str) -> str:
    # OpenAPI escapes "/" as "~1" in binary media types ("image~1png").
    return value.replace("~1", "/")


def cors_from_config(config: Any) -> Cors | None:
    """CORS settings as OpenAPI (allowOrigins...) or CloudFormation (AllowOrigins...) spell them."""
    if not isinstance(config, dict):
        return None

    def values(*names: str) -> tuple[str, ...]:
        for name in names:
            if config.get(name):
                return tuple(str(v) for v in config[name])
        return ()

    max_age = config.get("maxAge", config.get("MaxAge"))
    return Cors(
        allow_origins=values("allowOrigins", "AllowOrigins"),
        allow_methods=values("allowMethods", "AllowMethods"),
        allow_headers=values("allowHeaders", "AllowHeaders"),
        expose_headers=values("exposeHeaders", "ExposeHeaders"),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=bool(config.get("allowCredentials", config.get("AllowCredentials", False))),
    )
