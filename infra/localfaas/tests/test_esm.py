"""The Kafka event source mapping behaves as AWS documents for Amazon MSK and self-managed Kafka."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto import mock_aws

from localfaas.destinations import Destinations, boto3_clients
from localfaas.embedded_log import EmbeddedLog
from localfaas.esm import (
    MAX_PAYLOAD_BYTES,
    EventSourceMappingConfig,
    InvalidEventSourceMappingError,
    KafkaEventSourceMapping,
)
from localfaas.runtime import InvocationResult
from localfaas.template import load_stack

CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc-1"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:dlq"
DLQ = {"OnFailure": {"Destination": DLQ_ARN}}
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Function:
    """A fake Lambda function: `behaviour(event)` returns the payload or raises to fail."""

    def __init__(self, behaviour=None) -> None:
        self.behaviour = behaviour or (lambda event: None)
        self.events: list[dict] = []

    def __call__(self, function_name: str, event: dict) -> InvocationResult:
        self.events.append(event)
        request_id = f"req-{len(self.events)}"
        try:
            payload = self.behaviour(event)
        except Exception as exc:
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return InvocationResult(function_name, request_id, error=error)
        return InvocationResult(function_name, request_id, payload=payload)

    def batches(self) -> list[list[tuple[int, int]]]:
        """(partition, offset) of each invocation's records."""
        return [
            [(r["partition"], r["offset"]) for rs in e["records"].values() for r in rs] for e in self.events
        ]

    def offsets(self, partition: int = 0) -> list[int]:
        return [o for batch in self.batches() for p, o in batch if p == partition]


class RecordingDestinations:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, dict]] = []

    def send(self, destination, record, *, key=None, object_key=None):
        self.sent.append((destination, record, {"key": key, "object_key": object_key}))

    def documents(self) -> list[dict]:
        return [doc for _, doc, _ in self.sent]


def values(event: dict) -> list[bytes]:
    return [base64.b64decode(r["value"]) for rs in event["records"].values() for r in rs]


def fails_on(*poison: bytes):
    def behaviour(event):
        if any(v in poison for v in values(event)):
            raise ValueError("poison record")

    return behaviour


def config(**props) -> EventSourceMappingConfig:
    properties = {
        "EventSourceArn": CLUSTER,
        "Topics": ["orders"],
        "StartingPosition": "TRIM_HORIZON",
        **props,
    }
    return EventSourceMappingConfig.from_resource("OrdersMapping", properties, function_name="orders-fn")


@pytest.fixture
def log(tmp_path):
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("orders", 1)
        yield log


@pytest.fixture
def clock():
    return Clock()


def produce(log, *items: bytes, partition: int = 0, at: float = T0) -> None:
    for item in items:
        log.produce("orders", item, partition=partition, timestamp_ms=int(at * 1000))


def mapping(log, function, clock, destinations=None, **props) -> KafkaEventSourceMapping:
    return KafkaEventSourceMapping(config(**props), log, function, destinations, clock=clock)


def committed(log, esm, partition: int = 0) -> int | None:
    return log.committed(esm.config.consumer_group_id, "orders", partition)


# -- configuration ------------------------------------------------------------------------------


def test_defaults_follow_aws_for_kafka():
    c = config()

    assert (c.source, c.batch_size, c.batching_window_s) == ("msk", 100, 0.5)
    assert c.retry_limit is None  # -1: retry forever
    assert c.maximum_record_age_s == -1
    assert c.consumer_group_id == c.uuid
    assert c.enabled


def test_uuid_and_default_group_are_stable_across_loads():
    assert config().uuid == config().uuid
    assert (
        config().uuid
        != EventSourceMappingConfig.from_resource(
            "Other",
            {"EventSourceArn": CLUSTER, "Topics": ["orders"], "StartingPosition": "LATEST"},
            function_name="f",
        ).uuid
    )


def test_self_managed_mapping_reads_brokers_and_consumer_group():
    c = EventSourceMappingConfig.from_resource(
        "SelfManaged",
        {
            "SelfManagedEventSource": {"Endpoints": {"KafkaBootstrapServers": ["b1:9092", "b2:9092"]}},
            "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "billing"},
            "Topics": ["orders"],
            "StartingPosition": "LATEST",
        },
        function_name="f",
    )

    assert (c.source, c.bootstrap_servers, c.consumer_group_id) == (
        "self-managed",
        ("b1:9092", "b2:9092"),
        "billing",
    )
    assert c.event_source_arn is None


