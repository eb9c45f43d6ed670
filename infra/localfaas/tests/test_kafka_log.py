"""KafkaLog on a real broker (Tansu, started by the `tansu_bootstrap` fixture): what the contract suite does not cover.

`end_offset` and `offset_for_time` are not asserted here: Tansu's ListOffsets answers them
wrongly; the embedded log's tests cover their meaning, and here the end is found by reading.
"""

from __future__ import annotations

import uuid

import pytest

from localfaas.embedded_log import default_partition
from localfaas.kafka_log import KafkaLog
from localfaas.log import UnknownTopicOrPartitionError

pytestmark = pytest.mark.kafka


@pytest.fixture
def kafka(tansu_bootstrap):
    with KafkaLog(tansu_bootstrap) as log:
        yield log


def _topic(log: KafkaLog, partitions: int) -> str:
    name = f"kafka-log-{uuid.uuid4().hex[:10]}"
    log.create_topic(name, partitions)
    return name


def test_keyed_records_land_where_the_java_partitioner_puts_them(kafka):
    topic = _topic(kafka, 5)
    keys = [b"", b"customer-%d" % 1, "sku-é".encode(), *(b"order-%d" % i for i in range(40))]
    placed = {key: kafka.produce(topic, b"v", key=key).partition for key in keys}
    assert placed == {key: default_partition(key, 5) for key in keys}


def test_producing_to_a_partition_the_topic_lacks_is_an_error(kafka):
    topic = _topic(kafka, 2)
    with pytest.raises(UnknownTopicOrPartitionError):
        kafka.produce(topic, b"v", partition=5)


def test_commits_are_kept_by_the_broker_not_the_client(kafka, tansu_bootstrap):
    topic = _topic(kafka, 1)
    group = f"reactions-{uuid.uuid4().hex[:8]}"
    kafka.commit(group, topic, 0, 12)
    with KafkaLog(tansu_bootstrap) as other_client:
        assert other_client.committed(group, topic, 0) == 12


def test_reading_to_the_end_finds_every_produced_record(kafka):
    topic = _topic(kafka, 1)
    for i in range(250):
        kafka.produce(topic, b"%d" % i, partition=0)
    offset, seen = 0, []
    while batch := kafka.read(topic, 0, offset, 64):
        seen += [r.value for r in batch]
        offset = batch[-1].offset + 1
    assert offset == 250
    assert seen == [b"%d" % i for i in range(250)]


def test_partitions_read_in_turn_each_stay_in_order(kafka):
    topic = _topic(kafka, 2)
    for i in range(30):
        kafka.produce(topic, b"%d" % i, partition=i % 2)
    offsets = {0: 0, 1: 0}
    values: dict[int, list[bytes]] = {0: [], 1: []}
    while any(batch := [kafka.read(topic, p, offsets[p], 4) for p in (0, 1)]):
        for partition, records in zip((0, 1), batch, strict=True):
            values[partition] += [r.value for r in records]
            if records:
                offsets[partition] = records[-1].offset + 1
    assert values[0] == [b"%d" % i for i in range(0, 30, 2)]
    assert values[1] == [b"%d" % i for i in range(1, 30, 2)]


def test_records_from_another_producer_are_read_after_the_end_was_reached(kafka, tansu_bootstrap):
    topic = _topic(kafka, 1)
    assert kafka.read(topic, 0, 0, 10) == []
    with KafkaLog(tansu_bootstrap) as producer:
        producer.produce(topic, b"late", key=b"k")
    assert [r.value for r in kafka.read(topic, 0, 0, 10)] == [b"late"]


def test_pollers_at_different_offsets_of_one_partition_each_read_their_own_stream(kafka):
    # One event source mapping per consumer group: a topic's partition is read at several offsets
    # in turn, and each reader must go on where it left off, not where another one is.
    topic = _topic(kafka, 1)
    for i in range(120):
        kafka.produce(topic, b"%d" % i, partition=0)
    positions = {"fast": 0, "slow": 0, "late": 60}
    sizes = {"fast": 25, "slow": 7, "late": 11}
    seen: dict[str, list[bytes]] = {name: [] for name in positions}
    while any(positions[name] < 120 for name in positions):
        for name in positions:
            batch = kafka.read(topic, 0, positions[name], sizes[name])
            seen[name] += [r.value for r in batch]
            if batch:
                positions[name] = batch[-1].offset + 1
    assert seen["fast"] == seen["slow"] == [b"%d" % i for i in range(120)]
    assert seen["late"] == [b"%d" % i for i in range(60, 120)]
