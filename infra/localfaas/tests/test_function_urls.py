"""Lambda function URLs on 127.0.0.1, driven with requests: every path reaches the function with the
2.0 payload Lambda sends a function URL, answers map as 2.0, Cors is applied, errors are 502s."""

from __future__ import annotations

import json

import pytest
import requests

from infra.localfaas.tests.sam_app import write_app
from localfaas.function_urls import function_urls_for
from localfaas.local_stack import LocalStack

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      FunctionUrlConfig:
        AuthType: NONE
        Cors:
          AllowOrigins: ["https://shop.example"]
          AllowMethods: [GET, POST]
  Fails:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.fails
      FunctionUrlConfig: {AuthType: NONE}
  NoUrl:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.echo}
"""
APP = """\
def echo(event, context):
    return event


def fails(event, context):
    raise ValueError("no")
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    template = write_app(tmp_path_factory.mktemp("urls"), TEMPLATE, {"src/app.py": APP})
    with LocalStack(template) as stack:
        yield stack


@pytest.fixture(scope="module")
def urls(stack):
    with function_urls_for(stack) as urls:
        yield urls.urls


def test_each_function_url_gets_a_port_of_its_own_and_functions_without_one_none(urls):
    assert sorted(urls) == ["EchoUrl", "FailsUrl"]
    assert len(set(urls.values())) == 2


def test_any_path_and_method_reach_the_function_with_the_function_url_payload(urls):
    response = requests.post(f"{urls['EchoUrl']}/carts/c-1/items?x=1", json={"sku": "s-1"}, timeout=30)
    assert response.status_code == 200
    event = response.json()  # no statusCode in the answer: the answer is the JSON body
    assert (event["version"], event["routeKey"]) == ("2.0", "$default")
    assert (event["rawPath"], event["rawQueryString"]) == ("/carts/c-1/items", "x=1")
    assert json.loads(event["body"]) == {"sku": "s-1"}
    context = event["requestContext"]
    assert (context["accountId"], context["stage"], context["http"]["method"]) == (
        "anonymous",
        "$default",
        "POST",
    )
    assert len(context["apiId"]) == 32
    assert "pathParameters" not in event


def test_the_url_s_cors_answers_preflight_for_an_allowed_origin(urls):
    response = requests.options(
        f"{urls['EchoUrl']}/anything",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST"


def test_a_function_error_is_a_502(urls):
    assert requests.get(urls["FailsUrl"], timeout=30).status_code == 502


def test_a_template_without_function_urls_has_none(tmp_path):
    template = write_app(
        tmp_path,
        TEMPLATE.split("  Echo:")[0]
        + "  NoUrl:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: app.echo}\n",
        {"src/app.py": APP},
    )
    with LocalStack(template) as stack:
        assert function_urls_for(stack) is None
