"""`localfaas invoke` keeps `sam local invoke`'s contract: payload on stdout, logs on stderr,
the error object and exit 1 when the function fails, one line and exit 2 for a bad request."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src/
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Environment:
        Variables:
          STAGE: !Ref Stage
          QUEUE: !Ref Jobs
          COLOUR: blue
  Fail:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: failing-fn
      Handler: app.fail
  FindQueue:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.find_queue
      Policies:
        - Statement: [{Effect: Allow, Action: sqs:GetQueueUrl, Resource: !GetAtt Jobs.Arn}]
"""

APP = """\
import os
import sys

import boto3


def echo(event, context):
    print("echo was called")
    names = (
        "STAGE", "QUEUE", "COLOUR", "SHAPE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
    )
    return {"event": event, "env": {name: os.environ.get(name) for name in names}}


def fail(event, context):
    raise RuntimeError("payment declined")


def find_queue(event, context):
    return boto3.client("sqs").get_queue_url(QueueName="localfaas-Jobs")["QueueUrl"]
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP, "event.json": '{"order": "o-1"}'})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(capsys, *args):
    code = main(["invoke", *args, "--runtime", "in-process"])
    out, err = capsys.readouterr()
    return code, out, err


def test_payload_goes_to_stdout_and_logs_to_stderr(project, capsys):
    code, out, err = invoke(capsys, "Echo", "-e", "event.json")

    assert code == 0
    assert json.loads(out)["event"] == {"order": "o-1"}
    assert "echo was called" in err and "REPORT RequestId: " in err
    assert "echo was called" not in out


def test_a_failing_function_prints_its_error_object_and_exits_1(project, capsys):
    code, out, _ = invoke(capsys, "failing-fn", "-e", "event.json")

    error = json.loads(out)
    assert code == 1
    assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "payment declined")
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}


def test_an_unknown_function_is_named_with_the_known_ones_and_exits_2(project, capsys):
    code, out, err = invoke(capsys, "Nope", "-e", "event.json")

    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [
        "localfaas invoke: error: function 'Nope' not found in template.yaml; known functions: Echo, Fail, FindQueue"
    ]


def test_a_malformed_event_file_is_named_and_exits_2(project, capsys):
    (project / "bad.json").write_text("{order: o-1")

    code, out, err = invoke(capsys, "Echo", "-e", "bad.json")

    assert (code, out) == (2, "")
    assert err.startswith("localfaas invoke: error: event file bad.json is not valid JSON")


def test_a_missing_template_exits_2(project, capsys):
    code, _, err = invoke(capsys, "Echo", "--template", "absent.yaml")

    assert code == 2 and "absent.yaml does not exist" in err


def test_without_an_event_the_function_gets_an_empty_object(project, capsys):
    _, out, _ = invoke(capsys, "Echo")

    assert json.loads(out)["event"] == {}


def test_env_vars_file_overrides_declared_variables_only(project, capsys):
    (project / "env.json").write_text(
        json.dumps({"Parameters": {"COLOUR": "red", "SHAPE": "square"}, "Echo": {"STAGE": "from-file"}})
    )

    _, out, _ = invoke(capsys, "Echo", "--env-vars", "env.json")

    env = json.loads(out)["env"]
    assert (env["COLOUR"], env["STAGE"], env["SHAPE"]) == ("red", "from-file", None)


def test_parameter_overrides_take_both_forms(project, capsys):
    _, short, _ = invoke(capsys, "Echo", "--parameter-overrides", "Stage=prod")
    _, long, _ = invoke(capsys, "Echo", "--parameter-overrides", "ParameterKey=Stage,ParameterValue=qa")

    assert json.loads(short)["env"]["STAGE"] == "prod"
    assert json.loads(long)["env"]["STAGE"] == "qa"


def test_endpoint_url_reaches_the_sdk_and_queue_urls(project, capsys):
    _, out, _ = invoke(capsys, "Echo", "--endpoint-url", "http://127.0.0.1:4566")

    env = json.loads(out)["env"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["QUEUE"] == "http://127.0.0.1:4566/123456789012/localfaas-Jobs"
    assert env["AWS_ACCESS_KEY_ID"] is not None


def test_endpoint_url_signs_in_the_account_up_and_run_provision_in(project, capsys):
    # LocalStack takes the key id as the account: any other key would find none of the stack's resources.
    _, out, _ = invoke(capsys, "Echo", "--endpoint-url", "http://127.0.0.1:4566")

    assert json.loads(out)["env"]["AWS_ACCESS_KEY_ID"] == "123456789012"


def test_an_env_vars_file_may_sign_the_call_in_another_account(project, capsys):
    (project / "env.json").write_text(
        json.dumps({"Parameters": {"AWS_ACCESS_KEY_ID": "000000000000"}, "Fail": {"AWS_ACCESS_KEY_ID": "1"}})
    )

    _, out, _ = invoke(capsys, "Echo", "--endpoint-url", "http://127.0.0.1:4566", "-n", "env.json")

    assert json.loads(out)["env"]["AWS_ACCESS_KEY_ID"] == "000000000000"


def test_event_from_stdin_in_a_worker_process(project):
    done = subprocess.run(
        [sys.executable, "-m", "localfaas.cli", "invoke", "Echo", "-e", "-", "--runtime", "worker"],
        input='{"from": "stdin"}',
        capture_output=True,
        text=True,
        cwd=project,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["event"] == {"from": "stdin"}
    assert "echo was called" in done.stderr


def test_without_an_endpoint_a_backend_is_started_with_the_template_provisioned(project, capsys):
    code, out, err = invoke(capsys, "FindQueue")

    assert code == 0, err
    assert json.loads(out).endswith("/123456789012/localfaas-Jobs")


def test_without_an_endpoint_the_worker_reaches_the_started_backend(project):
    done = subprocess.run(
        [sys.executable, "-m", "localfaas.cli", "invoke", "Echo", "--runtime", "worker"],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=60,
    )

    env = json.loads(done.stdout)["env"]
    assert done.returncode == 0, done.stderr
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["QUEUE"] == f"{env['AWS_ENDPOINT_URL']}/123456789012/localfaas-Jobs"
    assert env["AWS_ENDPOINT_URL_EVENTBRIDGE"].startswith("http://127.0.0.1:")


@pytest.fixture
def running_up(project):
    """An endpoints file as `localfaas up` writes it, its events endpoint a socket that answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    endpoints = {
        "events": f"http://127.0.0.1:{port}",
        "backend": "http://127.0.0.1:4566",
        "backendKind": "moto",
        "region": "eu-west-1",
        "template": str(project / "template.yaml"),
    }
    (project / ".localfaas").mkdir()
    (project / ".localfaas" / "endpoints.json").write_text(json.dumps(endpoints))
    yield endpoints
    listener.close()


