"""What the failure destinations hold (localfaas.parked), the verdict that says it, and `localfaas
redrive` sending it again: on the app of parked_app.py, whose function fails until a flag file exists.
Each redrive test parks records and events, fixes the function (or not), redrives, and looks at the
effects (each exactly once) and at what the destinations still hold."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from infra.localfaas.tests.parked_app import TOPICS, effects, environment, write_parked_app
from infra.localfaas.tests.test_up import WAIT_S, localfaas, wait_for
from localfaas.backend import MotoBackend
from localfaas.cli import main
from localfaas.local_stack import LocalStack
from localfaas.parked import parked
from localfaas.redrive import Redriver
from localfaas.report import Report

RECORD_IDS = {"to-sqs": ["a", "b", "c"], "to-s3": ["d"], "to-sns": ["e"], "to-kafka": ["f", "g"]}


def park_everything(stack: LocalStack) -> None:
    """Records on every mapping's topic, an event for the async rule, one for the rule whose target
    queue does not exist, and an asynchronous invocation of the function with a DLQ: all fail."""
    for topic, ids in RECORD_IDS.items():
        for id_ in ids:
            stack.produce(topic, {"id": id_}, key=id_)
    stack.put_events(
        [
            {"Source": "shop", "DetailType": "Counted", "Detail": json.dumps({"id": "event-1"})},
            {"Source": "shop", "DetailType": "Shipped", "Detail": json.dumps({"id": "shipped-1"})},
        ]
    )
    stack.async_invoker.invoke_async(stack.function("Late").function_name, {"detail": {"id": "late-1"}})
    assert stack.run_until_idle()


@pytest.fixture
def stack(tmp_path):
    template = write_parked_app(tmp_path)
    with LocalStack(template, topics=TOPICS, environment=environment(tmp_path / "fixed")) as stack:
        park_everything(stack)
        yield stack


def counts(stack: LocalStack) -> dict[str, int | None]:
    report = parked(stack.template, stack.client, log=stack.log)
    return {d["name"]: d["count"] for d in report["destinations"].values()}


def queue_messages(stack: LocalStack, logical_id: str) -> int:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.physical_name(logical_id))["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


# -- what is parked, and the verdict ---------------------------------------------------------------


def test_each_kind_of_failure_destination_is_counted_from_what_it_holds(stack):
    report = stack.report().data["parked"]
    by_name = {d["name"]: d for d in report["destinations"].values()}
    assert {name: d["count"] for name, d in by_name.items()} == {
        "ParkedRecords": 3,  # bisected down to one record per invocation record
        "ParkedBucket": 1,
        "ParkedTopic": 1,  # SNS: what the stack published, nothing to read back
        "kafka://parked": 2,
        "ParkedEvents": 1,
        "LateLetters": 1,
        "Undelivered": 1,
    }
    assert report["total"] == 10
    assert by_name["ParkedRecords"]["reason"] == "RetryAttemptsExhausted (3)"
    assert by_name["ParkedEvents"]["reason"] == "RetriesExhausted (1)"
    assert by_name["Undelivered"]["reason"] == "NO_RESOURCE (1)"
    assert by_name["ParkedEvents"]["source"] == "Count (on-failure)"
    assert by_name["Undelivered"]["source"] == "ToMissingQueue target Shipments"
    assert by_name["LateLetters"]["source"] == "Late (DLQ)"


def test_a_stack_resumed_on_its_state_folder_counts_what_the_stopped_one_parked_sns_included(tmp_path):
    """SNS keeps nothing to read back, so what a stack published to an SNS failure destination (and
    why it parked anything) is kept in its state folder: a run resumed there reports the same."""
    template = write_parked_app(tmp_path)
    options = {
        "topics": TOPICS,
        "environment": environment(tmp_path / "fixed"),
        "state_dir": tmp_path / "state",
        "log_dir": tmp_path / "log",
    }
    with MotoBackend(reset=True) as moto:
        with LocalStack(template, backend=moto, **options) as first:
            park_everything(first)
            before = first.report().data["parked"]
        with LocalStack(template, backend=moto, **options) as resumed:
            assert resumed.run_until_idle()
            after = resumed.report().data["parked"]
    by_name = {d["name"]: d for d in after["destinations"].values()}
    assert by_name["ParkedTopic"]["count"] == 1
    assert by_name["ParkedTopic"]["reason"] == "RetryAttemptsExhausted (1)"
    assert by_name["Undelivered"]["reason"] == "NO_RESOURCE (1)"
    assert after == before and after["total"] == 10


def test_the_verdict_says_how_many_are_parked_beside_nothing_lost(stack):
    report = stack.report()
    text = report.render()
    assert report.lost == 0
    assert (
        "NOTHING LOST (10 parked in failure destinations, listed above)" in text
    )  # not an up: no redrive hint
    parked_table = text.split("Parked in failure destinations\n", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"\n  ParkedRecords +sqs +CountToSqs +RetryAttemptsExhausted \(3\) +3\n", parked_table)
    assert report.metric("parked.total") == 10
    assert json.loads(report.to_json())["parked"]["total"] == 10  # what `run --json` writes


def test_a_bare_nothing_lost_when_nothing_is_parked():
    data = {"parked": {"total": 0, "destinations": {}}, "lost": {"total": 0, "details": []}}
    assert Report(data).render().rstrip().endswith("\nNOTHING LOST")


def test_parked_records_are_said_beside_lost_ones_too():
    data = {"parked": {"total": 2, "destinations": {}}, "lost": {"total": 1, "details": ["x: lost"]}}
    assert "LOST: 1 (2 parked in failure destinations" in Report(data).render()


# -- redrive -----------------------------------------------------------------------------------------


def test_redrive_once_fixed_makes_each_effect_happen_once_and_empties_the_destinations(stack, tmp_path):
    stack.client("sqs").create_queue(QueueName="shipments")  # the missing target now exists
    (tmp_path / "fixed").touch()
    results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive()
    assert all(r.ok for r in results), results
    assert len(results) == 9  # SNS has nothing to read back
    assert effects(stack) == {id_: 1 for id_ in ["a", "b", "c", "d", "f", "g", "event-1", "late-1"]}
    left = {name: n for name, n in counts(stack).items() if name != "ParkedTopic"}  # SNS: nothing read back
    assert left == dict.fromkeys(left, 0) and len(left) == 6
    shipments = stack.client("sqs").get_queue_url(QueueName="shipments")["QueueUrl"]
    delivered = stack.client("sqs").receive_message(QueueUrl=shipments)["Messages"]
    assert json.loads(delivered[0]["Body"])["detail"] == {"id": "shipped-1"}
    assert Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive() == []


def test_a_redrive_that_fails_again_keeps_every_message(stack):
    before = counts(stack)
    results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive()
    assert results and not any(r.ok for r in results)
    assert {r.error for r in results if "Count" in r.what} == {"localfaas-Count failed again (RuntimeError)"}
    assert counts(stack) == before
    assert effects(stack) == {}


def test_a_dry_run_lists_coordinates_and_changes_nothing(stack, tmp_path):
    (tmp_path / "fixed").touch()
    invocations = stack.report().data["functions"]["Count"]["invocations"]
    results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive(dry_run=True)
    assert all(r.ok for r in results) and len(results) == 9
    whats = sorted(r.what for r in results)
    assert "CountToKafka to-kafka-0@1..1" in whats
    assert any(w.startswith("ToMissingQueue target Shipments event ") for w in whats)
    assert not any("late-1" in w or '"id"' in w for w in whats)  # coordinates and ids, never payloads
    assert stack.report().data["functions"]["Count"]["invocations"] == invocations
    assert effects(stack) == {}
    assert queue_messages(stack, "ParkedRecords") == 3  # received and made visible again


def test_a_message_redrive_cannot_read_is_reported_and_left_in_its_queue(stack, tmp_path):
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.physical_name("ParkedRecords"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not a record")
    (tmp_path / "fixed").touch()
    results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive(source="ParkedRecords")
    assert [(r.what, r.ok) for r in results if not r.ok] == [("a message", False)]
    assert sum(r.ok for r in results) == 3
    assert queue_messages(stack, "ParkedRecords") == 1


def test_redrive_of_one_source_leaves_the_others(stack, tmp_path):
    (tmp_path / "fixed").touch()
    results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive(source="Late")
    assert [r.what.split(" ")[0] for r in results] == ["Late"]
    assert effects(stack) == {"late-1": 1}
    assert queue_messages(stack, "ParkedEvents") == 1


# -- the command ---------------------------------------------------------------------------------------


def endpoints_file(stack: LocalStack, tmp_path: Path) -> Path:
    path = tmp_path / ".localfaas" / "endpoints.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(stack.endpoints()))
    return path


def test_the_command_redrives_through_the_running_stacks_endpoints(stack, tmp_path, capsys):
    (tmp_path / "fixed").touch()
    stack.client("sqs").create_queue(QueueName="shipments")
    options = [
        "--template",
        str(tmp_path / "template.yaml"),
        "--endpoints-file",
        str(endpoints_file(stack, tmp_path)),
    ]
    flag = ["--env-vars", str(tmp_path / "env.json")]
    (tmp_path / "env.json").write_text(json.dumps(environment(tmp_path / "fixed")))
    assert main(["redrive", *options, *flag, "--runtime", "in-process", "--source", "ParkedRecords"]) == 0
    out, err = capsys.readouterr()
    assert out.count("redriven  ParkedRecords  CountToSqs to-sqs-") == 3
    assert "3 redriven, 0 failed" in err
    assert effects(stack) == {"a": 1, "b": 1, "c": 1}


def test_the_command_exits_1_when_a_redelivery_fails(stack, tmp_path, capsys):
    options = [
        "--template",
        str(tmp_path / "template.yaml"),
        "--endpoints-file",
        str(endpoints_file(stack, tmp_path)),
    ]
    assert main(["redrive", *options, "--runtime", "in-process", "--source", "Late"]) == 1
    out, _ = capsys.readouterr()
    assert out.startswith("FAILED  LateLetters  Late request ")
    assert queue_messages(stack, "LateLetters") == 1


def test_usage_errors_are_one_line_with_exit_2(stack, tmp_path, capsys):
    template = str(tmp_path / "template.yaml")
    options = ["--template", template, "--endpoints-file", str(endpoints_file(stack, tmp_path))]
    assert main(["redrive", *options, "--source", "NoSuchThing"]) == 2
    assert main(["redrive", "--template", template, "--endpoints-file", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("localfaas redrive: error: ") for line in err)
    assert "'NoSuchThing' is no failure destination" in err[0]
    assert "no running `localfaas up`" in err[1]


def test_redrive_against_a_running_up_from_another_terminal(tmp_path):
    """The whole path: `up` parks a record, the function is fixed, `localfaas redrive` (its own process,
    worker runtime) finds the stack by its endpoints file and sends the record again, once."""
    write_parked_app(tmp_path)
    (tmp_path / "env.json").write_text(json.dumps(environment(tmp_path / "fixed")))
    command = [
        sys.executable,
        "-m",
        "localfaas.cli",
        "up",
        "--runtime",
        "in-process",
        "--env-vars",
        "env.json",
    ]
    up = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        found = wait_for(lambda: up_endpoints(tmp_path), "endpoints file", up)
        produced = localfaas("produce", "to-sqs", "--key", "a", "--value", '{"id": "a"}', cwd=tmp_path)
        assert produced.returncode == 0, produced.stderr
        sqs = backend_client("sqs", found["backend"])
        url = sqs.get_queue_url(QueueName="parked-records")["QueueUrl"]
        wait_for(
            lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages"),
            "a parked record",
            up,
        )

        (tmp_path / "fixed").touch()
        redriven = localfaas("redrive", "--env-vars", "env.json", cwd=tmp_path)
        assert redriven.returncode == 0, redriven.stderr
        assert redriven.stdout == "redriven  ParkedRecords  CountToSqs to-sqs-0@0..0\n"
        items = backend_client("dynamodb", found["backend"]).scan(TableName="localfaas-Effects")["Items"]
        assert [(i["id"]["S"], i["times"]["N"]) for i in items] == [("a", "1")]
        assert "Messages" not in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=WAIT_S)


def up_endpoints(directory: Path) -> dict | None:
    path = directory / ".localfaas" / "endpoints.json"
    return json.loads(path.read_text()) if path.exists() else None


def backend_client(service: str, url: str):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="localfaas",
        aws_secret_access_key="localfaas",
    )
