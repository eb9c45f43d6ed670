"""SQS event source mappings (localfaas.sqs_source) against AWS's documented behaviour ("Using Lambda
with Amazon SQS", https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and the pages it links):
batches, the event's shape, filters on body, retries by the queue's visibility timeout in virtual time,
the queue's redrive to its dead-letter queue, partial batch responses, FIFO groups, the bounds AWS
puts on the mapping, and a scenario through `localfaas run`. Each test writes a small SAM app whose
handler appends what it received to a trace file."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.backend import MotoBackend
from localfaas.cli import main
from localfaas.esm import InvalidEventSourceMappingError
from localfaas.local_stack import LocalStack
from localfaas.redrive import Redriver

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Parked:
    Type: AWS::SQS::Queue
    Properties: {{QueueName: parked{fifo_suffix}, FifoQueue: {fifo}}}
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: work{fifo_suffix}
      FifoQueue: {fifo}
      VisibilityTimeout: 40
      {redrive}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Timeout: 30
      Environment: {{Variables: {{TRACE_FILE: "{trace}"}}}}
      Events:
        FromWork:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
{properties}
"""

REDRIVE = "RedrivePolicy: {deadLetterTargetArn: !GetAtt Parked.Arn, maxReceiveCount: 3}"

# Fails a message whose body says "poison"; with "once" only on its first receive. With PARTIAL set it
# reports failures by messageId instead of raising (ReportBatchItemFailures).
APP = """\
import json, os

PARTIAL = False


def handler(event, context):
    failed = []
    with open(os.environ["TRACE_FILE"], "a") as trace:
        trace.write(json.dumps(event) + "\\n")
    for record in event["Records"]:
        body = record["body"]
        first = record["attributes"]["ApproximateReceiveCount"] == "1"
        fixed = os.path.exists(os.environ["TRACE_FILE"] + ".fixed")
        if "poison" in body and not fixed and (first or "once" not in body):
            failed.append({"itemIdentifier": record["messageId"]})
    if failed and not PARTIAL:
        raise ValueError("a poison message")
    return {"batchItemFailures": failed}
"""


def app(
    tmp_path: Path,
    properties: dict | None = None,
    *,
    redrive: bool = True,
    fifo: bool = False,
    code: str = APP,
) -> Path:
    lines = "\n".join(f"            {key}: {json.dumps(value)}" for key, value in (properties or {}).items())
    template = TEMPLATE.format(
        fifo="true" if fifo else "false",
        fifo_suffix=".fifo" if fifo else "",
        redrive=REDRIVE if redrive else "",
        trace=tmp_path / "trace.jsonl",
        properties=lines,
    )
    return write_app(tmp_path, template, {"src/app.py": code})


def send(stack: LocalStack, bodies: list[str], *, queue: str = "work", **extra) -> list[str]:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    ids = []
    for number, body in enumerate(bodies):
        fifo = (
            {"MessageGroupId": body[0], "MessageDeduplicationId": str(number)}
            if queue.endswith(".fifo")
            else {}
        )
        ids.append(sqs.send_message(QueueUrl=url, MessageBody=body, **fifo, **extra)["MessageId"])
    return ids


def invocations(tmp_path: Path) -> list[list[dict]]:
    trace = tmp_path / "trace.jsonl"
    lines = trace.read_text().splitlines() if trace.exists() else []
    return [json.loads(line)["Records"] for line in lines]


def queue_bodies(stack: LocalStack, queue: str) -> list[str]:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


def test_messages_arrive_in_batches_of_batch_size_in_the_event_aws_sends(tmp_path):
    with LocalStack(app(tmp_path, {"BatchSize": 2})) as stack:
        ids = send(
            stack,
            ['{"n": 1}', '{"n": 2}', "plain text"],
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
        )
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
        left = queue_bodies(stack, "work")
    batches = invocations(tmp_path)
    assert [len(batch) for batch in batches] == [2, 1]
    record = batches[0][0]
    assert record["messageId"] == ids[0]
    assert (record["eventSource"], record["awsRegion"]) == ("aws:sqs", "us-east-1")
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:work"
    assert record["md5OfBody"] == hashlib.md5(b'{"n": 1}').hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "order", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert record["receiptHandle"] and "md5OfMessageAttributes" in record
    assert (row["topic"], row["records"], row["delivered"], row["lost"]) == ("work", 3, 3, 0)
    assert left == []  # every delivered message was deleted