def test_a_running_up_is_used_with_its_events_endpoint(running_up, capsys):
    code, out, err = invoke(capsys, "Echo")

    env = json.loads(out)["env"]
    assert code == 0
    assert (env["AWS_ENDPOINT_URL"], env["AWS_ENDPOINT_URL_EVENTBRIDGE"]) == (
        "http://127.0.0.1:4566",
        running_up["events"],
    )
    assert env["QUEUE"] == "http://127.0.0.1:4566/123456789012/localfaas-Jobs"
    assert "using the running `up` (moto at http://127.0.0.1:4566)" in err


def test_an_up_that_no_longer_answers_is_not_used(running_up, capsys):
    dead = socket.create_server(("127.0.0.1", 0))
    running_up["events"] = f"http://127.0.0.1:{dead.getsockname()[1]}"
    dead.close()
    Path(".localfaas/endpoints.json").write_text(json.dumps(running_up))

    code, out, err = invoke(capsys, "FindQueue")

    assert code == 0, err
    assert json.loads(out).endswith("/123456789012/localfaas-Jobs")  # from the backend started instead
    assert "running `up`" not in err


def test_an_up_of_another_template_is_not_used(running_up, capsys):
    running_up["template"] = "/elsewhere/template.yaml"
    Path(".localfaas/endpoints.json").write_text(json.dumps(running_up))

    _, out, err = invoke(capsys, "Echo")

    assert json.loads(out)["env"]["AWS_ENDPOINT_URL_EVENTBRIDGE"] != running_up["events"]
    assert "the running `up` serves /elsewhere/template.yaml, not template.yaml" in err


