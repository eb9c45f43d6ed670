"""`storefront`: the project's command line. One command so far, `replay`.

    storefront replay --db URL --until TIME [--source embedded|kafka|archive] [--skip-bad]
    storefront replay --db LIVE_URL --verify [...]
    storefront difference EARLIER_URL LATER_URL

Exit codes: 0 done; 1 `--verify` found differences, or stdout was closed early (`| head`, as the
Python documentation's note on SIGPIPE advises: https://docs.python.org/3/library/signal.html#note-on-sigpipe);
2 bad usage, an unreadable source, or a database that cannot be used (no driver for its URL, no such
SQLite file where one is read); 3 the replay stopped at a record it cannot apply (rerun with
--skip-bad to go past it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from storefront.read_model import SourceRecord, SqlReadModel, UnprojectableRecord
from storefront.read_model.database import make_engine
from storefront.replay import ProgressBar, ReplayReport, describe_difference, replay, verify
from storefront.replay_sources import STOREFRONT_TOPICS, SourceError
from storefront.security import DEFAULT_THRESHOLD, DEFAULT_WINDOW_SECONDS, LockPolicy

DEFAULT_LOG_DIR = ".localfaas/log"  # where `localfaas produce` and `localfaas run` keep the embedded log
DIFFERENT, USAGE, STOPPED = 1, 2, 3
OUTPUT_CLOSED = 1


class UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # a reader that left early (`| head`) shows here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # What is left to write goes nowhere, so the exit's own flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OUTPUT_CLOSED
    except (UsageError, SourceError) as error:
        print(f"storefront {args.command}: {error}", file=sys.stderr)
        return USAGE
    except SQLAlchemyError as error:
        print(
            f"storefront {args.command}: database error: {error.__class__.__name__}: {error}", file=sys.stderr
        )
        return USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storefront", description="The storefront's command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser(
        "replay",
        help="rebuild the SQL read model from the event log as of a time",
        description="Rebuild the SQL read model from an empty schema, as of TIME, from the topics' records "
        "(merged by event time, per-partition order kept). With --verify, replay to now into a scratch "
        "database and compare it, table by table, with the live read model at --db.",
    )
    r.add_argument("--db", required=True, help="database URL (sqlite:///file.db, postgresql+pg8000://...)")
    r.add_argument("--until", type=_time, help="ISO 8601 time (UTC when no offset is given), or 'now'")
    r.add_argument("--source", choices=("embedded", "kafka", "archive"), default="embedded")
    r.add_argument("--log-dir", default=DEFAULT_LOG_DIR, help="embedded log directory (default: %(default)s)")
    r.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, for --source kafka")
    r.add_argument("--bucket", help="S3 bucket of the audit archive, for --source archive")
    r.add_argument("--archive-dir", help="local copy of the audit archive, for --source archive")
    r.add_argument(
        "--topics", default=",".join(STOREFRONT_TOPICS), help="comma-separated (default: %(default)s)"
    )
    r.add_argument(
        "--verify", action="store_true", help="compare a replay to now with the live read model at --db"
    )
    r.add_argument("--scratch-db", default="sqlite://", help="where --verify replays (default: in memory)")
    r.add_argument(
        "--skip-bad", action="store_true", help="skip records that cannot be applied; list them at the end"
    )
    r.add_argument("--replace", action="store_true", help="drop the read model tables at --db first")
    r.add_argument("--lock-threshold", type=int, default=DEFAULT_THRESHOLD)
    r.add_argument("--lock-window-seconds", type=int, default=DEFAULT_WINDOW_SECONDS)
    r.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="default: on a terminal"
    )
    r.set_defaults(run=_replay)
    d = commands.add_parser(
        "difference",
        help="print, in business terms, what a later read model has that an earlier one has not yet",
    )
    d.add_argument("earlier", help="database URL of the earlier read model (e.g. a replay to midday)")
    d.add_argument("later", help="database URL of the later one (e.g. the live read model)")
    d.set_defaults(run=_difference)
    return parser


def _time(text: str) -> datetime:
    if text == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _replay(args: argparse.Namespace) -> int:
    if args.verify and args.until is not None:
        raise UsageError("--verify replays up to now: leave out --until")
    if not args.verify and args.until is None:
        raise UsageError("--until is required (a time, or 'now')")
    policy = LockPolicy(args.lock_threshold, args.lock_window_seconds)
    topics = [t.strip() for t in args.topics.split(",") if t.strip()]
    partitions, total = _source(args, topics)
    progress = ProgressBar(total, enabled=args.progress)
    try:
        if args.verify:
            return _verify(args, partitions, policy, progress)
        model = _fresh_model(args.db, policy, replace=args.replace)
        report = replay(partitions, model, args.until, skip_bad=args.skip_bad, progress=progress)
    except UnprojectableRecord as error:
        progress.close()
        print(f"replay stopped at {error}", file=sys.stderr)
        # What came before the record is in the database now; a rerun without --replace would refuse it.
        again = "--skip-bad --replace" if any(model.row_counts().values()) else "--skip-bad"
        print(f"(rerun with {again} to skip such records and list them)", file=sys.stderr)
        return STOPPED
    progress.close()
    _print_report(report, model)
    return 0


def _difference(args: argparse.Namespace) -> int:
    earlier, later = (_existing_read_model(url) for url in (args.earlier, args.later))
    describe_difference(earlier, later)
    return 0


def _engine(url: str) -> Engine:
    """make_engine, with a URL it cannot use (malformed, unknown dialect, driver not installed) a UsageError."""
    try:
        return make_engine(url)
    except NoSuchModuleError:  # an ArgumentError too: first
        raise UsageError(f"{_safe(url)}: SQLAlchemy knows no such database") from None
    except ArgumentError as error:
        raise UsageError(f"{url!r} is not a database URL: {error}") from None
    except ImportError as error:  # the dialect is known, its driver is not installed
        raise UsageError(
            f"{_safe(url)} needs the Python driver {error.name!r}, which is not installed "
            "(the read model runs on sqlite:/// and postgresql+pg8000://)"
        ) from None


def _existing_read_model(url: str) -> Engine:
    """An engine on a read model that is there already: a SQLite file is never created by reading it."""
    parsed = _url(url)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    # In memory (no name, ":memory:") there is nothing to find; a "file:" URI says its own mode.
    if file and file != ":memory:" and not file.startswith("file:") and not os.path.isfile(file):
        raise UsageError(f"{_safe(url)}: no such SQLite file")
    engine = _engine(url)
    if not SqlReadModel(engine).has_schema():
        raise UsageError(f"{_safe(url)} holds no read model")
    return engine


def _url(url: str):
    try:
        return make_url(url)
    except ArgumentError as error:
        raise UsageError(f"{url!r} is not a database URL: {error}") from None


def _verify(args: argparse.Namespace, partitions, policy: LockPolicy, progress: ProgressBar) -> int:
    live = _existing_read_model(args.db)
    scratch = _fresh_model(args.scratch_db, policy, replace=False)
    report, differences = verify(partitions, live, scratch, skip_bad=args.skip_bad, progress=progress)
    progress.close()
    _print_report(report, scratch)
    if not differences:
        print("verify: the live read model equals the replay, table by table")
        return 0
    print(f"verify: {len(differences)} table(s) differ (replay vs live):")
    for difference in differences:
        print(difference.describe("replay", "live"))
    return DIFFERENT


def _source(
    args: argparse.Namespace, topics: list[str]
) -> tuple[Iterable[Iterable[SourceRecord]], int | None]:
    from storefront import replay_sources as sources

    if args.source == "archive":
        if bool(args.bucket) == bool(args.archive_dir):
            raise UsageError("--source archive needs one of --bucket or --archive-dir")
        objects = (
            sources.bucket_objects(args.bucket, topics)
            if args.bucket
            else sources.directory_objects(args.archive_dir, topics)
        )
        partitions = sources.archive_partitions(objects, topics)
        return partitions, sum(len(p) for p in partitions)
    log = sources.open_log(args.source, log_dir=args.log_dir, bootstrap_servers=args.bootstrap_servers)
    # Kafka brokers may answer end offsets loosely (compaction, transactions): no total there.
    total = sources.log_record_count(log, topics) if args.source == "embedded" else None
    return sources.log_partitions(log, topics), total


def _fresh_model(url: str, policy: LockPolicy, *, replace: bool) -> SqlReadModel:
    model = SqlReadModel(_engine(url), policy)
    if replace:
        model.drop_schema()
    elif model.has_schema() and any(model.row_counts().values()):
        raise UsageError(
            f"{_safe(url)} already holds a read model; replay builds one from empty (use --replace)"
        )
    model.create_schema()
    return model


def _print_report(report: ReplayReport, model: SqlReadModel) -> None:
    print(
        f"replayed {report.records} records up to {report.until.isoformat()}: {report.applied} applied, "
        f"{report.redelivered} already applied, {len(report.skipped)} skipped"
    )
    print("rows: " + ", ".join(f"{table} {count}" for table, count in model.row_counts().items()))
    for error in report.skipped:
        print(f"skipped {error}")


def _safe(url: str) -> str:
    return _url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
