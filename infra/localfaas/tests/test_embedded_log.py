"""The embedded log: Kafka's partitioner, durability, sharing between processes, time lookups, retention."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from localfaas import embedded_log
from localfaas.embedded_log import EmbeddedLog, InvalidTopicError, default_partition, murmur2
from localfaas.log import UnknownTopicOrPartitionError

# Apache Kafka's own expectations for Utils.murmur2 (UtilsTest.testMurmur2).
KAFKA_MURMUR2_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.fixture
def log(tmp_path):
    with EmbeddedLog(tmp_path / "log") as log:
        yield log


@pytest.mark.parametrize(("data", "expected"), KAFKA_MURMUR2_VECTORS.items())
def test_murmur2_matches_kafkas_java_implementation(data, expected):
    assert murmur2(data) == expected


def test_default_partition_is_positive_murmur2_modulo_partitions():
    # -973932308 & 0x7fffffff = 1173551340
    assert default_partition(b"21", 7) == 1173551340 % 7


def test_produce_to_an_unknown_topic_creates_it_with_default_partitions(tmp_path):
    with EmbeddedLog(tmp_path / "log", default_partitions=4) as log:
        log.produce("orders", b"v", key=b"k")
        assert log.topics() == ["orders"]
        assert log.partitions("orders") == 4


def test_keyless_records_are_spread_over_partitions(log):
    log.create_topic("clicks", 3)
    assert sorted(log.produce("clicks", b"v").partition for _ in range(3)) == [0, 1, 2]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "can't be empty"),
        ("..", 'cannot be "." or ".."'),
        ("a/b", "contains a character other than ASCII alphanumerics"),
        ("x" * 250, "can't be longer than 249 characters"),
    ],
)
def test_illegal_topic_names_are_refused_with_kafkas_message(log, name, message):
    with pytest.raises(InvalidTopicError, match=message):
        log.create_topic(name)


def test_reading_a_partition_the_topic_lacks_is_an_error(log):
    log.create_topic("orders", 2)
    with pytest.raises(UnknownTopicOrPartitionError, match="orders-2"):
        log.read("orders", 2, 0, 10)


def test_records_survive_reopening_the_directory(tmp_path):
    with EmbeddedLog(tmp_path / "log") as log:
        log.produce("orders", b"kept", key=b"k", headers=(("h", b"\x00\xff"),), timestamp_ms=42)
        log.commit("reactions", "orders", 0, 1)
    with EmbeddedLog(tmp_path / "log") as reopened:
        (record,) = reopened.read("orders", 0, 0, 10)
        assert (record.key, record.value, record.headers, record.timestamp_ms) == (
            b"k",
            b"kept",
            (("h", b"\x00\xff"),),
            42,
        )
        assert reopened.committed("reactions", "orders", 0) == 1


def test_a_second_instance_sees_records_appended_after_it_opened(tmp_path):
    with EmbeddedLog(tmp_path / "log") as writer, EmbeddedLog(tmp_path / "log") as reader:
        writer.produce("orders", b"one")
        assert [r.value for r in reader.read("orders", 0, 0, 10)] == [b"one"]
        writer.produce("orders", b"two")
        assert [r.value for r in reader.read("orders", 0, 1, 10)] == [b"two"]
        assert reader.end_offset("orders", 0) == 2


def _append_from_another_process(directory, writer: int, count: int) -> None:
    with EmbeddedLog(directory) as log:
        for i in range(count):
            log.produce("shared", b"%d:%d" % (writer, i))


def test_processes_appending_concurrently_get_distinct_consecutive_offsets(tmp_path):
    directory = tmp_path / "log"
    EmbeddedLog(directory).create_topic("shared")
    context = multiprocessing.get_context("fork")
    writers = [
        context.Process(target=_append_from_another_process, args=(directory, w, 300)) for w in range(3)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join()
    with EmbeddedLog(directory) as log:
        records = log.read("shared", 0, 0, 10_000)
    assert [r.offset for r in records] == list(range(900))
    for writer in range(3):  # each writer's records in the order it wrote them
        mine = [r.value for r in records if r.value.startswith(b"%d:" % writer)]
        assert mine == [b"%d:%d" % (writer, i) for i in range(300)]


def test_threads_appending_concurrently_lose_nothing(log):
    log.create_topic("shared")

    def append(writer: int) -> None:
        for i in range(200):
            log.produce("shared", b"%d:%d" % (writer, i))

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = log.read("shared", 0, 0, 10_000)
    assert [r.offset for r in records] == list(range(800))
    assert len({r.value for r in records}) == 800


def test_append_after_a_writer_died_mid_record_continues_cleanly(tmp_path):
    with EmbeddedLog(tmp_path / "log") as log:
        log.produce("orders", b"whole")
    partition_dir = tmp_path / "log" / "topics" / "orders" / "0"
    # A crash between writing a record and its index entry, and one inside an index entry.
    with open(partition_dir / "00000000000000000000.log", "ab") as torn:
        torn.write(b"half a record")
    with open(partition_dir / "00000000000000000000.index", "ab") as torn:
        torn.write(b"\x01\x02\x03")
    with EmbeddedLog(tmp_path / "log") as log:
        assert log.end_offset("orders", 0) == 1
        assert log.produce("orders", b"next").offset == 1
        assert [r.value for r in log.read("orders", 0, 0, 10)] == [b"whole", b"next"]


def test_offset_for_time_finds_the_first_record_at_or_after_the_time(log):
    # Producers may send timestamps out of order; Kafka answers with the first offset whose
    # timestamp is >= the one asked for.
    for timestamp in (100, 300, 200, 400, 400):
        log.produce("events", b"v", timestamp_ms=timestamp)
    assert [log.offset_for_time("events", 0, t) for t in (0, 100, 101, 250, 301, 400)] == [0, 0, 1, 1, 3, 3]


def test_offset_for_time_after_the_last_record_is_the_end_offset(log):
    log.produce("events", b"v", timestamp_ms=100)
    assert log.offset_for_time("events", 0, 101) == log.end_offset("events", 0) == 1


def test_offset_for_time_on_an_empty_partition_is_zero(log):
    log.create_topic("events")
    assert log.offset_for_time("events", 0, 123) == 0


def test_retention_hides_records_older_than_it(tmp_path):
    now = time.time_ns() // 1_000_000
    with EmbeddedLog(tmp_path / "log", retention_ms=60_000) as log:
        log.produce("audit", b"expired", timestamp_ms=now - 120_000)
        log.produce("audit", b"expired too", timestamp_ms=now - 61_000)
        log.produce("audit", b"recent", timestamp_ms=now)
        assert log.beginning_offset("audit", 0) == 2
        assert [(r.offset, r.value) for r in log.read("audit", 0, 0, 10)] == [(2, b"recent")]
        assert log.end_offset("audit", 0) == 3
    with EmbeddedLog(tmp_path / "log") as unlimited:  # retention is logical: the bytes are still there
        assert len(unlimited.read("audit", 0, 0, 10)) == 3


def test_group_ids_with_any_characters_commit_separately(log):
    log.create_topic("orders")
    log.commit("team/a", "orders", 0, 4)
    log.commit("team%2Fa", "orders", 0, 9)
    log.commit("équipe ✓", "orders", 0, 2)
    assert [log.committed(g, "orders", 0) for g in ("team/a", "team%2Fa", "équipe ✓")] == [4, 9, 2]


def test_commit_for_an_unknown_partition_is_refused(log):
    log.create_topic("orders")
    with pytest.raises(UnknownTopicOrPartitionError):
        log.commit("reactions", "orders", 1, 0)


def test_fsync_mode_writes_the_same_records(tmp_path):
    with EmbeddedLog(tmp_path / "log", fsync=True) as log:
        log.produce("orders", b"durable", key=b"k")
        log.commit("g", "orders", 0, 1)
        assert [r.value for r in log.read("orders", 0, 0, 10)] == [b"durable"]


def test_sequential_reads_do_not_reopen_files(log, monkeypatch):
    for i in range(50):
        log.produce("orders", b"%d" % i)
    log.read("orders", 0, 0, 1)
    opened = []
    real_open = os.open
    monkeypatch.setattr(embedded_log.os, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    offset, values = 0, []
    while batch := log.read("orders", 0, offset, 7):
        values += [r.value for r in batch]
        offset = batch[-1].offset + 1
    assert values == [b"%d" % i for i in range(50)]
    assert opened == []


def test_a_large_batch_reads_back_intact(log):
    log.create_topic("bulk", 2)
    value = b"x" * 300
    for i in range(20_000):
        log.produce("bulk", value, key=b"key-%d" % (i % 97))
    total = 0
    for partition in range(2):
        offset = 0
        while batch := log.read("bulk", partition, offset, 1000):
            assert all(r.value == value for r in batch)
            total += len(batch)
            offset = batch[-1].offset + 1
    assert total == 20_000
