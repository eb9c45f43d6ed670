"""`localfaas start-lambda` in a subprocess, reached as `sam local start-lambda` is: boto3's Lambda
client and `aws lambda invoke` pointed at it. Waits are bounded; nothing is timed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from infra.localfaas.tests.sam_app import write_app

WAIT_S = 60.0
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Greet:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src
      Handler: app.handler
      FunctionUrlConfig: {AuthType: NONE}
"""
APP = """\
def handler(event, context):
    return {"hello": event.get("name", "world")}
"""


def start_lambda(directory: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "localfaas.cli", "start-lambda", *args],
        cwd=directory,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def announcement(process: subprocess.Popen) -> str:
    """What start-lambda prints up to "Ctrl-C to stop." (reading stderr blocks until it listens)."""
    assert process.stderr is not None
    said = []
    for line in process.stderr:
        said.append(line)
        if line.startswith("Ctrl-C to stop."):
            return "".join(said)
    pytest.fail(f"start-lambda exited ({process.wait(WAIT_S)}) before it listened: {''.join(said)}")


@pytest.fixture
def server(tmp_path):
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    process = start_lambda(tmp_path, "--port", "0")
    try:
        said = announcement(process)
        process.function_url = re.search(r"function URL GreetUrl +(http://\S+)", said)[1]
        yield process, re.search(r"at (http://127\.0\.0\.1:\d+)", said)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_boto3_invokes_a_function_by_logical_id_and_ctrl_c_stops_it(server):
    process, endpoint = server
    client = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="localfaas",
        aws_secret_access_key="localfaas",
        config=Config(retries={"max_attempts": 1}),
    )
    response = client.invoke(FunctionName="Greet", Payload=json.dumps({"name": "Ada"}))
    assert json.loads(response["Payload"].read()) == {"hello": "Ada"}
    assert client.invoke(FunctionName="Greet", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202

    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=WAIT_S)
    assert process.returncode == 0, stderr
    assert "stopping" in stderr


def test_a_function_url_is_served_on_its_own_port(server):
    process, _ = server
    assert requests.get(f"{process.function_url}/?name=Ada", timeout=WAIT_S).json() == {"hello": "world"}


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_invokes_a_function(server, tmp_path):
    _, endpoint = server
    result = subprocess.run(
        ["aws", "lambda", "invoke", "--endpoint-url", endpoint, "--function-name", "Greet", "out.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "localfaas",
            "AWS_SECRET_ACCESS_KEY": "localfaas",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["StatusCode"] == 200
    assert json.loads((tmp_path / "out.json").read_text()) == {"hello": "world"}


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path):
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_lambda(tmp_path, "--port", str(port))
        _, stderr = process.communicate(timeout=WAIT_S)
    assert process.returncode == 2
    assert stderr.strip().splitlines() == [
        f"localfaas start-lambda: error: port {port} is in use; choose another with --port"
    ]
