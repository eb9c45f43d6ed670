"""One contract for the log port, run on both adapters: the embedded log and KafkaLog on a real broker (Tansu).

Not here, because Tansu answers them wrongly: `end_offset` and `offset_for_time` (see
test_embedded_log.py); on Kafka the end is found by reading.
"""

from __future__ import annotations

import uuid

import pytest

from localfaas.embedded_log import EmbeddedLog, default_partition
from localfaas.kafka_log import KafkaLog
from localfaas.log import Log, UnknownTopicOrPartitionError

PARTITIONS = 3


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def log(request, tmp_path):
    if request.param == "embedded":
        adapter = EmbeddedLog(tmp_path / "log")
    else:
        adapter = KafkaLog(request.getfixturevalue("tansu_bootstrap"))
    yield adapter
    adapter.close()


@pytest.fixture
def topic(log: Log) -> str:
    name = f"contract-{uuid.uuid4().hex[:10]}"
    log.create_topic(name, PARTITIONS)
    return name


def _read_all(log: Log, topic: str, partition: int, offset: int = 0) -> list:
    records = []
    while batch := log.read(topic, partition, offset, 100):
        records += batch
        offset = batch[-1].offset + 1
    return records


def test_created_topic_is_listed_with_its_partition_count(log, topic):
    assert topic in log.topics()
    assert log.partitions(topic) == PARTITIONS


def test_creating_an_existing_topic_changes_nothing(log, topic):
    log.create_topic(topic, 7)
    assert log.partitions(topic) == PARTITIONS


def test_partitions_of_an_unknown_topic_is_an_error(log):
    with pytest.raises(UnknownTopicOrPartitionError):
        log.partitions(f"missing-{uuid.uuid4().hex[:10]}")


def test_records_read_back_in_offset_order_from_zero(log, topic):
    produced = [log.produce(topic, b"v%d" % i, partition=1) for i in range(5)]
    assert [r.offset for r in produced] == [0, 1, 2, 3, 4]
    records = _read_all(log, topic, 1)
    assert [(r.offset, r.value) for r in records] == [(i, b"v%d" % i) for i in range(5)]
    assert all((r.topic, r.partition) == (topic, 1) for r in records)


def test_read_returns_at_most_max_records_and_resumes_at_any_offset(log, topic):
    for i in range(6):
        log.produce(topic, b"v%d" % i, partition=0)
    assert [r.offset for r in log.read(topic, 0, 0, 2)] == [0, 1]
    assert [r.offset for r in log.read(topic, 0, 2, 3)] == [2, 3, 4]
    assert [r.offset for r in log.read(topic, 0, 1, 2)] == [1, 2]  # back again: a replay
    assert [r.offset for r in log.read(topic, 0, 4, 100)] == [4, 5]


def test_read_at_the_end_is_empty_and_later_sees_new_records(log, topic):
    log.produce(topic, b"first", partition=2)
    assert [r.value for r in log.read(topic, 2, 0, 10)] == [b"first"]
    assert log.read(topic, 2, 1, 10) == []
    log.produce(topic, b"second", partition=2)
    assert [r.value for r in log.read(topic, 2, 1, 10)] == [b"second"]


def test_one_keys_records_stay_in_one_partition_in_order(log, topic):
    keys = [b"customer-1", b"customer-2", b"customer-3", b"sku-42"]
    for i in range(5):
        for key in keys:
            log.produce(topic, b"%s:%d" % (key, i), key=key)
    by_key: dict[bytes, list[tuple[int, bytes]]] = {}
    for partition in range(PARTITIONS):
        for record in _read_all(log, topic, partition):
            by_key.setdefault(record.key, []).append((record.partition, record.value))
    for key in keys:
        assert by_key[key] == [(default_partition(key, PARTITIONS), b"%s:%d" % (key, i)) for i in range(5)]


def test_headers_keep_bytes_order_and_repeats(log, topic):
    headers = (("trace", b"abc"), ("bin", bytes([0, 128, 255])), ("trace", b""))
    log.produce(topic, b"v", key=b"k", headers=headers, partition=0)
    (record,) = log.read(topic, 0, 0, 10)
    assert record.headers == headers


def test_null_key_and_null_value_are_kept_apart_from_empty(log, topic):
    log.produce(topic, None, key=b"deleted", partition=0)
    log.produce(topic, b"", key=None, partition=0)
    tombstone, empty = log.read(topic, 0, 0, 10)
    assert (tombstone.key, tombstone.value) == (b"deleted", None)
    assert (empty.key, empty.value) == (None, b"")


def test_given_timestamp_is_kept(log, topic):
    produced = log.produce(topic, b"v", partition=0, timestamp_ms=1_600_000_000_123)
    (record,) = log.read(topic, 0, 0, 10)
    assert produced.timestamp_ms == record.timestamp_ms == 1_600_000_000_123
    assert record.timestamp_type == "CREATE_TIME"


def test_fresh_partition_begins_at_offset_zero(log, topic):
    assert log.beginning_offset(topic, 0) == 0


def test_nothing_is_committed_for_a_new_group(log, topic):
    assert log.committed(f"group-{uuid.uuid4().hex[:8]}", topic, 0) is None


def test_commits_are_kept_per_group_and_partition(log, topic):
    reactions, audit = f"reactions-{uuid.uuid4().hex[:8]}", f"audit-{uuid.uuid4().hex[:8]}"
    log.commit(reactions, topic, 0, 3)
    log.commit(reactions, topic, 1, 7)
    log.commit(audit, topic, 0, 1)
    log.commit(reactions, topic, 0, 5)
    assert log.committed(reactions, topic, 0) == 5
    assert log.committed(reactions, topic, 1) == 7
    assert log.committed(reactions, topic, 2) is None
    assert log.committed(audit, topic, 0) == 1
