"""`localfaas generate-event` prints events Powertools' models accept; `localfaas produce` appends to the log."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    KafkaMskEventModel,
    KafkaSelfManagedEventModel,
)

from localfaas.cli import main
from localfaas.embedded_log import EmbeddedLog, default_partition


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def generate(capsys, *argv: str):
    code, out, err = run(capsys, "generate-event", *argv)
    assert code == 0, err
    return json.loads(out)


# -- Kafka ---------------------------------------------------------------------------------


def test_msk_event_from_flags_parses_with_powertools(capsys):
    event = generate(
        capsys,
        "msk",
        "--topic", "payments",
        "--partition", "2",
        "--offset", "41",
        "--key", "order-7",
        "--value", '{"amount": 12}',
        "--header", "trace=abc",
        "--header", "bin=é",
        "--timestamp", "2026-11-26T09:00:00Z",
        "--cluster-arn", "arn:aws:kafka:eu-west-1:111122223333:cluster/shop/0000-1",
        "--bootstrap-servers", "b-1:9092,b-2:9092",
    )  # fmt: skip
    assert event["records"]["payments-2"][0]["headers"][1] == {"bin": [-61, -87]}
    assert event["records"]["payments-2"][0]["timestamp"] == 1_795_683_600_000
    parsed = KafkaMskEventModel.model_validate(event)  # (it decodes the headers in place)
    assert parsed.eventSourceArn == "arn:aws:kafka:eu-west-1:111122223333:cluster/shop/0000-1"
    assert parsed.bootstrapServers == ["b-1:9092", "b-2:9092"]
    (record,) = parsed.records["payments-2"]
    assert (record.topic, record.partition, record.offset) == ("payments", 2, 41)
    assert (record.key, record.value) == (b"order-7", '{"amount": 12}')
    assert record.headers == [{"trace": b"abc"}, {"bin": "é".encode()}]


def test_msk_event_without_flags_is_the_documented_example_shape(capsys):
    event = generate(capsys, "msk")
    parsed = KafkaMskEventModel.model_validate(event)
    (record,) = parsed.records["mytopic-0"]
    assert record.value == '{"key":"value"}'
    assert record.key is None
    assert "key" not in event["records"]["mytopic-0"][0]


def test_self_managed_event_has_no_arn_and_parses(capsys):
    event = generate(
        capsys, "self-managed-kafka", "--topic", "t", "--key", "k", "--timestamp", "1700000000000"
    )
    assert event["eventSource"] == "SelfManagedKafka"
    assert "eventSourceArn" not in event
    record = KafkaSelfManagedEventModel.model_validate(event).records["t-0"][0]
    assert int(record.timestamp.timestamp() * 1000) == 1_700_000_000_000


def test_value_file_carries_any_bytes(capsys, tmp_path):
    payload = bytes(range(256))
    (tmp_path / "value.bin").write_bytes(payload)
    event = generate(capsys, "msk", "--value-file", str(tmp_path / "value.bin"))
    assert base64.b64decode(event["records"]["mytopic-0"][0]["value"]) == payload


def test_records_file_makes_a_multi_partition_batch_with_counted_offsets(capsys, tmp_path):
    records = [
        {"key": "c-1", "value": {"type": "AccountRequested"}, "headers": {"v": "1"}},
        {"key": "c-2", "value": "plain text", "partition": 1},
        {"key": "c-1", "value": None},
        {"topic": "audit", "value": "x", "offset": 100, "timestampType": "LOG_APPEND_TIME"},
    ]
    (tmp_path / "records.json").write_text(json.dumps(records))
    event = generate(
        capsys, "msk", "--topic", "accounts", "--offset", "10", "--records", str(tmp_path / "records.json")
    )
    batches = event["records"]
    assert {key: [r["offset"] for r in batch] for key, batch in batches.items()} == {
        "accounts-0": [10, 11],
        "accounts-1": [10],
        "audit-0": [100],
    }
    assert base64.b64decode(batches["accounts-0"][0]["value"]) == b'{"type":"AccountRequested"}'
    assert batches["accounts-0"][0]["headers"] == [{"v": [49]}]
    assert "value" not in batches["accounts-0"][1]  # a tombstone
    assert batches["audit-0"][0]["timestampType"] == "LOG_APPEND_TIME"


def test_records_file_that_is_not_a_list_is_reported(capsys, tmp_path):
    (tmp_path / "records.json").write_text('{"key": "k"}')
    code, out, err = run(capsys, "generate-event", "msk", "--records", str(tmp_path / "records.json"))
    assert code == 2
    assert out == ""
    assert "expected a JSON list of objects" in err


def test_header_without_equals_sign_is_reported(capsys):
    code, _, err = run(capsys, "generate-event", "msk", "--header", "novalue")
    assert code == 2
    assert "'novalue' is not NAME=VALUE" in err


def test_unreadable_timestamp_is_reported(capsys):
    code, _, err = run(capsys, "generate-event", "msk", "--timestamp", "yesterday")
    assert code == 2
    assert "neither epoch milliseconds nor ISO 8601" in err


# -- EventBridge ---------------------------------------------------------------------------


def test_eventbridge_envelope_parses_with_powertools(capsys):
    event = generate(
        capsys,
        "eventbridge",
        "--source", "storefront.accounts",
        "--detail-type", "AccountCreated",
        "--detail", '{"customer_id": "c-1"}',
        "--resources", "arn:aws:dynamodb:us-east-1:123456789012:table/accounts",
        "--time", "2026-11-26T09:00:00.750Z",
        "--account", "111122223333",
        "--region", "eu-west-1",
    )  # fmt: skip
    parsed = EventBridgeModel.model_validate(event)
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event["version"] == "0"
    assert uuid.UUID(event["id"]).version == 4
    assert event["time"] == "2026-11-26T09:00:00Z"
    assert (parsed.source, parsed.detail_type, parsed.detail) == (
        "storefront.accounts",
        "AccountCreated",
        {"customer_id": "c-1"},
    )
    assert (parsed.account, parsed.region) == ("111122223333", "eu-west-1")
    assert parsed.resources == ["arn:aws:dynamodb:us-east-1:123456789012:table/accounts"]


def test_eventbridge_detail_can_come_from_a_file(capsys, tmp_path):
    (tmp_path / "detail.json").write_text('{"sku": "A-1", "count": 2}')
    event = generate(
        capsys,
        "eventbridge",
        "--source",
        "s",
        "--detail-type",
        "d",
        "--detail",
        f"file://{tmp_path / 'detail.json'}",
    )
    assert event["detail"] == {"sku": "A-1", "count": 2}


def test_eventbridge_replay_name_marks_a_replayed_event(capsys):
    event = generate(capsys, "eventbridge", "--source", "s", "--detail-type", "d", "--replay-name", "rebuild")
    assert EventBridgeModel.model_validate(event).replay_name == "rebuild"


def test_eventbridge_as_entry_is_a_put_events_entry_list(capsys):
    entries = generate(
        capsys,
        "eventbridge",
        "--source", "s",
        "--detail-type", "d",
        "--detail", '{"a": 1}',
        "--bus", "storefront",
        "--as-entry",
    )  # fmt: skip
    assert entries == [{"Source": "s", "DetailType": "d", "Detail": '{"a": 1}', "EventBusName": "storefront"}]


def test_eventbridge_detail_that_is_not_an_object_is_refused(capsys):
    code, _, err = run(
        capsys, "generate-event", "eventbridge", "--source", "s", "--detail-type", "d", "--detail", "[1]"
    )
    assert code == 2
    assert "--detail must be a JSON object" in err


# -- produce -------------------------------------------------------------------------------


def test_produce_appends_to_the_embedded_log_and_prints_coordinates(capsys, tmp_path):
    log_dir = tmp_path / "log"
    code, out, err = run(
        capsys,
        "produce", "orders",
        "--key", "order-1",
        "--value", '{"total": 3}',
        "--header", "trace=abc",
        "--partitions", "4",
        "--log-dir", str(log_dir),
    )  # fmt: skip
    assert code == 0, err
    coordinates = json.loads(out)
    assert coordinates["topic"] == "orders"
    assert coordinates["partition"] == default_partition(b"order-1", 4)
    assert coordinates["offset"] == 0
    with EmbeddedLog(log_dir) as log:
        (record,) = log.read("orders", coordinates["partition"], 0, 10)
    assert (record.key, record.value, record.headers) == (b"order-1", b'{"total": 3}', (("trace", b"abc"),))
    assert record.timestamp_ms == coordinates["timestamp"]


def test_produce_records_file_prints_one_line_per_record(capsys, tmp_path):
    (tmp_path / "records.json").write_text(
        json.dumps([{"value": "a", "partition": 0}, {"value": "b", "partition": 0}])
    )
    code, out, _ = run(
        capsys,
        "produce",
        "audit",
        "--records",
        str(tmp_path / "records.json"),
        "--log-dir",
        str(tmp_path / "log"),
    )
    assert code == 0
    assert [json.loads(line)["offset"] for line in out.splitlines()] == [0, 1]


def test_produce_without_a_value_is_refused(capsys, tmp_path):
    code, _, err = run(capsys, "produce", "orders", "--log-dir", str(tmp_path / "log"))
    assert code == 2
    assert "--value or --value-file" in err


def test_produce_to_a_missing_partition_fails(capsys, tmp_path):
    code, _, err = run(
        capsys, "produce", "orders", "--value", "v", "--partition", "3", "--log-dir", str(tmp_path)
    )
    assert code == 1
    assert "orders-3" in err


@pytest.mark.kafka
def test_produce_to_a_broker_lands_where_the_log_reads_it(capsys, tansu_bootstrap):
    from localfaas.kafka_log import KafkaLog

    topic = f"produce-{uuid.uuid4().hex[:8]}"
    with KafkaLog(tansu_bootstrap) as log:
        log.create_topic(topic, 2)
        code, out, err = run(
            capsys, "produce", topic, "--key", "k", "--value", "v", "--bootstrap-servers", tansu_bootstrap
        )
        assert code == 0, err
        coordinates = json.loads(out)
        assert coordinates["partition"] == default_partition(b"k", 2)
        (record,) = log.read(topic, coordinates["partition"], coordinates["offset"], 10)
    assert (record.key, record.value) == (b"k", b"v")
