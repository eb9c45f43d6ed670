"""API Gateway's Lambda proxy integration: the event a request becomes, and the HTTP response the
function's answer becomes, for payload format 1.0 (REST APIs, and HTTP APIs that ask for it) and 2.0.

Field sets as "Set up Lambda proxy integrations in API Gateway" (REST, 1.0):
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
and "Create AWS Lambda proxy integrations for HTTP APIs in API Gateway" (1.0 and 2.0) give them:
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
2.0 joins repeated headers and query parameters with commas, lower-cases header names, moves cookies
to `cookies` (and the response's `cookies` to Set-Cookie headers), and takes a response without a
`statusCode` as a 200 application/json whose body is the function's JSON answer. A request body is
base64 (`isBase64Encoded`) when its Content-Type is one of a REST API's binary media types, or, for an
HTTP API, is not text; a response's base64 body is decoded likewise.

Not emulated: authorizer contexts, client certificates, `identity` fields beyond sourceIp and
userAgent, multi-value headers of 2.0 responses beyond Set-Cookie.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from localfaas.api_routes import HTTP, URL, Api, RouteMatch

__all__ = ["HttpRequest", "HttpResponse", "MalformedResponse", "proxy_event", "proxy_response"]

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
_TEXT_SUFFIXES = ("+json", "+xml", "/x-www-form-urlencoded")


@dataclass
class HttpRequest:
    method: str
    path: str  # without the query string, percent-decoded
    raw_query: str
    headers: list[tuple[str, str]]  # as sent, repeats kept
    body: bytes
    source_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class MalformedResponse(ValueError):
    """The function's answer is not a proxy response API Gateway can return."""


def proxy_event(
    request: HttpRequest, match: RouteMatch, account_id: str, authorizer: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The integration's event; `authorizer` (what an authorizer let through) as requestContext.authorizer."""
    route = match.route
    event = (
        _event_v2(request, match, account_id)
        if route.payload_format == "2.0"
        else _event_v1(request, match, account_id)
    )
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    return event


def _body(request: HttpRequest, binary_types: Iterable[str], http_api: bool) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if _is_binary(content_type, binary_types, http_api):
        return base64.b64encode(request.body).decode(), True
    return request.body.decode("utf-8", "replace"), False


def _is_binary(content_type: str, binary_types: Iterable[str], http_api: bool) -> bool:
    if http_api:
        return bool(content_type) and not (
            content_type.startswith(_TEXT_TYPES) or content_type.endswith(_TEXT_SUFFIXES)
        )
    return any(fnmatch.fnmatch(content_type, pattern.lower()) for pattern in binary_types)


def _now() -> tuple[str, int]:
    epoch_ms = int(time.time() * 1000)
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000)), epoch_ms


def _event_v1(request: HttpRequest, match: RouteMatch, account_id: str) -> dict[str, Any]:
    route, api = match.route, match.route.api
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    body, encoded = _body(request, api.binary_media_types, http_api=api.http_like)
    request_time, epoch_ms = _now()
    resource = "/" if route.path == "$default" else route.path
    stage_path = request.path if api.stage == "$default" else f"/{api.stage}{request.path}"
    event: dict[str, Any] = {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": api.stage_variables or None,
        "requestContext": {
            "accountId": account_id,
            "apiId": api.api_id,
            "domainName": request.header("Host") or "127.0.0.1",
            "domainPrefix": (request.header("Host") or "127.0.0.1").split(".")[0],
            "extendedRequestId": str(uuid.uuid4()),
            "httpMethod": request.method,
            "identity": {"sourceIp": request.source_ip, "userAgent": request.header("User-Agent")},
            "path": stage_path,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": request_time,
            "requestTimeEpoch": epoch_ms,
            "resourceId": uuid.uuid4().hex[:6],
            "resourcePath": resource,
            "stage": api.stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }
    if api.kind == HTTP:
        event["version"] = "1.0"
    return event


def _event_v2(request: HttpRequest, match: RouteMatch, account_id: str) -> dict[str, Any]:
    route, api = match.route, match.route.api
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        if name.lower() == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    body, encoded = _body(request, (), http_api=True)
    request_time, epoch_ms = _now()
    host = request.header("Host") or "127.0.0.1"
    if api.kind == URL and api.auth_type != "AWS_IAM":
        account_id = "anonymous"  # a function URL's caller, when no IAM identity signs the request
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": api.api_id,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.header("User-Agent") or "",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": api.stage,
            "time": request_time,
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": encoded,
    }
    # Absent, not empty, as API Gateway sends them.
    optional = {
        "cookies": cookies,
        "queryStringParameters": query,
        "pathParameters": match.path_parameters,
        "stageVariables": api.stage_variables,
    }
    event.update({name: value for name, value in optional.items() if value})
    if body is not None:
        event["body"] = body
    return event


def proxy_response(answer: Any, match: RouteMatch, request: HttpRequest) -> HttpResponse:
    """The HTTP response for the function's answer; MalformedResponse when there is none to give."""
    route, api = match.route, match.route.api
    if route.payload_format == "2.0" and not (isinstance(answer, dict) and "statusCode" in answer):
        text = answer.decode() if isinstance(answer, bytes) else json.dumps(answer)
        return HttpResponse(200, [("Content-Type", "application/json")], text.encode())
    if not isinstance(answer, dict):
        raise MalformedResponse(f"the function returned {type(answer).__name__}, not a proxy response object")
    try:
        status = int(answer["statusCode"])
    except (KeyError, TypeError, ValueError):
        raise MalformedResponse("the function's response has no integer statusCode") from None
    # A header in both maps goes out with multiValueHeaders' values only, as API Gateway merges them.
    multi = {str(name): values for name, values in (answer.get("multiValueHeaders") or {}).items()}
    replaced = {name.lower() for name in multi}
    headers = [
        (str(k), str(v)) for k, v in (answer.get("headers") or {}).items() if str(k).lower() not in replaced
    ]
    for name, values in multi.items():
        headers.extend((name, str(v)) for v in values or ())
    if route.payload_format == "2.0":
        headers.extend(("Set-Cookie", str(cookie)) for cookie in answer.get("cookies") or ())
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    body = answer.get("body")
    if body is not None and not isinstance(body, str):
        if route.payload_format != "2.0":
            raise MalformedResponse("the function's response body is not a string")
        body = json.dumps(body)
    data = (body or "").encode()
    if answer.get("isBase64Encoded") and _decodes(api, request, headers):
        try:
            data = base64.b64decode(body or "", validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("the function's response body is not valid base64") from None
    return HttpResponse(status, headers, data)


def _decodes(api: Api, request: HttpRequest, headers: list[tuple[str, str]]) -> bool:
    """An HTTP API always decodes a base64 body; a REST API only when the request's Accept (or else the
    response's Content-Type) is one of its binary media types, else the base64 text goes out as is."""
    binary_types = api.binary_media_types
    if api.http_like or not binary_types:
        return api.http_like
    accept = (request.header("Accept") or "").split(",")[0].split(";")[0].strip().lower()
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "").split(";")[0].lower()
    wanted = accept if accept and accept != "*/*" else content_type
    return any(fnmatch.fnmatch(wanted, pattern.lower()) for pattern in binary_types)