def test_cloudformation_strings_are_read_as_numbers_and_booleans():
    c = config(BatchSize="10", Enabled="false", BisectBatchOnFunctionError="true")

    assert (c.batch_size, c.enabled, c.bisect_batch_on_function_error) == (10, False, True)


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"BatchSize": 10_001}, "BatchSize"),
        ({"BatchSize": 0}, "BatchSize"),
        ({"MaximumBatchingWindowInSeconds": 301}, "MaximumBatchingWindowInSeconds"),
        ({"MaximumRetryAttempts": 10_001}, "MaximumRetryAttempts"),
        ({"MaximumRecordAgeInSeconds": 59}, "MaximumRecordAgeInSeconds"),
        ({"MaximumRecordAgeInSeconds": 604_801}, "MaximumRecordAgeInSeconds"),
        ({"StartingPosition": "EARLIEST"}, "StartingPosition"),
        ({"StartingPosition": "AT_TIMESTAMP"}, "StartingPositionTimestamp"),
        ({"Topics": ["a", "b"]}, "Topics"),
        ({"FunctionResponseTypes": ["Everything"]}, "FunctionResponseTypes"),
        ({"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}}, "FilterCriteria.Filters[0].Pattern"),
        ({"AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "a b"}}, "ConsumerGroupId"),
        ({"DestinationConfig": {"OnFailure": {"Destination": "kafka://orders"}}}, "Destination"),
        (
            {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:1:function:f"}}},
            "Destination",
        ),
        ({"EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:q"}, "EventSourceArn"),
    ],
)
def test_invalid_property_is_rejected_naming_mapping_and_property(props, prop):
    with pytest.raises(InvalidEventSourceMappingError) as raised:
        config(**props)

    assert "'OrdersMapping'" in str(raised.value)
    assert prop in raised.value.property


def test_infinite_retries_with_an_on_failure_destination_are_capped_at_ten():

    assert config(DestinationConfig=DLQ).retry_limit == 10
    assert config(DestinationConfig=DLQ, MaximumRetryAttempts=3).retry_limit == 3


SAM_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Dlq:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: src/
      Events:
        Orders:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc-1
            Topics: [orders]
            StartingPosition: TRIM_HORIZON
            ConsumerGroupId: orders-fn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"value": {"kind": ["keep"]}}'
            DestinationConfig:
              OnFailure:
                Type: SQS
                Destination: !GetAtt Dlq.Arn
        Payments:
          Type: SelfManagedKafka
          Properties:
            KafkaBootstrapServers: ["b1:9092"]
            Topics: [payments]
            StartingPosition: LATEST
            SourceAccessConfigurations:
              - Type: BASIC_AUTH
                URI: arn:aws:secretsmanager:us-east-1:123456789012:secret:kafka
"""


def test_mappings_expanded_from_a_sam_template_load(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return None\n")
    (tmp_path / "template.yaml").write_text(SAM_TEMPLATE)
    stack = load_stack(tmp_path / "template.yaml")

    loaded = {
        r.logical_id: EventSourceMappingConfig.from_resource(
            r.logical_id,
            r.properties,
            function_name=stack.function("Fn").function_name,
            function_arn=stack.function("Fn").arn,
        )
        for r in stack.event_source_mappings
    }

    orders, payments = loaded["FnOrders"], loaded["FnPayments"]
    assert (orders.source, orders.consumer_group_id, orders.batch_size) == ("msk", "orders-fn", 10)
    assert orders.on_failure_destination == "arn:aws:sqs:us-east-1:123456789012:localfaas-Dlq"
    assert orders.report_batch_item_failures and orders.retry_limit == 10
    assert (payments.source, payments.bootstrap_servers, payments.starting_position) == (
        "self-managed",
        ("b1:9092",),
        "LATEST",
    )


# -- batching -----------------------------------------------------------------------------------


def test_a_batch_holds_at_most_batch_size_records(log, clock):
    produce(log, *[b"%d" % i for i in range(25)])
    function = Function()

    mapping(log, function, clock, BatchSize=10).run_until_caught_up()

    assert [len(b) for b in function.batches()] == [10, 10, 5]


def test_a_batch_stays_under_the_6_mb_payload_limit(log, clock):
    produce(log, *[bytes([65 + i]) * 1_000_000 for i in range(10)])  # 1 MB each, 1.33 MB in base64
    function = Function()

    report = mapping(log, function, clock).run_until_caught_up()

    assert [len(b) for b in function.batches()] == [4, 4, 2]
    assert all(len(json.dumps(e).encode()) <= MAX_PAYLOAD_BYTES for e in function.events)
    assert report.records_delivered == 10


def test_a_record_too_big_to_invoke_goes_to_the_destination_uninvoked(log, clock):
    produce(log, b"small", b"x" * (5 * 1024 * 1024), b"after")
    function, destinations = Function(), RecordingDestinations()

    report = mapping(log, function, clock, destinations, DestinationConfig=DLQ).run_until_caught_up()

    assert function.offsets() == [0, 2]
    [document] = destinations.documents()
    assert document["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
    assert document["responseContext"] is None
    assert report.records_oversized == 1


def test_a_partial_batch_waits_for_the_batching_window(log, clock):
    esm = mapping(log, function := Function(), clock, MaximumBatchingWindowInSeconds=2)
    produce(log, b"a", b"b", b"c")

    first = esm.poll_once()
    clock.now += 1.9
    produce(log, b"d")
    second = esm.poll_once()
    clock.now += 0.1
    third = esm.poll_once()

    assert (first.invocations, first.partitions_waiting, second.invocations) == (0, 1, 0)
    assert third.invocations == 1
    assert function.offsets() == [0, 1, 2, 3]


def test_the_default_kafka_window_is_half_a_second(log, clock):
    esm = mapping(log, function := Function(), clock)
    produce(log, b"a")

    esm.poll_once()
    clock.now += 0.49
    esm.poll_once()
    waited = len(function.events)
    clock.now += 0.01
    esm.poll_once()

    assert (waited, len(function.events)) == (0, 1)


def test_a_full_batch_does_not_wait_for_the_window(log, clock):
    produce(log, b"a", b"b")
    esm = mapping(log, function := Function(), clock, BatchSize=2, MaximumBatchingWindowInSeconds=300)

    esm.poll_once()

    assert function.offsets() == [0, 1]


# -- order and partitions -------------------------------------------------------------------------


def test_records_are_keyed_by_topic_partition_and_keep_offset_order(tmp_path, clock):
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("orders", 3)
        for i in range(30):
            log.produce("orders", b"%d" % i, key=b"customer-%d" % (i % 7))
        function = Function()

        mapping(log, function, clock, BatchSize=4).run_until_caught_up()

    for event in function.events:
        [(key, records)] = event["records"].items()  # one partition per batch
        assert {f"orders-{r['partition']}" for r in records} == {key}
    for partition in range(3):
        offsets = function.offsets(partition)
        assert offsets == sorted(offsets) == list(range(len(offsets)))
    assert sum(len(b) for b in function.batches()) == 30


def test_a_failing_partition_does_not_block_another(tmp_path, clock):
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("orders", 2)
        produce(log, b"poison", b"p0-next", partition=0)
        produce(log, b"p1-a", b"p1-b", partition=1)
        function = Function(fails_on(b"poison"))
        esm = mapping(log, function, clock, BatchSize=1)

        for _ in range(5):
            esm.poll_once(flush=True)

        assert function.offsets(1) == [0, 1]
        assert esm.lag() == {"orders-0": 2, "orders-1": 0}


# -- filtering ------------------------------------------------------------------------------------


def test_records_not_matching_the_filter_are_skipped_and_committed(log, clock):
    produce(log, *[json.dumps({"kind": k}).encode() for k in ["keep", "drop", "keep", "drop"]], b"not json")
    pattern = json.dumps({"value": {"kind": ["keep"]}})
    function = Function()
    esm = mapping(log, function, clock, FilterCriteria={"Filters": [{"Pattern": pattern}]})

    report = esm.run_until_caught_up()

    assert function.offsets() == [0, 2]
    assert (report.records_filtered, report.records_delivered) == (3, 2)
    assert committed(log, esm) == 5


def test_a_batch_filtered_out_entirely_is_committed_without_invoking(log, clock):
    produce(log, b'{"kind": "drop"}', b'{"kind": "drop"}')
    pattern = json.dumps({"value": {"kind": ["keep"]}})
    esm = mapping(log, function := Function(), clock, FilterCriteria={"Filters": [{"Pattern": pattern}]})

    esm.poll_once()

    assert function.events == []
    assert committed(log, esm) == 2


# -- commits --------------------------------------------------------------------------------------


def test_offsets_are_committed_only_after_the_batch_succeeds(log, clock):
    produce(log, b"a", b"b")
    attempts = []

    def fail_once(event):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")

    esm = mapping(log, Function(fail_once), clock)

    esm.poll_once(flush=True)
    after_failure = committed(log, esm)
    esm.poll_once(flush=True)

    assert (after_failure, committed(log, esm)) == (0, 2)


def test_a_crash_mid_batch_redelivers_the_batch(log, clock):
    produce(log, b"a", b"b", b"c")

    def crash(event):
        raise SystemExit("the poller's process dies mid-invocation")

    def crashing_invoke(name, event):
        crash(event)

    with pytest.raises(SystemExit):
        mapping(log, crashing_invoke, clock).poll_once(flush=True)
    function = Function()
    mapping(log, function, clock).run_until_caught_up()

    assert function.offsets() == [0, 1, 2]


# -- errors ---------------------------------------------------------------------------------------


def test_retries_are_exhausted_then_the_batch_goes_to_the_destination(log, clock):
    produce(log, b"a", b"b", at=T0 - 5)
    function, destinations = Function(fails_on(b"a")), RecordingDestinations()
    esm = mapping(
        log,
        function,
        clock,
        destinations,
        MaximumRetryAttempts=2,
        DestinationConfig=DLQ,
    )

    report = esm.run_until_caught_up()

    assert (report.invocations, report.retries, report.records_to_destination) == (3, 2, 2)
    [(destination, document, _)] = destinations.sent
    assert destination == DLQ_ARN
    assert document["requestContext"] == {
        "requestId": "req-3",
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders-fn",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 3,
    }
    assert document["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert document["version"] == "1.0"
    assert document["timestamp"] == "2023-11-14T22:13:20.000Z"
    info = document["KafkaBatchInfo"]
    assert (info["batchSize"], info["eventSourceArn"]) == (2, CLUSTER)
    assert info["payloadSize"] == len(json.dumps(function.events[0]).encode())
    assert info["recordsInfo"] == {
        "orders-0": {
            "firstRecordOffset": "0",
            "lastRecordOffset": "1",
            "firstRecordTimestamp": "2023-11-14T22:13:15.000Z",
            "lastRecordTimestamp": "2023-11-14T22:13:15.000Z",
        }
    }
    assert "payload" not in document  # only S3 and Kafka destinations carry the records
    assert committed(log, esm) == 2


def test_without_a_destination_exhausted_records_are_discarded_and_the_partition_moves_on(log, clock):
    produce(log, b"poison", b"next")
    function = Function(fails_on(b"poison"))

    report = mapping(log, function, clock, BatchSize=1, MaximumRetryAttempts=0).run_until_caught_up()

    assert function.offsets() == [0, 1]
    assert (report.records_discarded, report.records_delivered) == (1, 1)


def test_infinite_retries_without_a_destination_block_the_partition(log, clock):
    produce(log, b"poison")
    esm = mapping(log, function := Function(fails_on(b"poison")), clock)

    report = esm.run_until_caught_up(max_rounds=5)

    assert report.invocations == len(function.events) == 5
    assert not esm.caught_up()
    assert committed(log, esm) == 0


def test_bisect_isolates_the_poison_record(log, clock):
    produce(log, *[b"r%d" % i for i in range(8)])
    function, destinations = Function(fails_on(b"r5")), RecordingDestinations()
    esm = mapping(
        log,
        function,
        clock,
        destinations,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=0,
        DestinationConfig=DLQ,
    )

    report = esm.run_until_caught_up()

    [document] = destinations.documents()
    assert document["KafkaBatchInfo"]["recordsInfo"]["orders-0"]["firstRecordOffset"] == "5"
    assert document["KafkaBatchInfo"]["batchSize"] == 1
    delivered = [b for b in function.batches() if (0, 5) not in b]
    assert [o for b in delivered for _, o in b] == [0, 1, 2, 3, 4, 6, 7]
    assert report.batches_bisected == 3  # 8 -> 4+4, 4 -> 2+2, 2 -> 1+1
    assert report.records_delivered == 7


def test_a_poison_record_goes_to_the_destination_and_the_rest_flows_on_in_order(log, clock):
    produce(log, b"a", b"b", b"poison", b"c", b"d")
    function, destinations = Function(fails_on(b"poison")), RecordingDestinations()
    esm = mapping(
        log, function, clock, destinations, BatchSize=1, MaximumRetryAttempts=1, DestinationConfig=DLQ
    )

    esm.run_until_caught_up()

    succeeded = [o for b in function.batches() for _, o in b if o != 2]
    assert succeeded == [0, 1, 3, 4]
    assert [
        d["KafkaBatchInfo"]["recordsInfo"]["orders-0"]["firstRecordOffset"] for d in destinations.documents()
    ] == ["2"]


def item_failure(partition: str, offset) -> dict:
    return {"itemIdentifier": {"partition": partition, "offset": offset}}


REPORTING = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}


def reporting_mapping(log, clock, *responses, **props) -> tuple[KafkaEventSourceMapping, Function]:
    """A mapping with ReportBatchItemFailures whose function answers `responses` in turn."""
    answers = list(responses)
    function = Function(lambda event: answers.pop(0))
    return mapping(log, function, clock, **REPORTING, **props), function


def reports(*poison: bytes):
    """A function that reports its poison records as failed items, as Powertools' BatchProcessor does."""

    def behaviour(event):
        return {
            "batchItemFailures": [
                item_failure(key, record["offset"])
                for key, records in event["records"].items()
                for record in records
                if base64.b64decode(record["value"]) in poison
            ]
        }

    return behaviour


def first_and_last(document: dict) -> tuple[str, str]:
    [info] = document["KafkaBatchInfo"]["recordsInfo"].values()
    return info["firstRecordOffset"], info["lastRecordOffset"]


def test_partial_failure_retries_only_the_reported_records(log, clock):
    produce(log, *[b"r%d" % i for i in range(6)])
    failures = {"batchItemFailures": [item_failure("orders-0", 4), item_failure("orders-0", 2)]}
    esm, function = reporting_mapping(log, clock, failures, None)

    first = esm.poll_once(flush=True)
    after_first = committed(log, esm)
    second = esm.poll_once(flush=True)

    assert function.batches()[1] == [(0, 2), (0, 4)]
    assert (first.records_delivered, after_first) == (4, 2)  # never past a reported record
    assert (second.retries, second.records_delivered) == (1, 2)
    assert committed(log, esm) == 6


def test_only_reported_records_reach_the_destination(log, clock):
    produce(log, b"r0", b"r1", b"bad-2", b"r3", b"bad-4", b"r5")
    function, destinations = Function(reports(b"bad-2", b"bad-4")), RecordingDestinations()
    esm = mapping(
        log, function, clock, destinations, MaximumRetryAttempts=1, DestinationConfig=DLQ, **REPORTING
    )

    report = esm.run_until_caught_up()

    assert function.batches() == [[(0, o) for o in range(6)], [(0, 2), (0, 4)]]  # one retry
    [document] = destinations.documents()
    assert document["KafkaBatchInfo"]["batchSize"] == 2
    assert first_and_last(document) == ("2", "4")
    assert document["requestContext"]["approximateInvokeCount"] == 2
    assert (report.records_delivered, report.records_to_destination) == (4, 2)
    assert committed(log, esm) == 6


def test_an_s3_destination_payload_holds_only_the_reported_records(log, clock):
    produce(log, b"r0", b"bad-1", b"r2")
    destinations = RecordingDestinations()
    s3 = {"OnFailure": {"Destination": "arn:aws:s3:::failed"}}
    esm = mapping(
        log,
        Function(reports(b"bad-1")),
        clock,
        destinations,
        MaximumRetryAttempts=0,
        DestinationConfig=s3,
        **REPORTING,
    )

    esm.run_until_caught_up()

    [document] = destinations.documents()
    assert values(json.loads(document["payload"])) == [b"bad-1"]


def test_later_records_of_a_partition_wait_while_its_reported_records_are_retried(log, clock):
    produce(log, b"a", b"b", b"c", b"d")
    failures = {"batchItemFailures": [item_failure("orders-0", 0)]}
    esm, function = reporting_mapping(log, clock, failures, None, None, BatchSize=2)

    esm.run_until_caught_up()

    assert function.batches() == [[(0, 0), (0, 1)], [(0, 0)], [(0, 2), (0, 3)]]


def test_reported_record_is_not_lost_when_the_poller_crashes_mid_retry(log, clock):
    produce(log, *[b"r%d" % i for i in range(6)])
    failures = {"batchItemFailures": [item_failure("orders-0", 2), item_failure("orders-0", 4)]}
    calls = []

    def dies_on_retry(name, event):
        calls.append(event)
        if len(calls) == 1:
            return InvocationResult(name, "req-1", payload=failures)
        raise SystemExit("the poller's process dies while retrying the reported records")

    esm = mapping(log, dies_on_retry, clock, **REPORTING)
    esm.poll_once(flush=True)
    with pytest.raises(SystemExit):
        esm.poll_once(flush=True)
    after_crash = committed(log, esm)
    function = Function()
    mapping(log, function, clock, **REPORTING).run_until_caught_up()

    assert after_crash == 2
    assert function.offsets() == [2, 3, 4, 5]  # the reported ones again, and (at least once) those between


def test_a_retry_of_reported_records_that_raises_is_bisected(log, clock):
    produce(log, *[b"r%d" % i for i in range(6)])
    first_answer = reports(b"r1", b"r3", b"r4")

    def behaviour(event):
        if len(values(event)) == 6:
            return first_answer(event)
        if b"r3" in values(event):
            raise ValueError("poison record")

    function, destinations = Function(behaviour), RecordingDestinations()
    esm = mapping(
        log,
        function,
        clock,
        destinations,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        DestinationConfig=DLQ,
        **REPORTING,
    )

    report = esm.run_until_caught_up()

    assert function.batches()[1:4] == [[(0, 1), (0, 3), (0, 4)], [(0, 1)], [(0, 3), (0, 4)]]
    [document] = destinations.documents()
    assert first_and_last(document) == ("3", "3")
    assert report.batches_bisected == 2  # [1, 3, 4] -> [1] + [3, 4] -> [3] + [4]
    assert (report.records_delivered, report.records_to_destination) == (5, 1)


def test_reported_records_that_age_out_go_to_the_destination_uninvoked(log, clock):
    produce(log, b"r0", b"bad-1", at=T0 - 30)
    function, destinations = Function(reports(b"bad-1")), RecordingDestinations()
    esm = mapping(
        log, function, clock, destinations, MaximumRecordAgeInSeconds=60, DestinationConfig=DLQ, **REPORTING
    )

    esm.poll_once(flush=True)
    clock.now += 31
    esm.poll_once(flush=True)

    assert len(function.events) == 1
    [document] = destinations.documents()
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"
    assert first_and_last(document) == ("1", "1")
    assert esm.caught_up()


def test_a_function_error_with_reporting_on_retries_the_whole_batch(log, clock):
    produce(log, b"a", b"b", b"c")
    attempts = []

    def fail_once(event):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("timeout")
        return {"batchItemFailures": []}

    esm = mapping(log, function := Function(fail_once), clock, **REPORTING)

    esm.run_until_caught_up()

    assert function.batches() == [[(0, 0), (0, 1), (0, 2)]] * 2


@pytest.mark.parametrize(
    "failure",
    [
        item_failure("orders-1", 1),  # a partition not in the batch
        item_failure("other-0", 1),  # a topic not in the batch
        item_failure("orders-0", 99),  # an offset not in the batch
        item_failure("orders-0", "1"),
        item_failure("orders-0", True),
        {"itemIdentifier": {"partition": "orders-0"}},
        {"itemIdentifier": {"partiton": "orders-0", "offset": 1}},  # a bad key name
        {"itemIdentifier": ""},
        {"itemIdentifier": None},
        {},
        "orders-0-1",
    ],
)
def test_invalid_item_identifier_fails_the_whole_batch(log, clock, failure):
    produce(log, b"a", b"b", b"c")
    response = {"batchItemFailures": [item_failure("orders-0", 0), failure]}
    esm, function = reporting_mapping(log, clock, response, None)

    first = esm.poll_once(flush=True)
    esm.poll_once(flush=True)

    assert first.records_delivered == 0
    assert function.batches()[1] == [(0, 0), (0, 1), (0, 2)]


def test_an_invalid_item_identifier_is_bisected_like_a_function_error(log, clock):
    produce(log, b"a", b"b")
    response = {"batchItemFailures": [item_failure("orders-0", 99)]}
    esm, function = reporting_mapping(log, clock, response, None, None, BisectBatchOnFunctionError=True)

    report = esm.run_until_caught_up()

    assert function.batches() == [[(0, 0), (0, 1)], [(0, 0)], [(0, 1)]]
    assert report.batches_bisected == 1


def test_batch_item_failures_are_ignored_unless_reporting_is_on(log, clock):
    produce(log, b"a", b"b")
    esm = mapping(log, Function(lambda e: {"batchItemFailures": [item_failure("orders-0", 0)]}), clock)

    report = esm.poll_once(flush=True)

    assert report.records_delivered == 2
    assert committed(log, esm) == 2


@pytest.mark.parametrize("response", [{"batchItemFailures": []}, {"batchItemFailures": None}, {}, None])
def test_an_empty_or_null_response_is_complete_success(log, clock, response):
    produce(log, b"a")
    esm, _ = reporting_mapping(log, clock, response)

    assert esm.poll_once(flush=True).records_delivered == 1


def test_records_older_than_the_maximum_age_go_to_the_destination_uninvoked(log, clock):
    produce(log, b"old", at=T0 - 120)
    produce(log, b"fresh", at=T0 - 10)
    function, destinations = Function(), RecordingDestinations()
    esm = mapping(log, function, clock, destinations, MaximumRecordAgeInSeconds=60, DestinationConfig=DLQ)

    report = esm.run_until_caught_up()

    assert function.offsets() == [1]
    [document] = destinations.documents()
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"
    assert document["requestContext"]["approximateInvokeCount"] == 0
    assert document["responseContext"] is None
    assert (report.records_expired, report.records_to_destination, report.records_delivered) == (1, 1, 1)


def test_records_that_age_out_while_retried_stop_being_retried(log, clock):
    produce(log, b"poison")
    function, destinations = Function(fails_on(b"poison")), RecordingDestinations()
    esm = mapping(log, function, clock, destinations, MaximumRecordAgeInSeconds=60, DestinationConfig=DLQ)

    for _ in range(3):
        esm.poll_once(flush=True)
        clock.now += 40

    assert len(function.events) == 2
    [document] = destinations.documents()
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"
    assert document["responseContext"]["functionError"] == "Unhandled"
    assert esm.caught_up()


# -- starting positions ---------------------------------------------------------------------------


def test_trim_horizon_starts_at_the_oldest_record(log, clock):
    produce(log, b"before")
    esm = mapping(log, function := Function(), clock, StartingPosition="TRIM_HORIZON")
    produce(log, b"after")

    esm.run_until_caught_up()

    assert function.offsets() == [0, 1]


def test_latest_starts_after_the_newest_record(log, clock):
    produce(log, b"before")
    esm = mapping(log, function := Function(), clock, StartingPosition="LATEST")
    produce(log, b"after")

    esm.run_until_caught_up()

    assert function.offsets() == [1]


def test_at_timestamp_starts_at_the_first_record_at_or_after_it(log, clock):
    produce(log, b"old", at=T0 - 100)
    produce(log, b"new", at=T0 - 50)
    esm = mapping(
        log, function := Function(), clock, StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=T0 - 60
    )

    esm.run_until_caught_up()

    assert function.offsets() == [1]


def test_a_committed_offset_wins_over_the_starting_position(log, clock):
    produce(log, b"a", b"b", b"c")
    log.commit("billing", "orders", 0, 1)
    group = {"AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "billing"}}

    mapping(log, function := Function(), clock, StartingPosition="LATEST", **group).run_until_caught_up()

    assert function.offsets() == [1, 2]


def test_a_restarted_mapping_resumes_from_its_commit(log, clock):
    produce(log, b"a", b"b")
    mapping(log, Function(), clock, StartingPosition="LATEST").run_until_caught_up()
    produce(log, b"c")

    mapping(log, function := Function(), clock, StartingPosition="LATEST").run_until_caught_up()

    assert function.offsets() == [2]


def test_a_disabled_mapping_does_not_poll(log, clock):
    produce(log, b"a")
    esm = mapping(log, function := Function(), clock, Enabled=False)

    esm.run_until_caught_up(max_rounds=3)

    assert function.events == []


# -- the whole story ------------------------------------------------------------------------------


def test_every_record_is_delivered_filtered_or_sent_to_the_destination(tmp_path, clock):
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("orders", 3)
        for i in range(200):
            kind = "poison" if i % 17 == 0 else ("skip" if i % 5 == 0 else "ok")
            log.produce("orders", json.dumps({"i": i, "kind": kind}).encode(), key=b"k%d" % (i % 11))
        pattern = json.dumps({"value": {"kind": [{"anything-but": "skip"}]}})

        def behaviour(event):
            if any(b"poison" in v for v in values(event)):
                raise ValueError("poison")

        destinations = RecordingDestinations()
        esm = mapping(
            log,
            Function(behaviour),
            clock,
            destinations,
            BatchSize=7,
            BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=1,
            FilterCriteria={"Filters": [{"Pattern": pattern}]},
            DestinationConfig=DLQ,
        )

        report = esm.run_until_caught_up()

        assert esm.caught_up()
        assert report.records_settled == 200
        assert report.records_to_destination == len(range(0, 200, 17))


# -- destinations end to end ----------------------------------------------------------------------


def test_kafka_destination_gets_one_message_per_record_keyed_like_the_original(log, clock):
    log.create_topic("orders-dlt", 1)
    log.produce("orders", b"poison", key=b"customer-1", timestamp_ms=int(T0 * 1000))
    log.produce("orders", b"poison", key=b"customer-2", timestamp_ms=int(T0 * 1000))
    destinations = Destinations(boto3_clients(), log=log)
    esm = mapping(
        log,
        Function(fails_on(b"poison")),
        clock,
        destinations,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": "kafka://orders-dlt"}},
    )

    esm.run_until_caught_up()

    dead = log.read("orders-dlt", 0, 0, 10)
    assert [r.key for r in dead] == [b"customer-1", b"customer-2"]
    message = json.loads(dead[0].value)
    assert message["KafkaBatchInfo"]["batchSize"] == 1
    assert message["KafkaBatchInfo"]["recordInfo"] == {"offset": "0", "timestamp": "2023-11-14T22:13:20.000Z"}
    [record] = message["payload"]["records"]["orders-0"]
    assert base64.b64decode(record["value"]) == b"poison"


def test_a_destination_that_cannot_be_reached_keeps_the_records_uncommitted(log, clock):
    produce(log, b"poison")
    destinations = Destinations(boto3_clients(), log=log)  # no topic orders-dlt: delivery fails
    esm = mapping(
        log,
        Function(fails_on(b"poison")),
        clock,
        destinations,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": "kafka://orders-dlt"}},
    )

    report = esm.poll_once(flush=True)
    log.create_topic("orders-dlt", 1)
    esm.poll_once(flush=True)

    assert report.destination_errors == 1
    assert len(log.read("orders-dlt", 0, 0, 10)) == 1
    assert committed(log, esm) == 1


def test_s3_destination_gets_the_whole_event_as_payload(log, clock, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    produce(log, b"poison")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="failed")
        esm = mapping(
            log,
            function := Function(fails_on(b"poison")),
            clock,
            Destinations(boto3_clients(region_name="us-east-1")),
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::failed"}},
        )

        esm.run_until_caught_up()

        [obj] = s3.list_objects_v2(Bucket="failed")["Contents"]
        document = json.loads(s3.get_object(Bucket="failed", Key=obj["Key"])["Body"].read())
    assert obj["Key"].startswith(f"aws/lambda/{esm.config.uuid}/orders-0/2023/11/14/2023-11-14T22.13.20-")
    assert json.loads(document["payload"]) == function.events[0]


# ------------------------------------------------------------------ poison records (issue 9, "Faults")

POISON = b"[" * 5000 + b"]" * 5000  # 10 KB: RecursionError in the filter, then `up` polled it forever
ACCESS_DENIED = json.dumps({"type": "AccessDenied", "account": "c-1"}).encode()
ON_TYPE = {"Filters": [{"Pattern": '{"value": {"type": ["AccessDenied"]}}'}]}
ON_TYPE_OR_TEXT = {"Filters": [*ON_TYPE["Filters"], {"Pattern": '{"value": [{"prefix": "["}]}'}]}


def poll_rounds(esm, rounds: int = 50) -> int:
    """Poll like `localfaas up` does, one round at a time; the rounds it took to catch up, or -1."""
    for round_ in range(1, rounds + 1):
        esm.poll_once(flush=True)
        if esm.caught_up():
            return round_
    return -1


def test_a_nested_poison_record_on_a_filtered_mapping_is_filtered_and_the_valid_one_behind_it_delivered(
    log, clock
):
    produce(log, POISON, ACCESS_DENIED)
    function = Function()
    esm = mapping(log, function, clock, FilterCriteria=ON_TYPE)

    assert poll_rounds(esm) == 1  # no round raised, none was spent again on the poison
    assert [values(e) for e in function.events] == [[ACCESS_DENIED]]
    assert (esm.stats.records_filtered, esm.stats.records_delivered) == (1, 1)
    assert committed(log, esm) == 2


def test_a_poison_record_a_filter_lets_through_fails_through_the_retry_policy_to_the_destination(log, clock):
    # A prefix pattern reads the too-deep value as its text, so the poison reaches the function, which
    # cannot parse it: the record fails, is retried MaximumRetryAttempts times and goes to the destination.
    produce(log, POISON, ACCESS_DENIED)
    function = Function(lambda event: [json.loads(v) for v in values(event)])
    destinations = RecordingDestinations()
    esm = mapping(
        log,
        function,
        clock,
        destinations,
        FilterCriteria=ON_TYPE_OR_TEXT,
        BatchSize=1,
        MaximumRetryAttempts=2,
        DestinationConfig=DLQ,
    )

    assert poll_rounds(esm) == 4  # 3 invocations of the poison, then the valid record
    assert function.offsets() == [0, 0, 0, 1]
    [document] = destinations.documents()
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert document["KafkaBatchInfo"]["recordsInfo"]["orders-0"]["firstRecordOffset"] == "0"
    assert committed(log, esm) == 2


def test_a_filter_that_raises_filters_the_record_out_instead_of_stopping_the_poller(log, clock, monkeypatch):
    import localfaas.esm

    real = localfaas.esm.matches_filter_criteria

    def broken(filters, record):
        if base64.b64decode(record["value"]) == POISON:
            raise RuntimeError("a bug in the matcher")
        return real(filters, record)

    monkeypatch.setattr(localfaas.esm, "matches_filter_criteria", broken)
    produce(log, POISON, ACCESS_DENIED)
    function = Function()
    esm = mapping(log, function, clock, FilterCriteria=ON_TYPE)

    assert poll_rounds(esm) == 1
    assert [values(e) for e in function.events] == [[ACCESS_DENIED]]
    assert esm.stats.records_filtered == 1


def test_an_event_that_cannot_be_built_fails_the_batch_through_retries_to_the_destination(
    log, clock, monkeypatch
):
    import localfaas.esm

    real = localfaas.esm.kafka_event

    def broken(records, **kwargs):
        if any(r.value == POISON for r in records):
            raise RuntimeError("a bug in the event builder")
        return real(records, **kwargs)

    monkeypatch.setattr(localfaas.esm, "kafka_event", broken)
    produce(log, b"a", POISON, b"b")
    function, destinations = Function(), RecordingDestinations()
    esm = mapping(
        log,
        function,
        clock,
        destinations,
        BatchSize=3,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig=DLQ,
    )

    assert poll_rounds(esm) != -1
    assert sorted(function.offsets()) == [0, 2]  # bisection isolated the poison; the function never saw it
    [document] = destinations.documents()
    info = document["KafkaBatchInfo"]["recordsInfo"]["orders-0"]
    assert (info["firstRecordOffset"], info["lastRecordOffset"]) == ("1", "1")
    assert document["responseContext"]["functionError"] == "Unhandled"
    assert esm.stats.records_to_destination == 1
    assert committed(log, esm) == 3


def test_an_event_that_cannot_be_built_is_discarded_after_retries_without_a_destination(
    log, clock, monkeypatch
):
    import localfaas.esm

    real = localfaas.esm.kafka_event

    def broken(records, **kwargs):  # every event with a record in it; the empty envelope still builds
        if records and records[0].value is not None:
            raise ZeroDivisionError("a bug in the event builder")
        return real(records, **kwargs)

    monkeypatch.setattr(localfaas.esm, "kafka_event", broken)
    produce(log, b"a")
    esm = mapping(log, Function(), clock, MaximumRetryAttempts=2)

    assert poll_rounds(esm) == 3  # three failed attempts within the policy, then the partition moves on
    assert (esm.stats.invocations, esm.stats.retries, esm.stats.records_discarded) == (3, 2, 1)