def test_the_event_parses_with_powertools_sqs_model(tmp_path):
    code = """\
import json, os
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import SqsModel


def handler(event, context):
    parsed = parse(event=event, model=SqsModel)
    with open(os.environ["TRACE_FILE"], "a") as trace:
        trace.write(json.dumps({"Records": [{"body": r.body} for r in parsed.Records]}) + "\\n")
"""
    with LocalStack(app(tmp_path, code=code)) as stack:
        send(stack, ["one"])
        assert stack.run_until_idle()
        assert stack.report().data["esm"]["TakeFromWork"]["delivered"] == 1
    assert invocations(tmp_path) == [[{"body": "one"}]]


def test_a_failed_batch_comes_back_after_the_visibility_timeout_then_goes_to_the_dead_letter_queue(tmp_path):
    with LocalStack(app(tmp_path)) as stack:
        began = stack.scheduler.now()
        send(stack, ["poison"])
        assert stack.run_until_idle()
        report = stack.report().data
        parked = queue_bodies(stack, "parked")
        elapsed = stack.scheduler.now() - began
    counts = [
        record["attributes"]["ApproximateReceiveCount"] for batch in invocations(tmp_path) for record in batch
    ]
    assert counts == ["1", "2", "3"]  # maxReceiveCount 3, then SQS moves it
    assert parked == ["poison"]
    assert elapsed >= 3 * 40  # three visibility timeouts, on the virtual clock
    row = report["esm"]["TakeFromWork"]
    assert (row["to_destination"], row["retried"], row["invocations"], row["lost"]) == (1, 2, 3, 0)
    destination = report["parked"]["destinations"]["arn:aws:sqs:us-east-1:123456789012:parked"]
    assert (destination["count"], destination["source"]) == (1, "Work (redrive)")
    assert report["lost"]["total"] == 0


def test_redrive_sends_a_dead_lettered_message_back_to_its_queue_once_the_function_is_fixed(tmp_path):
    with LocalStack(app(tmp_path)) as stack:
        send(stack, ["poison"], MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})
        assert stack.run_until_idle()
        (tmp_path / "trace.jsonl.fixed").touch()
        results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive(source="Work")
        assert stack.run_until_idle()
        report = stack.report().data
    assert [(r.destination, r.what, r.ok) for r in results] == [("Parked", "Work message", True)]
    last = invocations(tmp_path)[-1][0]
    assert (last["body"], last["messageAttributes"]["kind"]["stringValue"]) == ("poison", "order")
    assert last["attributes"]["ApproximateReceiveCount"] == "1"  # a new message in its queue
    assert (report["esm"]["TakeFromWork"]["delivered"], report["parked"]["total"]) == (1, 0)


def test_a_message_that_fails_once_succeeds_on_its_second_receive(tmp_path):
    with LocalStack(app(tmp_path)) as stack:
        send(stack, ["poison once", "fine"])
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
    bodies = [[record["body"] for record in batch] for batch in invocations(tmp_path)]
    assert bodies == [["poison once", "fine"], ["poison once", "fine"]]  # the whole batch came back
    assert (row["delivered"], row["retried"], row["to_destination"]) == (2, 1, 0)


def test_a_partial_batch_response_leaves_only_the_reported_messages_in_the_queue(tmp_path):
    code = APP.replace("PARTIAL = False", "PARTIAL = True")
    properties = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
    with LocalStack(app(tmp_path, properties, code=code)) as stack:
        send(stack, ["a", "poison once", "b"])
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
    bodies = [[record["body"] for record in batch] for batch in invocations(tmp_path)]
    assert bodies == [["a", "poison once", "b"], ["poison once"]]
    assert (row["delivered"], row["retried"], row["invocations"]) == (3, 1, 2)


@pytest.mark.parametrize(
    "response",
    [
        '{"batchItemFailures": [{"itemIdentifier": ""}]}',
        '{"batchItemFailures": [{"itemIdentifier": null}]}',
        '{"batchItemFailures": [{"messageId": "x"}]}',
        '{"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}',
    ],
)
def test_a_malformed_partial_batch_response_fails_the_whole_batch(tmp_path, response):
    code = f"""\
import json

def handler(event, context):
    if event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1":
        return json.loads({response!r})
    return {{"batchItemFailures": []}}
"""
    properties = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
    with LocalStack(app(tmp_path, properties, code=code)) as stack:
        send(stack, ["a", "b"])
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
    assert (row["delivered"], row["retried"], row["invocations"]) == (2, 1, 2)


