"""`localfaas produce TOPIC`: append records to the embedded log (default) or a real Kafka broker.

Prints each record's coordinates as one JSON line: {"topic", "partition", "offset", "timestamp"}.
A `localfaas up` polling the same log directory picks the records up, so this works from
another terminal, from any folder of the project: without --log-dir or --bootstrap-servers the log
is the running `up`'s (its endpoints file in the nearest .localfaas, found upward as git finds .git),
else .localfaas/log there. An unknown topic is created: on the embedded log with `--partitions`
partitions, on a broker as its auto-creation settings decide; a topic no event source mapping of the
template reads gets a one-line warning first. A broker that does not answer within a few seconds:
one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from localfaas.commands._options import (
    ENDPOINTS_FILE,
    STATE_DIR,
    find_state_dir,
    make_state_dir,
    read_endpoints,
    usage_error,
)
from localfaas.commands.generate_event import (
    EventInputError,
    add_record_flags,
    parse_header,
    parse_timestamp,
    read_records_file,
    value_from_args,
)
from localfaas.log import CREATE_TIME, Log, LogRecord


def open_log(args: argparse.Namespace, up: dict[str, Any] | None) -> Log:
    """--bootstrap-servers, --log-dir, else the log of the running `up`, else the project's."""
    brokers = args.bootstrap_servers or (None if args.log_dir else (up or {}).get("bootstrapServers"))
    if brokers:
        from localfaas.kafka_log import KafkaLog  # confluent-kafka loads only when a broker is asked for

        return KafkaLog(brokers)
    from localfaas.embedded_log import EmbeddedLog

    log_dir = args.log_dir or (up or {}).get("logDir") or make_state_dir(find_state_dir()) / "log"
    return EmbeddedLog(Path(log_dir), default_partitions=args.partitions)


def _warn_of_unread_topics(records: list[LogRecord], up: dict[str, Any] | None) -> None:
    """A topic no mapping reads is almost always a misspelt one: say so, and produce anyway (a topic
    may be meant for something outside the template)."""
    read = _topics_read(up)
    if read is None:
        return
    for topic in sorted({r.topic for r in records} - set(read)):
        print(
            f"localfaas produce: warning: no event source mapping of the template reads topic {topic!r} "
            f"(they read: {', '.join(read) or 'none'}); producing it anyway",
            file=sys.stderr,
        )


def _topics_read(up: dict[str, Any] | None) -> list[str] | None:
    """The topics the running `up`'s mappings read, else those of the project's template.yaml (beside
    its state folder); None when there is neither."""
    if up is not None and isinstance(up.get("topics"), list):
        return up["topics"]
    template = find_state_dir().parent / "template.yaml"
    if not template.is_file():
        return None
    from localfaas.template import TemplateError, load_stack

    try:
        stack = load_stack(template)
    except TemplateError:
        return None  # `up` and `invoke` say what is wrong with it; producing does not need it
    topics = (r.properties.get("Topics") for r in stack.event_source_mappings)
    return sorted({t for ts in topics if isinstance(ts, list) for t in ts if isinstance(t, str)})


def _records(args: argparse.Namespace) -> list[LogRecord]:
    """What to produce; partition -1 and offset -1 mean "the log decides"."""
    template = LogRecord(
        topic=args.topic,
        partition=-1 if args.partition is None else args.partition,
        offset=-1,
        timestamp_ms=parse_timestamp(args.timestamp) if args.timestamp else -1,
        key=None if args.key is None else args.key.encode(),
        value=None if args.records else value_from_args(args),  # in a records file, no value is a tombstone
        headers=tuple(parse_header(h) for h in args.header),
        timestamp_type=CREATE_TIME,
    )
    return read_records_file(args.records, template) if args.records else [template]


def _coordinates(record: LogRecord) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
    }


def handle(args: argparse.Namespace) -> int:
    try:
        records = _records(args)
    except (EventInputError, OSError) as exc:
        return usage_error("produce", exc)
    up = (
        None
        if args.log_dir or args.bootstrap_servers
        else read_endpoints(find_state_dir() / ENDPOINTS_FILE.name)
    )
    _warn_of_unread_topics(records, up)
    try:
        log = open_log(args, up)
    except ConnectionError as exc:  # kafka_log.KafkaUnreachable: no broker answers
        return usage_error("produce", exc)
    try:
        for record in records:
            produced = log.produce(
                record.topic,
                record.value,
                key=record.key,
                headers=record.headers,
                timestamp_ms=None if record.timestamp_ms < 0 else record.timestamp_ms,
                partition=None if record.partition < 0 else record.partition,
            )
            print(json.dumps(_coordinates(produced)), flush=True)
    except (LookupError, ValueError) as exc:  # unknown partition, illegal topic name
        print(f"localfaas produce: error: {exc}", file=sys.stderr)
        return 1
    finally:
        log.close()
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="append a record to the embedded log (or a Kafka broker)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("topic", metavar="TOPIC")
    add_record_flags(parser, default_value=None)
    parser.add_argument("--partition", type=int, help="(default: by key, as Kafka's default partitioner)")
    parser.add_argument(
        "--records",
        metavar="FILE",
        help="JSON list of records {topic, partition, key, value, headers, timestamp} to produce in order; "
        "missing fields come from the flags, a missing value is null (a tombstone)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--log-dir",
        help=f"embedded log directory (default: the running `up`'s, else {STATE_DIR}/log in the nearest "
        f"folder upward that has a {STATE_DIR})",
    )
    target.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT", help="produce to this Kafka broker instead"
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="partitions of a topic the embedded log creates (default: 1)",
    )
    parser.set_defaults(handler=handle)