def test_backend_aws_is_sam_local_with_the_callers_credentials(running_up, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-the-callers")

    _, out, _ = invoke(capsys, "Echo", "--backend", "aws")

    env = json.loads(out)["env"]
    assert (env["AWS_ENDPOINT_URL"], env["AWS_ENDPOINT_URL_EVENTBRIDGE"]) == (None, None)
    assert env["AWS_ACCESS_KEY_ID"] == "AKIA-the-callers"
    assert env["QUEUE"] == "https://sqs.us-east-1.amazonaws.com/123456789012/localfaas-Jobs"


def test_an_endpoint_and_a_backend_together_are_refused(project, capsys):
    code, _, err = invoke(capsys, "Echo", "--backend", "aws", "--endpoint-url", "http://127.0.0.1:4566")

    assert code == 2
    assert err.strip() == "localfaas invoke: error: --endpoint-url and --backend name two backends; give one"


def test_env_json_beside_the_template_is_read_unless_env_vars_names_another(project, capsys):
    (project / "env.json").write_text(json.dumps({"Echo": {"COLOUR": "from-env-json"}}))
    (project / "other.json").write_text(json.dumps({"Echo": {"STAGE": "from-other"}}))

    _, by_default, _ = invoke(capsys, "Echo")
    _, named, _ = invoke(capsys, "Echo", "--env-vars", "other.json")

    assert json.loads(by_default)["env"]["COLOUR"] == "from-env-json"
    assert (json.loads(named)["env"]["COLOUR"], json.loads(named)["env"]["STAGE"]) == ("blue", "from-other")


def in_a_worker(capsys, *args):
    code = main(["invoke", *args, "--runtime", "worker"])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_worker_whose_function_calls_aws_finds_the_template_provisioned(project, capsys):
    # The stack starts on the function's first call (localfaas.on_demand), signed with its role's key.
    code, out, err = in_a_worker(capsys, "FindQueue")

    assert code == 0, err
    assert json.loads(out).endswith("/123456789012/localfaas-Jobs")


def test_a_worker_whose_function_calls_nothing_starts_no_stack(project, capsys, monkeypatch):
    from localfaas.local_stack import LocalStack

    def refuse(stack):
        raise AssertionError("a stack was started")

    monkeypatch.setattr(LocalStack, "start", refuse)

    code, out, err = in_a_worker(capsys, "Echo")

    assert code == 0, err
    assert json.loads(out)["env"]["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_a_stack_that_cannot_start_on_the_first_call_fails_the_call_and_exits_2(project, capsys, monkeypatch):
    from localfaas.backend import BackendError
    from localfaas.local_stack import LocalStack

    def cannot(stack):
        raise BackendError("no port left")

    monkeypatch.setattr(LocalStack, "start", cannot)

    code, out, err = in_a_worker(capsys, "FindQueue")

    assert code == 2
    assert json.loads(out)["errorType"]  # the function's call failed as an unreachable endpoint fails
    assert err.strip().endswith(
        "localfaas invoke: error: cannot start a moto backend for the call: no port left"
    )


def test_a_worker_gets_the_state_folder_of_the_stack_for_the_call_and_it_is_removed_after(project, capsys):
    # SAM's env-vars name the stack's state folder as ${LOCALFAAS_STATE_DIR} (the read model's SQLite file).
    (project / "env.json").write_text(
        json.dumps({"Echo": {"COLOUR": "${LOCALFAAS_STATE_DIR}/read-model.db"}})
    )

    code, out, err = in_a_worker(capsys, "Echo")

    colour = Path(json.loads(out)["env"]["COLOUR"])
    assert code == 0, err
    assert colour.name == "read-model.db" and colour.parent.name.startswith("localfaas-state-")
    assert not colour.parent.exists()
