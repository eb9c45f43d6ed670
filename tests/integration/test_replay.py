"""Replay rebuilds the read model as of any time, on SQLite and on the PostgreSQL at 127.0.0.1:5432.

The business day of events/scenarios/business-day.json is produced into an embedded log (its
partition counts, keyed, timestamped). A "live" ProjectSql is simulated by reading each partition
as the event source mappings would: topic by topic, in the order that is worst for cross-topic
facts (shipments before payments, security before accounts), capturing the tables at a few times
of the day. Replays to those times must give the very same tables.

PostgreSQL tests use fresh databases, dropped afterwards; when PostgreSQL is down they fail.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from sqlalchemy import Engine, create_engine, event, text

from infra.localfaas.tests.tansu import tansu_bootstrap  # noqa: F401 - the fixture
from localfaas.embedded_log import EmbeddedLog
from storefront import audit
from storefront.cli import main
from storefront.events import MalformedEvent, parse_event
from storefront.lambda_glue import erased
from storefront.read_model import SourceRecord, SqlReadModel
from storefront.read_model.compare import canonical_rows
from storefront.read_model.database import make_engine
from storefront.read_model.schema import TABLES
from storefront.replay import ProgressBar, describe_difference, merge_by_time, replay, to_ms, up_to
from storefront.replay_sources import STOREFRONT_TOPICS, log_partitions
from tests.support.factories import access_denied, account_requested_v1, at, inventory

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = json.loads((ROOT / "events/scenarios/business-day.json").read_text())
DAY_END = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # the morning: two attacks, orders, arrivals, bad records
# Mid-attack, after the first arrivals, just after the second attack.
CHECKPOINTS = [datetime(2026, 11, 25, h, m, tzinfo=UTC) for h, m in ((9, 32), (11, 25), (12, 50))]
LIVE_TOPIC_ORDER = ("shipments", "security", "payments", "inventory", "customer-accounts")
# psycopg for speed (pg8000 costs ~2 ms a statement here); pg8000, the driver in the Lambda layer,
# in the test that says so. Each read model is a fresh schema of the `test` database (creating and
# dropping databases costs seconds), put on the search path.
POSTGRES = "postgresql+{driver}://postgres@127.0.0.1:5432/test"

# --- databases ----------------------------------------------------------------------------------


class Databases:
    """Fresh, empty read models for one test: SQLite files, or PostgreSQL schemas dropped after."""

    _numbers = itertools.count()

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend, self.directory = backend, directory
        self.schemas: list[str] = []
        self.engines: list[Engine] = []
        if backend == "postgres":
            # No skip: a PostgreSQL that is down fails these tests, with the driver's error.
            self.admin = create_engine(POSTGRES.format(driver="psycopg"), isolation_level="AUTOCOMMIT")

    def url(self) -> str:
        """A URL the CLI can be given (psycopg takes the search path in the URL)."""
        name = f"storefront_replay_{os.getpid()}_{next(self._numbers)}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.directory / name}.db"
        return POSTGRES.format(driver="psycopg") + f"?options=-csearch_path%3D{self._schema(name)}"

    def model(self, url: str | None = None, *, driver: str = "psycopg") -> SqlReadModel:
        if driver == "pg8000" and self.backend == "postgres":
            engine = make_engine(POSTGRES.format(driver="pg8000"))
            schema = self._schema(f"storefront_replay_{os.getpid()}_{next(self._numbers)}")
            event.listen(engine, "connect", lambda dbapi, _: dbapi.run(f"SET search_path TO {schema}"))
        else:
            engine = make_engine(url or self.url())
        self.engines.append(engine)
        model = SqlReadModel(engine)
        model.create_schema()
        return model

    def _schema(self, name: str) -> str:
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {name}"))
        self.schemas.append(name)
        return name

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()
        if self.backend == "postgres":
            with self.admin.connect() as connection:
                for name in self.schemas:
                    connection.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            self.admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def databases(request, tmp_path) -> Iterator[Databases]:
    made = Databases(request.param, tmp_path)
    yield made
    made.close()


# --- the log ------------------------------------------------------------------------------------


def produce_scenario(directory: Path, until: datetime) -> EmbeddedLog:
    log = EmbeddedLog(directory)
    for topic, spec in SCENARIO["topics"].items():
        log.create_topic(topic, spec["partitions"])
    for entry in SCENARIO["records"]:
        timestamp = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
        if timestamp > until:
            break  # the scenario is in time order
        value = json.dumps(entry["value"]).encode() if "value" in entry else entry["valueText"].encode()
        log.produce(entry["topic"], value, key=entry["key"].encode(), timestamp_ms=to_ms(timestamp))
    return log


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("business-day-log")
    produce_scenario(directory, DAY_END).close()
    return directory


def partitions(log_dir: Path) -> list[Iterator[SourceRecord]]:
    return log_partitions(EmbeddedLog(log_dir), STOREFRONT_TOPICS)


def snapshot(engine: Engine) -> dict[str, dict[str, str]]:
    return {table: canonical_rows(engine, table) for table in TABLES}


def run_live(model: SqlReadModel, log_dir: Path, checkpoints: list[datetime]) -> dict[datetime, dict]:
    """ProjectSql as the mappings run it: per partition, in offset order, refused records left
    behind (they go to the failure queue); topics one after another, not in time order."""
    log, captured = EmbeddedLog(log_dir), {}
    positions: dict[tuple[str, int], int] = {}
    for checkpoint in checkpoints:
        for topic in LIVE_TOPIC_ORDER:
            for partition in range(log.partitions(topic)):
                start = positions.get((topic, partition), 0)
                batch = [
                    SourceRecord(r.topic, r.partition, r.offset, r.timestamp_ms, r.value)
                    for r in log.read(topic, partition, start, 10_000)
                ]
                batch = list(up_to(batch, checkpoint))
                model.apply(batch, on_bad=lambda error: None)
                positions[(topic, partition)] = start + len(batch)
        captured[checkpoint] = snapshot(model.engine)
    return captured


# --- replay equals live -------------------------------------------------------------------------


def test_replay_to_a_time_equals_the_live_model_captured_at_that_time(databases, day):
    live = run_live(databases.model(), day, CHECKPOINTS)

    for checkpoint in CHECKPOINTS:
        replayed = databases.model()
        report = replay(partitions(day), replayed, checkpoint, skip_bad=True)

        assert snapshot(replayed.engine) == live[checkpoint], f"replay to {checkpoint} differs from live"
        assert report.applied > 0
    assert live[CHECKPOINTS[0]] != live[CHECKPOINTS[-1]]  # the day moved on: the times are distinct


def test_replay_is_deterministic_and_keeps_what_the_day_expects(databases, day):
    first, second = databases.model(driver="pg8000"), databases.model()

    replay(partitions(day), first, DAY_END, skip_bad=True)
    replay(partitions(day), second, DAY_END, skip_bad=True)

    tables = snapshot(first.engine)
    assert tables == snapshot(second.engine)
    locked = [row for row in tables["customers"].values() if '"LOCKED"' in row]
    assert locked, "attacks in the morning lock accounts"


@pytest.mark.postgres
def test_a_replay_into_postgresql_refreshes_the_planners_statistics_as_the_tables_fill(
    tmp_path, day, monkeypatch
):
    # Planned on the statistics of empty tables, PostgreSQL answered the replay's reads by
    # sequential scans of whole tables: the replay ANALYZEs as it goes (pg_class.reltuples is -1
    # for a table never analyzed).
    monkeypatch.setattr("storefront.replay.CHUNK", 100)
    databases = Databases("postgres", tmp_path)
    try:
        model = databases.model()
        replay(partitions(day), model, DAY_END, skip_bad=True)
        with model.engine.connect() as connection:
            estimated = dict(
                connection.execute(
                    text(
                        "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                    )
                ).all()
            )
    finally:
        databases.close()
    assert set(estimated) == set(TABLES)
    assert all(tuples >= 0 for tuples in estimated.values()), estimated
    assert estimated["customers"] > 0


def test_a_batch_delivered_twice_changes_nothing(databases, day):
    model = databases.model()
    batch = list(partitions(day)[0])
    first = model.apply(batch, on_bad=lambda error: None)
    before = snapshot(model.engine)

    again = model.apply(batch, on_bad=lambda error: None)

    assert (again.applied, again.redelivered) == (0, first.applied)
    assert snapshot(model.engine) == before


# --- order, versions, bad input -----------------------------------------------------------------


def test_merge_takes_partition_heads_so_offsets_stay_in_order_when_timestamps_go_back():
    p0 = [SourceRecord("inventory", 0, 0, 500, b""), SourceRecord("inventory", 0, 1, 300, b"")]
    p1 = [SourceRecord("inventory", 1, 0, 400, b"")]

    merged = [(r.partition, r.offset) for r in merge_by_time([p0, p1])]

    assert merged == [(1, 0), (0, 0), (0, 1)]


def test_one_skus_counts_from_two_partitions_apply_in_time_order(databases, tmp_path):
    # The topic grew a partition: the sku's early count is in partition 0, its later ones in 1.
    log = EmbeddedLog(tmp_path / "log")
    log.create_topic("inventory", 2)
    for partition, count in (
        (1, inventory("MUG-BLUE", at(10), on_hand=60)),
        (1, inventory("MUG-BLUE", at(11), on_hand=3)),
        (0, inventory("MUG-BLUE", at(9), on_hand=4)),
    ):
        log.produce(
            "inventory",
            count.to_json().encode(),
            key=b"MUG-BLUE",
            timestamp_ms=to_ms(count.occurred_at),
            partition=partition,
        )
    model = databases.model()

    replay(log_partitions(log, ["inventory"]), model, at(23))

    orders = snapshot(model.engine)["supply_orders"].values()
    assert sorted(json.loads(o)[4] for o in orders) == ["OPEN", "RECEIVED"]  # placed, received, placed again
    [level] = snapshot(model.engine)["inventory_levels"].values()
    assert json.loads(level)[2] == 3


def test_a_version_1_event_in_the_log_is_upcast(databases, tmp_path):
    log = EmbeddedLog(tmp_path / "log")
    log.produce(
        "customer-accounts", account_requested_v1("c-7", at(9)), key=b"c-7", timestamp_ms=to_ms(at(9))
    )
    model = databases.model()

    replay(log_partitions(log, STOREFRONT_TOPICS), model, at(10))

    [customer] = snapshot(model.engine)["customers"].values()
    assert "Customer c-7" in customer


# --- the command line ---------------------------------------------------------------------------


def test_cli_stops_at_a_bad_record_naming_it_and_skip_bad_lists_every_skipped_record(databases, day, capsys):
    url = databases.url()

    stopped = main(["replay", "--db", url, "--until", "2026-11-25T13:00:00Z", "--log-dir", str(day)])
    err = capsys.readouterr().err
    assert stopped == 3
    assert "replay stopped at customer-accounts-" in err and "not JSON" in err
    # The records before it were applied, so the rerun the hint names has to replace them.
    assert "(rerun with --skip-bad --replace to skip such records and list them)" in err

    done = main(
        [
            "replay",
            "--db",
            url,
            "--until",
            "2026-11-25T13:00:00Z",
            "--log-dir",
            str(day),
            "--skip-bad",
            "--replace",
        ]
    )
    out = capsys.readouterr().out
    assert done == 0
    skipped = [line for line in out.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == SCENARIO["expected"]["malformed_records"]
    assert {line.split()[1].rsplit("-", 1)[0] for line in skipped} == set(STOREFRONT_TOPICS)


def test_cli_refuses_to_replay_over_a_read_model_that_has_rows(databases, day, capsys):
    url = databases.url()
    assert (
        main(["replay", "--db", url, "--until", "2026-11-25T09:00Z", "--log-dir", str(day), "--skip-bad"])
        == 0
    )

    again = main(["replay", "--db", url, "--until", "2026-11-25T09:00Z", "--log-dir", str(day), "--skip-bad"])

    assert again == 2
    assert "already holds a read model" in capsys.readouterr().err


def test_cli_verify_passes_on_the_live_model_and_catches_a_tampered_row(databases, day, capsys):
    live_url = databases.url()
    live = databases.model(live_url)
    run_live(live, day, [datetime.now(UTC)])
    # The replay goes to SQLite in memory (the default): checksums agree across databases.
    verify = ["replay", "--db", live_url, "--verify", "--log-dir", str(day), "--skip-bad"]

    assert main(verify) == 0
    assert "equals the replay" in capsys.readouterr().out

    with live.engine.begin() as connection:
        connection.execute(text("UPDATE customers SET status = 'ACTIVE' WHERE status = 'LOCKED'"))
    tampered = main(verify)

    out, err = capsys.readouterr()
    assert tampered == 1, err
    reported = [line.split(":")[0] for line in out.splitlines() if " rows (" in line]
    assert reported == ["customers"]  # only the tampered table
    assert "different:" in out


# --- the audit archive --------------------------------------------------------------------------


def archive_the_day(log_dir: Path) -> list[audit.ArchiveObject]:
    """What AuditLog writes for the day's records: secrets erased, one object per partition and hour,
    malformed records left out (they fail), and one batch archived twice with other bounds."""
    lines = []
    for records in partitions(log_dir):
        for record in records:
            try:
                event = parse_event(record.value)
            except MalformedEvent:
                continue
            where = audit.KafkaCoordinates(
                record.topic, record.partition, record.offset, record.timestamp_ms, "CREATE_TIME", b"key"
            )
            # As AuditLog archives it (lambda_glue.erased equals Powertools' DataMasking.erase).
            kept = erased(event.to_wire(), audit.ARCHIVE_ERASED_FIELDS)
            lines.append(audit.archive_line(event, kept, where))
    return audit.archive_objects(lines) + audit.archive_objects(lines[3:9])


def test_replay_from_the_archive_equals_replay_from_the_log(day, tmp_path, capsys):
    archive = tmp_path / "archive"
    for obj in archive_the_day(day):
        (archive / obj.key).parent.mkdir(parents=True, exist_ok=True)
        (archive / obj.key).write_bytes(obj.body)
    from_log, from_archive = f"sqlite:///{tmp_path / 'log.db'}", f"sqlite:///{tmp_path / 'archive.db'}"
    until = ["--until", "2026-11-25T13:00:00Z", "--skip-bad"]

    assert main(["replay", "--db", from_log, "--log-dir", str(day), *until]) == 0
    assert (
        main(["replay", "--db", from_archive, "--source", "archive", "--archive-dir", str(archive), *until])
        == 0
    )

    assert snapshot(create_engine(from_archive)) == snapshot(create_engine(from_log))
    assert "$argon2id" not in (tmp_path / "archive.db").read_bytes().decode("latin-1")


def test_replay_reads_the_archive_from_its_s3_bucket(aws, day, tmp_path, capsys):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="storefront-audit")
    for obj in archive_the_day(day):
        s3.put_object(Bucket="storefront-audit", Key=obj.key, Body=obj.body)
    s3.put_object(
        Bucket="storefront-audit", Key="bus=storefront.accounts/date=2026-11-25/hour=09/x.jsonl", Body=b"{}\n"
    )
    url = f"sqlite:///{tmp_path / 'archive.db'}"

    done = main(
        [
            "replay",
            "--db",
            url,
            "--until",
            "2026-11-25T10:00Z",
            "--source",
            "archive",
            "--bucket",
            "storefront-audit",
        ]
    )

    assert done == 0
    counts = SqlReadModel(create_engine(url)).row_counts()
    assert counts["customers"] > 0 and counts["applied_offsets"] > counts["customers"]


# --- what the rest of the day did ---------------------------------------------------------------


def test_difference_between_midday_and_the_end_names_what_had_not_happened_yet(day, tmp_path, capsys):
    morning, end = f"sqlite:///{tmp_path / 'morning.db'}", f"sqlite:///{tmp_path / 'end.db'}"
    for url, until in ((morning, "2026-11-25T11:00Z"), (end, "2026-11-25T13:00Z")):
        assert main(["replay", "--db", url, "--until", until, "--log-dir", str(day), "--skip-bad"]) == 0
    capsys.readouterr()

    assert main(["difference", morning, end]) == 0

    out = capsys.readouterr().out
    with create_engine(end).connect() as connection:
        locked_since = connection.execute(
            text(
                "SELECT customer_id FROM customers WHERE status = 'LOCKED' AND locked_at > '2026-11-25 11:00'"
            )
        ).scalars()
        expected = (
            f"{len(locked_since := sorted(locked_since))} accounts not yet locked: {', '.join(locked_since)}"
        )
    assert locked_since and expected in out
    assert "orders not yet delivered" in out
    assert "sales tickets not yet closed" in out


def test_difference_of_a_read_model_with_itself_is_nothing(day, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'day.db'}"
    main(["replay", "--db", url, "--until", "2026-11-25T10:00Z", "--log-dir", str(day), "--skip-bad"])

    lines = describe_difference(url, url, out=io.StringIO())

    assert lines[1].strip().startswith("nothing")


# --- a Kafka cluster as the source --------------------------------------------------------------


@pytest.mark.kafka
def test_replay_reads_a_kafka_cluster(tansu_bootstrap, tmp_path, capsys):  # noqa: F811 - the imported fixture
    from localfaas.kafka_log import KafkaLog

    suffix = uuid.uuid4().hex[:8]
    accounts, security = f"customer-accounts-{suffix}", f"security-{suffix}"
    with KafkaLog(tansu_bootstrap) as log:
        log.create_topic(accounts, 2)
        log.create_topic(security, 2)
        log.produce(accounts, account_requested_v1("c-7", at(9)), key=b"c-7", timestamp_ms=to_ms(at(9)))
        for n, minute in enumerate((1, 2, 3)):
            denied = access_denied("c-7", at(9, minute), n)
            log.produce(
                security, denied.to_json().encode(), key=b"c-7", timestamp_ms=to_ms(denied.occurred_at)
            )
    url = f"sqlite:///{tmp_path / 'from-kafka.db'}"

    done = main(
        [
            "replay",
            "--db",
            url,
            "--until",
            "now",
            "--source",
            "kafka",
            "--bootstrap-servers",
            tansu_bootstrap,
            "--topics",
            f"{accounts},{security}",
        ]
    )

    assert done == 0, capsys.readouterr().err
    [customer] = snapshot(create_engine(url))["customers"].values()
    assert (
        '"LOCKED"' in customer and "Customer c-7" in customer
    )  # upcast from v1, locked at the third attempt


# --- progress -----------------------------------------------------------------------------------


def test_progress_bar_counts_records_against_the_total_on_a_terminal_only():
    terminal, pipe = io.StringIO(), io.StringIO()
    shown, hidden = ProgressBar(200, stream=terminal, enabled=True), ProgressBar(200, stream=pipe)

    for bar in (shown, hidden):
        bar(50)
        bar(150)
        bar.close()

    assert "] 50/200 records" in terminal.getvalue() and terminal.getvalue().endswith("] 200/200 records\n")
    assert pipe.getvalue() == ""  # StringIO is no terminal: nothing by default


def test_cli_progress_goes_to_stderr(day, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'progress.db'}"

    main(["replay", "--db", url, "--until", "2026-11-25T09:00Z", "--log-dir", str(day), "--progress"])

    captured = capsys.readouterr()
    assert "replaying [" in captured.err and "replaying" not in captured.out