def test_messages_that_match_no_filter_are_deleted_without_invoking(tmp_path):
    properties = {"FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}}
    with LocalStack(app(tmp_path, properties)) as stack:
        send(stack, ['{"kind": "order", "n": 1}', '{"kind": "refund"}', "kind order"])
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
        left = queue_bodies(stack, "work")
    assert [[record["body"] for record in batch] for batch in invocations(tmp_path)] == [
        ['{"kind": "order", "n": 1}']
    ]
    assert (row["delivered"], row["filtered"], row["records"], row["lost"]) == (1, 2, 3, 0)
    assert left == []


def test_a_fifo_group_waits_for_its_failed_message_while_other_groups_flow(tmp_path):
    with LocalStack(app(tmp_path, {"BatchSize": 1}, fifo=True)) as stack:
        send(stack, ["A1 poison once", "A2", "B1", "B2"], queue="work.fifo")
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
    order = [batch[0]["body"] for batch in invocations(tmp_path)]
    assert order.index("A2") > [i for i, body in enumerate(order) if body.startswith("A1")][-1]
    assert order.index("B1") < order.index("B2")
    assert order[:3] == ["A1 poison once", "B1", "B2"]  # B's messages do not wait for A's retry
    assert batch_attributes(tmp_path, "A2") == {"MessageGroupId": "A", "MessageDeduplicationId": "1"}
    assert (row["delivered"], row["retried"], row["lost"]) == (4, 1, 0)


def batch_attributes(tmp_path: Path, body: str) -> dict[str, str]:
    record = next(r for batch in invocations(tmp_path) for r in batch if r["body"] == body)
    return {k: record["attributes"][k] for k in ("MessageGroupId", "MessageDeduplicationId")}


def test_a_poison_message_without_a_redrive_policy_is_never_settled_and_counts_as_lost(tmp_path):
    with LocalStack(app(tmp_path, {"BatchSize": 1}, redrive=False)) as stack:
        send(stack, ["poison", "fine"])
        assert not stack.run_until_idle()
        report = stack.report().data
    row = report["esm"]["TakeFromWork"]
    assert (row["delivered"], row["unsettled"], row["lost"], row["to_destination"]) == (1, 1, 1, 0)
    assert report["lost"]["total"] == 1
    assert any("never settled" in line for line in report["lost"]["details"])


def test_maximum_concurrency_bounds_the_batches_of_one_poll_and_the_window_waits_for_more(tmp_path):
    with LocalStack(app(tmp_path, {"BatchSize": 1, "ScalingConfig": {"MaximumConcurrency": 2}})) as stack:
        send(stack, ["1", "2", "3", "4", "5"])
        (source,) = stack.sources
        assert source.poll_once().invocations == 2
        assert source.poll_once().invocations == 2
    with LocalStack(
        app(tmp_path / "window", {"BatchSize": 20, "MaximumBatchingWindowInSeconds": 5})
    ) as stack:
        send(stack, ["1", "2", "3"])
        (source,) = stack.sources
        first = source.poll_once()
        assert (first.invocations, first.partitions_waiting) == (0, 1)
        stack.scheduler.advance(5)
        assert source.poll_once().records_delivered == 3


@pytest.mark.parametrize(
    ("properties", "fifo", "message"),
    [
        ({"BatchSize": 11}, False, "must be greater than 0 if maximum batch size is greater than 10"),
        ({"BatchSize": 11, "MaximumBatchingWindowInSeconds": 1}, True, "Batching window is not supported"),
        ({"BatchSize": 11}, True, "less than or equal to 10"),
        ({"BatchSize": 10001, "MaximumBatchingWindowInSeconds": 1}, False, "less than or equal to 10000"),
        (
            {"ScalingConfig": {"MaximumConcurrency": 1}},
            False,
            r"ScalingConfig\.MaximumConcurrency: .* greater than or equal to 2",
        ),
    ],
)
def test_a_mapping_aws_would_refuse_is_refused_with_aws_wording(tmp_path, properties, fifo, message):
    with (
        pytest.raises(InvalidEventSourceMappingError, match=message),
        LocalStack(app(tmp_path, properties, fifo=fifo)),
    ):
        pass


def test_a_visibility_timeout_shorter_than_the_function_timeout_is_refused(tmp_path):
    template = app(tmp_path)
    template.write_text(template.read_text().replace("VisibilityTimeout: 40", "VisibilityTimeout: 20"))
    expected = "Queue visibility timeout: 20 seconds is less than Function timeout: 30 seconds"
    with pytest.raises(InvalidEventSourceMappingError, match=expected), LocalStack(template):
        pass


def test_localfaas_run_sends_a_scenario_s_messages_and_reports_the_mapping(tmp_path):
    app(tmp_path, {"BatchSize": 1})
    scenario = {
        "template": "template.yaml",
        "messages": [
            {"queue": "Work", "value": {"order": 1}, "attributes": {"kind": "order"}},
            {"queue": "work", "body": "poison"},
        ],
        "checks": [
            {"name": "delivered", "metric": "esm.delivered[TakeFromWork]", "equals": 1},
            {"name": "to the DLQ", "metric": "esm.to_destination[TakeFromWork]", "equals": 1},
            {"name": "parked", "metric": "parked.total", "equals": 1},
        ],
    }
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    report_path = tmp_path / "report.json"
    assert main(["run", "--scenario", str(tmp_path / "scenario.json"), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert all(check["ok"] for check in report["checks"])
    first = invocations(tmp_path)[0][0]
    assert (first["body"], first["messageAttributes"]["kind"]["stringValue"]) == ('{"order":1}', "order")


def test_in_real_time_the_backend_s_visibility_timeout_brings_a_failed_message_back(tmp_path):
    template = app(tmp_path, {"BatchSize": 1})
    text = template.read_text().replace("VisibilityTimeout: 40", "VisibilityTimeout: 1")
    template.write_text(
        text.replace("Timeout: 30", "Timeout: 1").replace("maxReceiveCount: 3", "maxReceiveCount: 2")
    )
    stop = threading.Event()
    with LocalStack(template, real_time=True) as stack:
        send(stack, ["poison", "fine"])
        sqs = stack.client("sqs")
        parked = sqs.get_queue_url(QueueName="parked")["QueueUrl"]
        poller = threading.Thread(target=stack.serve_forever, args=(stop,), daemon=True)
        poller.start()
        deadline = time.monotonic() + 30  # a bound on the wait, not an assertion about speed
        while time.monotonic() < deadline and not _queue_count(sqs, parked):
            time.sleep(0.1)
        stop.set()
        poller.join()
        in_dlq = _queue_count(sqs, parked)
        row = stack.report(stopped=True).data["esm"]["TakeFromWork"]
    received = [
        (r["body"], r["attributes"]["ApproximateReceiveCount"]) for b in invocations(tmp_path) for r in b
    ]
    assert received == [("poison", "1"), ("fine", "1"), ("poison", "2")]
    assert in_dlq == 1
    assert (row["delivered"], row["to_destination"], row["retried"], row["lost"]) == (1, 1, 1, 0)


def _queue_count(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_redrive_keeps_a_fifo_message_in_its_group(tmp_path):
    with LocalStack(app(tmp_path, fifo=True)) as stack:
        send(stack, ["Apoison", "Apoison"], queue="work.fifo")  # two messages, one body, one group
        assert stack.run_until_idle()
        (tmp_path / "trace.jsonl.fixed").touch()
        results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive()
        assert stack.run_until_idle()
        report = stack.report().data
    assert [r.ok for r in results] == [True, True]
    redelivered = [
        r
        for batch in invocations(tmp_path)
        for r in batch
        if r["attributes"]["ApproximateReceiveCount"] == "1"
    ]
    assert [r["attributes"]["MessageGroupId"] for r in redelivered[-2:]] == ["A", "A"]
    assert (report["esm"]["TakeFromWork"]["delivered"], report["esm"]["TakeFromWork"]["to_destination"]) == (
        2,
        2,
    )


def test_what_a_killed_run_held_in_flight_comes_back_at_once_in_virtual_time(tmp_path):
    template = app(tmp_path, {"BatchSize": 1})
    backend = MotoBackend(reset=True).start()
    try:
        with LocalStack(template, backend=backend, state_dir=tmp_path / "state") as stack:
            send(stack, ["poison once", "fine"])
            (source,) = stack.sources
            stack._poll_source(source)  # one round, its counts saved: "poison once" fails, "fine" succeeds
            assert stack.report(stopped=True).data["esm"]["TakeFromWork"]["unsettled"] == 1
        with LocalStack(template, backend=backend, state_dir=tmp_path / "state") as stack:
            assert stack.run_until_idle()  # without waiting out the 40 s visibility timeout
            row = stack.report().data["esm"]["TakeFromWork"]
    finally:
        backend.stop()
    received = [
        (r["body"], r["attributes"]["ApproximateReceiveCount"]) for b in invocations(tmp_path) for r in b
    ]
    assert received == [("poison once", "1"), ("fine", "1"), ("poison once", "2")]
    assert (row["delivered"], row["invocations"], row["lost"]) == (2, 3, 0)


def test_a_batch_stops_at_lambda_s_6_mb_payload_and_the_rest_follows(tmp_path):
    with LocalStack(app(tmp_path, {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 1})) as stack:
        send(stack, [f"{n:02d}" + "x" * 200_000 for n in range(40)])
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
    batches = invocations(tmp_path)
    assert [len(batch) for batch in batches] == [31, 9]  # 31 records of ~200 KB fit in 6 MB, 32 do not
    assert all(len(json.dumps({"Records": batch})) <= 6 * 1024 * 1024 for batch in batches)
    assert [r["body"][:2] for batch in batches for r in batch] == [f"{n:02d}" for n in range(40)]
    assert (row["delivered"], row["invocations"]) == (40, 2)


def test_a_fifo_group_behind_a_message_that_never_settles_is_reported_never_settled(tmp_path):
    with LocalStack(app(tmp_path, {"BatchSize": 1}, redrive=False, fifo=True)) as stack:
        send(stack, ["Apoison", "A2", "A3", "B1"], queue="work.fifo")
        assert not stack.run_until_idle()
        report = stack.report().data
    row = report["esm"]["TakeFromWork"]
    assert [batch[0]["body"] for batch in invocations(tmp_path)][:2] == ["Apoison", "B1"]
    assert "A2" not in [batch[0]["body"] for batch in invocations(tmp_path)]  # never overtakes Apoison
    assert (row["delivered"], row["unsettled"], row["lost"]) == (1, 3, 3)


def test_a_disabled_mapping_leaves_its_queue_alone(tmp_path):
    with LocalStack(app(tmp_path, {"Enabled": False})) as stack:
        send(stack, ["one"])
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
        left = queue_bodies(stack, "work")
    assert invocations(tmp_path) == []
    assert (row["records"], row["lost"], left) == (0, 0, ["one"])


def test_a_pattern_on_message_attributes_matches_them_as_the_event_carries_them(tmp_path):
    pattern = {"messageAttributes": {"kind": {"stringValue": ["order"]}}}
    with LocalStack(
        app(tmp_path, {"FilterCriteria": {"Filters": [{"Pattern": json.dumps(pattern)}]}})
    ) as stack:
        for kind in ("order", "refund"):
            send(stack, [kind], MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}})
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
    assert [r["body"] for batch in invocations(tmp_path) for r in batch] == ["order"]
    assert (row["delivered"], row["filtered"]) == (1, 1)


def test_powertools_batch_processor_s_response_retries_only_its_failed_records(tmp_path):
    code = """\
import json, os
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record):
    with open(os.environ["TRACE_FILE"], "a") as trace:
        trace.write(json.dumps({"Records": [{"body": record.body, "count": record.attributes.approximate_receive_count}]}) + "\\n")
    if record.body == "poison" and record.attributes.approximate_receive_count == "1":
        raise ValueError("a poison message")


def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
"""
    properties = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
    with LocalStack(app(tmp_path, properties, code=code)) as stack:
        send(stack, ["a", "poison", "b"])
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromWork"]
    handled = [(r["body"], r["count"]) for batch in invocations(tmp_path) for r in batch]
    assert handled == [("a", "1"), ("poison", "1"), ("b", "1"), ("poison", "2")]
    assert (row["delivered"], row["retried"], row["invocations"], row["lost"]) == (3, 1, 2, 0)
