"""The template's Api and HttpApi events served on 127.0.0.1 and driven with a real HTTP client
(requests): routes and path parameters, both payload formats' events and responses, stage variables,
binary media types, CORS, and API Gateway's own answers when there is no route or no good answer."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests

from infra.localfaas.tests.sam_app import write_app
from localfaas.api_gateway import ApiGateway, api_gateway_for
from localfaas.api_routes import apis_from_stack
from localfaas.local_stack import LocalStack
from localfaas.runtime import TIMEOUT_NOT_ENFORCED

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src
  Api:
    BinaryMediaTypes: ["image~1png"]
    Variables:
      color: red
    Cors:
      AllowOrigin: "'https://shop.example'"
      AllowMethods: "'GET,POST'"
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Events:
        RestOrder:
          Type: Api
          Properties: {Path: "/orders/{id}", Method: get}
        RestFiles:
          Type: Api
          Properties: {Path: "/files/{proxy+}", Method: any}
        RestUpload:
          Type: Api
          Properties: {Path: /upload, Method: post}
        HttpItem:
          Type: HttpApi
          Properties: {ApiId: !Ref Shop, Path: "/items/{id}", Method: GET}
        HttpLegacy:
          Type: HttpApi
          Properties: {ApiId: !Ref Shop, Path: /legacy, Method: POST, PayloadFormatVersion: "1.0"}
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.plain
      Events:
        HttpPlain:
          Type: HttpApi
          Properties: {ApiId: !Ref Shop, Path: /plain, Method: GET}
  Image:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.image
      Events:
        RestImage:
          Type: Api
          Properties: {Path: /image, Method: get}
        HttpImage:
          Type: HttpApi
          Properties: {ApiId: !Ref Shop, Path: /http-image, Method: GET}
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.broken
      Events:
        RestRaises:
          Type: Api
          Properties: {Path: /raises, Method: get}
        RestMalformed:
          Type: Api
          Properties: {Path: /malformed, Method: get}
        HttpRaises:
          Type: HttpApi
          Properties: {ApiId: !Ref Shop, Path: /http-raises, Method: GET}
  Shop:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: live
      StageVariables:
        color: blue
      CorsConfiguration:
        AllowOrigins: ["https://shop.example"]
        AllowMethods: [GET, POST]
        AllowHeaders: [content-type]
        ExposeHeaders: [x-order]
        MaxAge: 600
"""

