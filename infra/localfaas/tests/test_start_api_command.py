"""`localfaas start-api` in a subprocess, reached with a real HTTP client as `sam local start-api` is.
Waits are bounded; nothing is timed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import requests

from infra.localfaas.tests.sam_app import write_app

WAIT_S = 60.0
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.order
      Events:
        Get:
          Type: Api
          Properties: {Path: "/orders/{id}", Method: get}
  Fallback:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.fallback
      Events:
        Everything:
          Type: HttpApi
"""
APP = """\
def order(event, context):
    return {"statusCode": 200, "body": "order " + event["pathParameters"]["id"]}


def fallback(event, context):
    return {"routeKey": event["routeKey"], "path": event["rawPath"]}
"""
NO_API = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.11, CodeUri: src, Handler: app.order}
"""


def start_api(directory: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "localfaas.cli", "start-api", *args],
        cwd=directory,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def announced_endpoint(process: subprocess.Popen) -> str:
    """The endpoint start-api prints once it listens (reading stderr blocks until then)."""
    assert process.stderr is not None
    said = []
    for line in process.stderr:
        said.append(line)
        found = re.search(r"serving at (http://127\.0\.0\.1:\d+)", line)
        if found:
            return found[1]
    pytest.fail(f"start-api exited ({process.wait(WAIT_S)}) without an endpoint: {''.join(said)}")


def test_start_api_serves_a_rest_route_and_an_http_default_route_until_ctrl_c(tmp_path):
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    process = start_api(tmp_path, "--port", "0")
    try:
        url = announced_endpoint(process)
        order = requests.get(f"{url}/orders/o-9", timeout=WAIT_S)
        assert (order.status_code, order.text) == (200, "order o-9")
        fallback = requests.post(f"{url}/anything/else", data="x", timeout=WAIT_S)
        assert fallback.json() == {"routeKey": "$default", "path": "/anything/else"}
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_template_without_apis_is_one_line_and_exit_2(tmp_path):
    write_app(tmp_path, NO_API, {"src/app.py": APP})
    process = start_api(tmp_path, "--port", "0")
    _, stderr = process.communicate(timeout=WAIT_S)
    assert process.returncode == 2
    assert stderr.strip().splitlines() == [
        f"localfaas start-api: error: {Path('template.yaml')} has no Api or HttpApi events to serve"
    ]


def test_up_serves_the_apis_and_lambda_s_invoke_api_and_writes_them_to_its_endpoints_file(tmp_path):
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    process = subprocess.Popen(
        [sys.executable, "-m", "localfaas.cli", "up", "--runtime", "in-process"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        said = []
        for line in process.stderr:  # blocks until up has said it is running
            said.append(line)
            if line.startswith("Ctrl-C to stop."):
                break
        endpoints = json.loads((tmp_path / ".localfaas" / "endpoints.json").read_text())
        assert f"  APIs              {endpoints['api']}\n" in said
        assert requests.get(f"{endpoints['api']}/orders/o-3", timeout=WAIT_S).text == "order o-3"
        client = boto3.client(
            "lambda",
            endpoint_url=endpoints["lambda"],
            region_name="us-east-1",
            aws_access_key_id="localfaas",
            aws_secret_access_key="localfaas",
        )
        answer = client.invoke(
            FunctionName="Fallback", Payload=json.dumps({"routeKey": "k", "rawPath": "/p"})
        )
        assert json.loads(answer["Payload"].read()) == {"routeKey": "k", "path": "/p"}
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
