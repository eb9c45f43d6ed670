"""API Gateway's Lambda authorizers: which the template attaches to a route, what event the
authorizer function gets, and what its answer lets through.

SAM writes a route's authorizer into the OpenAPI it generates: `securityDefinitions` (REST) or
`components.securitySchemes` (HTTP) hold `x-amazon-apigateway-authorizer` (type `token`, `request`
or `jwt`, the function in `authorizerUri`, the identity sources), and each operation's `security`
names its authorizer (`NONE`: none). JWT authorizers are checked in localfaas.api_jwt.

REST, as "Use API Gateway Lambda authorizers" and "Output from an API Gateway Lambda authorizer" say
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html):
a TOKEN authorizer gets `{"type": "TOKEN", "authorizationToken", "methodArn"}`, a REQUEST one the
request's headers, query string, path parameters, stage variables and context with `methodArn`; a
missing identity source, or the function failing with "Unauthorized", is a 401; a policy that
denies the method (or does not allow it) a 403; any other failure a 500. The answer's principalId
and context reach the integration in `requestContext.authorizer`.

HTTP, as "Control access to HTTP APIs with AWS Lambda authorizers" says
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html):
payload 2.0 sends `{"version": "2.0", "type": "REQUEST", "routeArn", "identitySource", ...}` and
takes `{"isAuthorized", "context"}` when simple responses are enabled, else an IAM policy; the
context reaches the integration as `requestContext.authorizer.lambda`.

Answers are cached by identity source values for the authorizer's TTL (`ReauthorizeEvery`, 300 s
when the template leaves it out, 0 for none; "Authorizer" in the API Gateway API Reference,
https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html), and a cached policy
is checked against each new request's ARN: a policy naming one method refuses the others while it
is cached, as on AWS. Not emulated: Cognito and IAM authorizers, usageIdentifierKey.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from localfaas.api_routes import HTTP, REST, Authorizer, RouteMatch

if TYPE_CHECKING:
    from localfaas.api_events import HttpRequest
    from localfaas.runtime import InvocationResult

__all__ = ["AuthorizerCache", "Decision", "authorize_with_lambda", "identity_values"]

_MISS = object()

Invoke = Callable[[str, Any], "InvocationResult"]


@dataclass
class Decision:
    """Let through (`status` None, `context` for the integration's event) or refused with `status`."""

    status: int | None = None
    body: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


def identity_values(authorizer: Authorizer, request: HttpRequest, match: RouteMatch) -> list[str] | None:
    """The identity sources' values, in order; None when one is missing (API Gateway's 401)."""
    query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
    values = []
    for where, name in authorizer.identity_sources:
        if where == "header":
            value = request.header(name)
        elif where == "querystring":
            value = query.get(name)
        elif where == "stageVariables":
            value = match.route.api.stage_variables.get(name)
        else:  # $context variables are API Gateway's own; none is missing
            value = ""
        if not value:
            return None
        values.append(value)
    return values


def execute_api_arn(match: RouteMatch, method: str, path: str, account_id: str) -> str:
    """arn:aws:execute-api:region:account:api-id/stage/METHOD/resource-path, as methodArn/routeArn."""
    api = match.route.api
    region = (match.route.function_arn or "arn:aws:lambda:us-east-1").split(":")[3]
    return f"arn:aws:execute-api:{region}:{account_id}:{api.api_id}/{api.stage}/{method}/{path.lstrip('/')}"


def authorize_with_lambda(
    authorizer: Authorizer,
    request: HttpRequest,
    match: RouteMatch,
    proxy_event: dict[str, Any],
    invoke: Invoke,
    account_id: str,
    cache: AuthorizerCache | None = None,
) -> Decision:
    """Run a Lambda authorizer for one request (or reuse its cached answer for the same identity);
    `proxy_event` is the event the integration would get."""
    api = match.route.api
    identity = identity_values(authorizer, request, match)
    if identity is None:
        return _unauthorized()
    arn = execute_api_arn(match, request.method, request.path, account_id)
    key = (api.api_id, authorizer.name, *identity)
    answer = cache.get(key) if cache is not None else _MISS
    if answer is _MISS:
        result = invoke(
            authorizer.function_arn or "", _authorizer_event(authorizer, proxy_event, identity, arn, match)
        )
        if result.error is not None:
            if result.error.get("errorMessage") == "Unauthorized":
                return _unauthorized()
            return _failed(api.kind)
        answer = result.payload
        if cache is not None and authorizer.identity_sources:
            cache.put(key, answer, authorizer.ttl_s)
    return _decide(answer, authorizer, api.kind, arn)


def _decide(answer: Any, authorizer: Authorizer, kind: str, arn: str) -> Decision:
    """What the authorizer's answer (fresh or cached: a cached policy is checked against this
    request's ARN, as API Gateway checks it) lets through."""
    if kind == HTTP and authorizer.simple_responses:
        if not isinstance(answer, dict) or not isinstance(answer.get("isAuthorized"), bool):
            return _failed(kind)
        if not answer["isAuthorized"]:
            return Decision(403, {"message": "Forbidden"})
        return Decision(context={"lambda": dict(answer.get("context") or {})})
    verdict = _policy_verdict(answer, arn)
    if verdict is None:
        return _failed(kind)
    if verdict != "Allow":
        if kind == HTTP:
            return Decision(403, {"message": "Forbidden"})
        explicitly = " with an explicit deny" if verdict == "Deny" else ""
        return Decision(403, {"Message": f"User is not authorized to access this resource{explicitly}"})
    context = dict(answer.get("context") or {})
    if kind == HTTP and authorizer.payload_format == "2.0":
        return Decision(context={"lambda": context})
    if not all(isinstance(v, str | int | float | bool) for v in context.values()):
        return _failed(kind)  # a policy's context holds strings, numbers and booleans only
    return Decision(context={"principalId": answer.get("principalId"), **context, "integrationLatency": 0})


class AuthorizerCache:
    """Authorizer answers by identity, for the authorizer's TTL ("authorizerResultTtlInSeconds")."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> Any:
        with self._lock:
            expires, answer = self._entries.get(key, (0.0, _MISS))
            return answer if expires > self._clock() else _MISS

    def put(self, key: tuple[str, ...], answer: Any, ttl_s: int) -> None:
        if ttl_s > 0:
            with self._lock:
                self._entries[key] = (self._clock() + ttl_s, answer)


def _authorizer_event(
    authorizer: Authorizer, proxy_event: dict[str, Any], identity: list[str], arn: str, match: RouteMatch
) -> dict[str, Any]:
    if authorizer.kind == "token":
        return {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": arn}
    if match.route.api.kind == HTTP and authorizer.payload_format == "2.0":
        event = {k: v for k, v in proxy_event.items() if k not in ("body", "isBase64Encoded")}
        return {**event, "type": "REQUEST", "routeArn": arn, "identitySource": identity}
    event = {k: v for k, v in proxy_event.items() if k not in ("body", "isBase64Encoded")}
    event.update(type="REQUEST", methodArn=arn)
    if match.route.api.kind == HTTP:
        event["identitySource"] = ",".join(identity)
    return event


def _policy_verdict(answer: Any, arn: str) -> str | None:
    """ "Deny" when a statement denies `arn`, else "Allow" when one allows it, else "None"; None for
    an answer that is no policy."""
    if not isinstance(answer, dict) or not isinstance(answer.get("policyDocument"), dict):
        return None
    statements = answer["policyDocument"].get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    verdict = "None"
    for statement in statements:
        if not isinstance(statement, dict):
            return None
        actions = _listed(statement.get("Action"))
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if any(fnmatch.fnmatchcase(arn, resource) for resource in _listed(statement.get("Resource"))):
            if statement.get("Effect") == "Deny":
                return "Deny"
            if statement.get("Effect") == "Allow":
                verdict = "Allow"
    return verdict


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []


def _unauthorized() -> Decision:
    return Decision(401, {"message": "Unauthorized"})


def _failed(kind: str) -> Decision:
    if kind == REST:
        return Decision(500, {"message": None})
    return Decision(500, {"message": "Internal Server Error"})