APP = """\
import base64
import json
from pathlib import Path

PNG = b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00\\x00\\rIHDR"


def echo(event, context):
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Order": "o-1", "X-Seen": "headers"},
        "multiValueHeaders": {"X-Seen": ["a", "b"]},
        "body": json.dumps(event),
    }


def plain(event, context):
    return {"hello": "world"}


def image(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(PNG).decode(),
        "isBase64Encoded": True,
    }


def broken(event, context):
    if event.get("path", event.get("rawPath")).endswith("raises"):
        raise RuntimeError("the database is down")
    return "not a proxy response"
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    template = write_app(tmp_path_factory.mktemp("api"), TEMPLATE, {"src/app.py": APP})
    with LocalStack(template) as stack:
        yield stack


@pytest.fixture(scope="module")
def url(stack):
    apis = apis_from_stack(stack.template)
    with ApiGateway(apis, stack.invoke, account_id=stack.account_id) as gateway:
        yield gateway.endpoint_url


def event_of(response: requests.Response) -> dict:
    return json.loads(response.text)


# -- REST API, payload 1.0 ---------------------------------------------------------------------


def test_a_rest_route_gets_the_1_0_event_with_path_and_query_parameters(url, stack):
    response = requests.get(f"{url}/orders/o-7?tag=a&tag=b&size=L", headers={"X-Trace": "t-1"}, timeout=30)
    assert response.status_code == 201
    event = event_of(response)
    assert event["resource"] == "/orders/{id}"
    assert event["path"] == "/orders/o-7"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "o-7"}
    assert event["queryStringParameters"] == {"tag": "b", "size": "L"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "size": ["L"]}
    assert event["headers"]["X-Trace"] == "t-1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t-1"]
    assert event["stageVariables"] == {"color": "red"}
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["stage"], context["path"], context["resourcePath"]) == (
        "Prod",
        "/Prod/orders/o-7",
        "/orders/{id}",
    )
    assert context["accountId"] == stack.account_id
    assert context["apiId"] == stack.physical_name("ServerlessRestApi")
    assert "version" not in event


def test_the_response_maps_status_headers_and_multi_value_headers_which_win_over_headers(url):
    response = requests.get(f"{url}/orders/o-7", timeout=30)
    assert response.status_code == 201
    assert response.headers["X-Order"] == "o-1"
    assert response.raw.headers.getlist("X-Seen") == ["a", "b"]


def test_a_greedy_proxy_path_on_any_method_takes_the_rest_of_the_path(url):
    event = event_of(requests.delete(f"{url}/files/a/b/c.txt", timeout=30))
    assert event["httpMethod"] == "DELETE"
    assert event["resource"] == "/files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}


def test_a_rest_body_of_a_binary_media_type_arrives_base64_and_text_as_text(url):
    binary = event_of(
        requests.post(f"{url}/upload", data=PNG, headers={"Content-Type": "image/png"}, timeout=30)
    )
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == PNG
    text = event_of(requests.post(f"{url}/upload", json={"n": 1}, timeout=30))
    assert (text["isBase64Encoded"], json.loads(text["body"])) == (False, {"n": 1})


def test_a_rest_base64_answer_is_decoded_only_when_the_client_accepts_a_binary_type(url):
    accepted = requests.get(f"{url}/image", headers={"Accept": "image/png"}, timeout=30)
    assert accepted.content == PNG
    refused = requests.get(f"{url}/image", headers={"Accept": "application/json"}, timeout=30)
    assert refused.content == base64.b64encode(PNG)


def test_rest_cors_preflight_is_the_mock_sam_generates_from_cors(url):
    response = requests.options(
        f"{url}/orders/o-7",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST"


def test_a_rest_function_error_or_malformed_answer_is_a_502(url):
    for path in ("/raises", "/malformed"):
        response = requests.get(f"{url}{path}", timeout=30)
        assert response.status_code == 502, path
        assert response.json() == {"message": "Internal server error"}


def test_no_route_is_rest_s_missing_authentication_token(url):
    response = requests.get(f"{url}/nowhere", timeout=30)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


# -- HTTP API, payload 2.0 and 1.0 ---------------------------------------------------------------


def test_an_http_route_gets_the_2_0_event(url, stack):
    response = requests.get(
        f"{url}/items/i-3?tag=a&tag=b",
        headers={"X-Trace": "t-2", "Cookie": "session=s1; theme=dark"},
        timeout=30,
    )
    event = event_of(response)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert (event["rawPath"], event["rawQueryString"]) == ("/items/i-3", "tag=a&tag=b")
    assert event["queryStringParameters"] == {"tag": "a,b"}
    assert event["pathParameters"] == {"id": "i-3"}
    assert event["headers"]["x-trace"] == "t-2"
    assert event["cookies"] == ["session=s1", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert event["stageVariables"] == {"color": "blue"}
    assert "body" not in event
    context = event["requestContext"]
    assert context["http"]["method"] == "GET"
    assert context["http"]["path"] == "/items/i-3"
    assert (context["stage"], context["routeKey"]) == ("live", "GET /items/{id}")
    assert context["apiId"] == stack.physical_name("Shop")


def test_an_http_route_with_payload_format_1_0_gets_the_1_0_event_with_its_version(url):
    event = event_of(
        requests.post(f"{url}/legacy", data="plain words", headers={"Content-Type": "text/plain"}, timeout=30)
    )
    assert event["version"] == "1.0"
    assert event["httpMethod"] == "POST"
    assert event["body"] == "plain words"
    assert event["requestContext"]["stage"] == "live"


def test_an_http_answer_without_status_code_is_a_200_json_of_the_answer(url):
    response = requests.get(f"{url}/plain", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"hello": "world"}


def test_an_http_base64_answer_is_decoded_whatever_the_client_accepts(url):
    response = requests.get(f"{url}/http-image", headers={"Accept": "application/json"}, timeout=30)
    assert response.content == PNG
    assert response.headers["Content-Type"] == "image/png"


def test_http_cors_preflight_is_answered_by_api_gateway(url):
    response = requests.options(
        f"{url}/items/i-3",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type"
    assert response.headers["Access-Control-Max-Age"] == "600"


def test_http_cors_headers_go_only_to_an_allowed_origin(url):
    allowed = requests.get(f"{url}/items/i-3", headers={"Origin": "https://shop.example"}, timeout=30)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert allowed.headers["Access-Control-Expose-Headers"] == "x-order"
    other = requests.get(f"{url}/items/i-3", headers={"Origin": "https://evil.example"}, timeout=30)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_an_http_function_error_is_a_500(url):
    response = requests.get(f"{url}/http-raises", timeout=30)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_a_more_specific_route_wins_over_a_greedy_one_and_a_method_over_any(stack):
    from localfaas.api_routes import match_route

    apis = apis_from_stack(stack.template)
    assert match_route(apis, "GET", "/orders/o-1").route.path == "/orders/{id}"
    assert match_route(apis, "GET", "/files/x").route.path == "/files/{proxy+}"
    assert match_route(apis, "GET", "/files") is None  # a greedy variable needs at least one segment
    assert match_route(apis, "POST", "/orders/o-1") is None


def test_the_readme_s_example_api_greets_on_both_payload_formats():
    example = Path(__file__).resolve().parents[1] / "examples" / "hello-api" / "template.yaml"
    with LocalStack(example) as stack, api_gateway_for(stack) as gateway:
        # the APIs are served, not reported as unknown resources (the in-process runtime says its one line)
        assert [w for w in stack.warnings if w != TIMEOUT_NOT_ENFORCED] == []
        rest = requests.get(f"{gateway.endpoint_url}/hello/Ada", timeout=30).json()
        http = requests.get(f"{gateway.endpoint_url}/v2/hello/Ada", timeout=30).json()
    assert rest == {"hello": "Ada", "payloadFormat": "1.0"}
    assert http == {"hello": "Ada", "payloadFormat": "2.0"}
