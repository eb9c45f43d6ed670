"""The embedded log: a Kafka-like partitioned, retained log kept in files on this machine.

What is emulated: topics with a fixed number of partitions; records (key, value, headers,
timestamp) appended with consecutive offsets per partition; Kafka's default partitioner
(murmur2 of the key, exactly as the Java client computes it, so a key lands in the same
partition as it would on a real broker with the same partition count); per-group committed
offsets; ListOffsets-by-timestamp (`offset_for_time`); auto-creation of a topic on first
produce with `default_partitions` (Kafka's `auto.create.topics.enable` and `num.partitions`).

What is not: replication, transactions, compaction, quotas, segment rolling, and physical
deletion. Retention (`retention_ms`) is logical: records older than it become unreadable
and `beginning_offset` moves past them, but their bytes stay on disk.

Several processes on one machine may share a directory: appends and commits take `fcntl`
locks, and readers see every record whose index entry has been written. Durability: a record
is written with `write(2)` before `produce` returns, so it survives the crash of any process;
with `fsync=True` the log and then the index are also fsync'd on every append (and commits on
every commit), so it survives power loss too. Kafka's own default is not to fsync and to rely
on replication, which is why `fsync` defaults to False here.

Layout of `directory`:
    topics/<topic>/topic.json                  {"partitions": N}; written last, so a topic exists once it does
    topics/<topic>/<p>/00000000000000000000.log     records, appended (format: `_encode_record`)
    topics/<topic>/<p>/00000000000000000000.index   one `_INDEX` entry per offset
    groups/<quoted group id>.json              {"topic": {"partition": next offset}}
Every file is 0600 and every folder it makes 0700 (localfaas.owner_only): records hold what
producers sent, password hashes of account requests included.

Just past 400 lines: the segment files, their index, the consumer groups' committed offsets and the
locking that lets several processes share them are one storage format.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from localfaas.log import CREATE_TIME, LOG_APPEND_TIME, LogRecord, UnknownTopicOrPartitionError
from localfaas.owner_only import make_directory, open_file, write_atomically

__all__ = ["EmbeddedLog", "InvalidTopicError", "default_partition", "murmur2"]

_MASK32 = 0xFFFFFFFF
_SEGMENT = "00000000000000000000"  # Kafka names a segment after its base offset; there is one, based at 0.

# Index entry per offset: log position, record length, and the largest timestamp up to and
# including this offset (Kafka's time index keeps the same running maximum, which makes a
# binary search for "first offset with timestamp >= t" correct even when producers send
# timestamps out of order).
_INDEX = struct.Struct("<QIq")
# Record header: offset, timestamp, timestamp type, key length, value length (-1 = null), header count.
_RECORD = struct.Struct("<qqBiiH")
# Per header: name length, value length (-1 = null); then the name (UTF-8) and the value.
_HEADER = struct.Struct("<Hi")
_TIMESTAMP_TYPES = (CREATE_TIME, LOG_APPEND_TIME)
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
_MAX_TOPIC_LENGTH = 249


class InvalidTopicError(ValueError):
    """Kafka's INVALID_TOPIC_EXCEPTION, with the wording of `org.apache.kafka.common.internals.Topic`."""


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2`: the 32-bit MurmurHash2 with seed 0x9747b28c, as a signed Java int."""
    m = 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK32
    body = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:body]):
        k = (k * m) & _MASK32
        k ^= k >> 24
        k = (k * m) & _MASK32
        h = ((h * m) & _MASK32) ^ k
    tail = length & 3
    if tail == 3:
        h ^= data[body + 2] << 16
    if tail >= 2:
        h ^= data[body + 1] << 8
    if tail >= 1:
        h = ((h ^ data[body]) * m) & _MASK32
    h ^= h >> 13
    h = (h * m) & _MASK32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, and librdkafka's `murmur2_random`) picks for a key:
    `toPositive(murmur2(key)) % partitions`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def validate_topic(topic: str) -> None:
    """Reject names Kafka rejects, with Kafka's messages (they are also safe directory names)."""
    if not topic:
        raise InvalidTopicError("Topic name is illegal, it can't be empty")
    if topic in (".", ".."):
        raise InvalidTopicError('Topic name cannot be "." or ".."')
    if len(topic) > _MAX_TOPIC_LENGTH:
        raise InvalidTopicError(
            f"Topic name is illegal, it can't be longer than {_MAX_TOPIC_LENGTH} characters, topic name: {topic}"
        )
    if not _LEGAL_TOPIC.fullmatch(topic):
        raise InvalidTopicError(
            f'Topic name "{topic}" is illegal, it contains a character other than '
            "ASCII alphanumerics, '.', '_' and '-'"
        )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _encode_body(
    key: bytes | None, value: bytes | None, headers: tuple[tuple[str, bytes], ...]
) -> tuple[bytes, tuple[int, int, int]]:
    """A record's bytes after its header, and the lengths that go in the header (-1 = null).
    The header itself needs the offset, which is only known under the append lock."""
    parts = [key or b"", value or b""]
    for name, header_value in headers:
        raw_name = name.encode()
        parts.append(_HEADER.pack(len(raw_name), -1 if header_value is None else len(header_value)))
        parts.append(raw_name)
        parts.append(header_value or b"")
    lengths = (-1 if key is None else len(key), -1 if value is None else len(value), len(headers))
    return b"".join(parts), lengths


def _decode_record(topic: str, partition: int, data: bytes, at: int) -> LogRecord:
    offset, timestamp_ms, timestamp_type, key_length, value_length, header_count = _RECORD.unpack_from(
        data, at
    )
    at += _RECORD.size
    key = None if key_length < 0 else data[at : at + key_length]
    at += max(key_length, 0)
    value = None if value_length < 0 else data[at : at + value_length]
    at += max(value_length, 0)
    headers = []
    for _ in range(header_count):
        name_length, header_length = _HEADER.unpack_from(data, at)
        at += _HEADER.size
        name = data[at : at + name_length].decode()
        at += name_length
        headers.append((name, None if header_length < 0 else data[at : at + header_length]))
        at += max(header_length, 0)
    return LogRecord(
        topic, partition, offset, timestamp_ms, key, value, tuple(headers), _TIMESTAMP_TYPES[timestamp_type]
    )


@contextmanager
def _flock(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class _Partition:
    """The open files of one partition, kept for the life of the log so reads never reopen them."""

    def __init__(self, directory: Path, *, fsync: bool) -> None:
        make_directory(directory)
        flags = os.O_RDWR | os.O_APPEND
        self.log_fd = open_file(directory / f"{_SEGMENT}.log", flags)
        self.index_fd = open_file(directory / f"{_SEGMENT}.index", flags)
        self._fsync = fsync
        # flock() excludes other processes; threads of this one share the descriptor, so they
        # also need an ordinary lock.
        self._thread_lock = threading.Lock()

    def end_offset(self) -> int:
        return os.fstat(self.index_fd).st_size // _INDEX.size

    def append(
        self, timestamp_ms: int, timestamp_type: int, body: bytes, lengths: tuple[int, int, int]
    ) -> int:
        with self._thread_lock, _flock(self.index_fd):
            offset, log_end, max_timestamp = self._recover_tail()
            header = _RECORD.pack(offset, timestamp_ms, timestamp_type, *lengths)
            record = header + body
            if os.write(self.log_fd, record) != len(record):
                raise OSError(f"short write appending offset {offset}")
            if self._fsync:
                os.fsync(self.log_fd)  # before the index entry, so the index never points at lost bytes
            os.write(self.index_fd, _INDEX.pack(log_end, len(record), max(max_timestamp, timestamp_ms)))
            if self._fsync:
                os.fsync(self.index_fd)
            return offset

    def _recover_tail(self) -> tuple[int, int, int]:
        """Next offset, end of the log's valid bytes, running max timestamp; under the append lock.

        A writer that died mid-append can leave a partial index entry or record bytes with no
        index entry; both are cut off here, so the index stays the source of truth."""
        index_size = os.fstat(self.index_fd).st_size
        count = index_size // _INDEX.size
        if index_size % _INDEX.size:
            os.ftruncate(self.index_fd, count * _INDEX.size)
        if count:
            position, length, max_timestamp = _INDEX.unpack(
                os.pread(self.index_fd, _INDEX.size, (count - 1) * _INDEX.size)
            )
            log_end = position + length
        else:
            log_end, max_timestamp = 0, -(1 << 63)
        if os.fstat(self.log_fd).st_size != log_end:
            os.ftruncate(self.log_fd, log_end)
        return count, log_end, max_timestamp

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        stop = min(self.end_offset(), offset + max_records)
        if offset >= stop:
            return []
        entries = os.pread(self.index_fd, (stop - offset) * _INDEX.size, offset * _INDEX.size)
        first_position = _INDEX.unpack_from(entries, 0)[0]
        last_position, last_length, _ = _INDEX.unpack_from(entries, len(entries) - _INDEX.size)
        data = os.pread(self.log_fd, last_position + last_length - first_position, first_position)
        return [
            _decode_record(topic, partition, data, position - first_position)
            for position, _, _ in _INDEX.iter_unpack(entries)
        ]

    def first_offset_at_or_after(self, timestamp_ms: int) -> int:
        """Binary search of the running-max timestamps: the first offset with a timestamp >= timestamp_ms."""
        low, high = 0, self.end_offset()
        while low < high:
            middle = (low + high) // 2
            _, _, max_timestamp = _INDEX.unpack(os.pread(self.index_fd, _INDEX.size, middle * _INDEX.size))
            if max_timestamp >= timestamp_ms:
                high = middle
            else:
                low = middle + 1
        return low

    def close(self) -> None:
        os.close(self.log_fd)
        os.close(self.index_fd)


class EmbeddedLog:
    """The log port over files in `directory` (created if missing); see the module docstring."""

    def __init__(
        self,
        directory: Path,
        *,
        default_partitions: int = 1,
        retention_ms: int | None = None,
        fsync: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.default_partitions = default_partitions
        self.retention_ms = retention_ms
        self.fsync = fsync
        self._topics_dir = self.directory / "topics"
        self._groups_dir = self.directory / "groups"
        make_directory(self._topics_dir)
        make_directory(self._groups_dir)
        self._partition_counts: dict[str, int] = {}  # only hits: another process may create a topic
        self._open: dict[tuple[str, int], _Partition] = {}
        self._open_lock = threading.Lock()
        self._round_robin = itertools.count()

    def __enter__(self) -> EmbeddedLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- topics -----------------------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        """Create the topic with `partitions` partitions unless it exists; an existing topic keeps
        its partition count (Kafka would answer TOPIC_ALREADY_EXISTS)."""
        validate_topic(topic)
        if partitions < 1:
            raise ValueError("Number of partitions must be larger than 0.")
        topic_dir = self._topics_dir / topic
        with self._directory_lock(self._topics_dir):
            if (topic_dir / "topic.json").exists():
                return
            for partition in range(partitions):
                make_directory(topic_dir / str(partition))
            write_atomically(
                topic_dir / "topic.json", json.dumps({"partitions": partitions}).encode(), fsync=self.fsync
            )

    def topics(self) -> list[str]:
        return sorted(path.parent.name for path in self._topics_dir.glob("*/topic.json"))

    def partitions(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            try:
                count = json.loads((self._topics_dir / topic / "topic.json").read_bytes())["partitions"]
            except (FileNotFoundError, NotADirectoryError):
                raise UnknownTopicOrPartitionError(topic) from None
            self._partition_counts[topic] = count
        return count

    # -- records ----------------------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
        timestamp_ms: int | None = None,
        partition: int | None = None,
    ) -> LogRecord:
        """Append one record. Unknown topics are created with `default_partitions`. A keyed record
        without `partition` goes to `default_partition(key)`; a keyless one round-robin (Java's
        sticky partitioner and librdkafka's random choice differ here too: no client promises it)."""
        count = self._partitions_or_create(topic)
        if partition is None:
            partition = default_partition(key, count) if key is not None else next(self._round_robin) % count
        headers = tuple((name, header_value) for name, header_value in headers)
        timestamp_ms = _now_ms() if timestamp_ms is None else timestamp_ms
        body, lengths = _encode_body(key, value, headers)
        offset = self._partition(topic, partition).append(timestamp_ms, 0, body, lengths)
        return LogRecord(topic, partition, offset, timestamp_ms, key, value, headers, CREATE_TIME)

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        """Records from `offset` on; an offset before `beginning_offset` (expired by retention)
        reads from the beginning, as a consumer with auto.offset.reset=earliest would."""
        files = self._partition(topic, partition)
        offset = max(offset, self._beginning(files))
        return files.read(topic, partition, offset, max_records)

    # -- offsets ----------------------------------------------------------------------------

    def beginning_offset(self, topic: str, partition: int) -> int:
        return self._beginning(self._partition(topic, partition))

    def end_offset(self, topic: str, partition: int) -> int:
        return self._partition(topic, partition).end_offset()

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        files = self._partition(topic, partition)
        return max(files.first_offset_at_or_after(timestamp_ms), self._beginning(files))

    def committed(self, group_id: str, topic: str, partition: int) -> int | None:
        offset = self._group_offsets(group_id).get(topic, {}).get(str(partition))
        return None if offset is None else int(offset)

    def commit(self, group_id: str, topic: str, partition: int, offset: int) -> None:
        self._partition(topic, partition)  # Kafka refuses commits for unknown partitions
        if offset < 0:
            raise ValueError(f"Invalid negative offset {offset}")
        with self._directory_lock(self._groups_dir):
            offsets = self._group_offsets(group_id)
            offsets.setdefault(topic, {})[str(partition)] = offset
            write_atomically(self._group_path(group_id), json.dumps(offsets).encode(), fsync=self.fsync)

    def close(self) -> None:
        with self._open_lock:
            for files in self._open.values():
                files.close()
            self._open.clear()

    # -- helpers ----------------------------------------------------------------------------

    def _partitions_or_create(self, topic: str) -> int:
        try:
            return self.partitions(topic)
        except UnknownTopicOrPartitionError:
            self.create_topic(topic, self.default_partitions)
            return self.partitions(topic)

    def _partition(self, topic: str, partition: int) -> _Partition:
        files = self._open.get((topic, partition))
        if files is not None:
            return files
        if not 0 <= partition < self.partitions(topic):
            raise UnknownTopicOrPartitionError(f"{topic}-{partition}")
        with self._open_lock:
            files = self._open.get((topic, partition))
            if files is None:
                files = _Partition(self._topics_dir / topic / str(partition), fsync=self.fsync)
                self._open[(topic, partition)] = files
        return files

    def _beginning(self, files: _Partition) -> int:
        if self.retention_ms is None:
            return 0
        return files.first_offset_at_or_after(_now_ms() - self.retention_ms)

    def _group_path(self, group_id: str) -> Path:
        if not group_id:
            raise ValueError("The configured groupId is invalid")  # Kafka's INVALID_GROUP_ID message
        return self._groups_dir / f"{quote(group_id, safe='')}.json"

    def _group_offsets(self, group_id: str) -> dict[str, dict[str, int]]:
        try:
            return json.loads(self._group_path(group_id).read_bytes())
        except FileNotFoundError:
            return {}

    @contextmanager
    def _directory_lock(self, directory: Path) -> Iterator[None]:
        fd = open_file(directory / ".lock", os.O_RDWR)
        try:
            with _flock(fd):
                yield
        finally:
            os.close(fd)
