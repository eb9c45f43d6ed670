"""`localfaas generate-event msk|self-managed-kafka|eventbridge`: the events `sam local generate-event` lacks.

Prints the event JSON on stdout, ready for `sam local invoke -e` or `localfaas invoke -e`:
- msk / self-managed-kafka: the batch Lambda sends for Kafka records (see localfaas.kafka_event),
  from one record given by flags or several from `--records FILE`;
- eventbridge: the envelope a rule's target receives (version "0", a fresh id, detail-type,
  source, account, time, region, resources, detail), or with `--as-entry` the PutEvents entry
  list that produces it (for `aws events put-events --entries file://...`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localfaas.commands._options import usage_error
from localfaas.kafka_event import DEFAULT_BOOTSTRAP_SERVERS, kafka_event
from localfaas.log import CREATE_TIME, LOG_APPEND_TIME, LogRecord, payload_bytes, timestamp_ms

DEFAULT_CLUSTER_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/SalesCluster/abcd1234-abcd-cafe-abab-9876543210ab-4"
)
DEFAULT_VALUE = '{"key":"value"}'
DEFAULT_ACCOUNT = "123456789012"


class EventInputError(ValueError):
    """A flag or a records file that cannot make an event; the message names the field."""


# -- shared by the produce command ---------------------------------------------------------


def parse_timestamp(text: str) -> int:
    """Epoch milliseconds from digits, or from an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        return timestamp_ms(text)
    except ValueError as e:
        raise EventInputError(str(e)) from None


def parse_header(text: str) -> tuple[str, bytes]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise EventInputError(f"header {text!r} is not NAME=VALUE")
    return name, value.encode()


def _file_bytes(value: Any, field: str) -> bytes | None:
    """A record file's key or value: text as UTF-8, any other JSON as its compact serialisation."""
    try:
        return payload_bytes(value)
    except (TypeError, ValueError):
        raise EventInputError(f"{field} cannot be serialised") from None


def _file_headers(headers: Any, where: str) -> tuple[tuple[str, bytes], ...]:
    """Headers in a records file: {"name": "value"} or [["name", "value"], ...] (repeats allowed)."""
    try:
        pairs = list(headers.items() if isinstance(headers, dict) else headers)
        return tuple(
            (str(name), _file_bytes(value, f"{where}.headers.{name}") or b"") for name, value in pairs
        )
    except EventInputError:
        raise
    except (TypeError, ValueError):
        raise EventInputError(f"{where}.headers must be an object or a list of [name, value] pairs") from None


def _file_record(entry: dict[str, Any], where: str, template: LogRecord, offset: int) -> LogRecord:
    try:
        partition = int(entry.get("partition", template.partition))
        offset = int(entry.get("offset", offset))
    except (TypeError, ValueError):
        raise EventInputError(f"{where}: partition and offset must be integers") from None
    return LogRecord(
        topic=str(entry.get("topic", template.topic)),
        partition=partition,
        offset=offset,
        timestamp_ms=parse_timestamp(str(entry["timestamp"]))
        if "timestamp" in entry
        else template.timestamp_ms,
        key=_file_bytes(entry["key"], f"{where}.key") if "key" in entry else template.key,
        value=_file_bytes(entry["value"], f"{where}.value") if "value" in entry else template.value,
        headers=_file_headers(entry["headers"], where) if "headers" in entry else template.headers,
        timestamp_type=_timestamp_type(entry.get("timestampType", template.timestamp_type), where),
    )


def read_records_file(path: str, template: LogRecord) -> list[LogRecord]:
    """Records from a JSON list of {topic, partition, offset, key, value, headers, timestamp,
    timestampType}, each optional: a missing field is the template's (the flags'), and offsets
    count up from the template's per topic-partition. A key or value that is text is taken as
    UTF-8, any other JSON as its compact serialisation, null as no key / a tombstone."""
    try:
        entries = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EventInputError(f"--records {path}: {exc}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise EventInputError(f"--records {path}: expected a JSON list of objects")
    next_offsets: dict[tuple[str, int], int] = {}
    records = []
    for index, entry in enumerate(entries):
        place = (str(entry.get("topic", template.topic)), entry.get("partition", template.partition))
        record = _file_record(entry, f"records[{index}]", template, next_offsets.get(place, template.offset))
        next_offsets[place] = record.offset + 1
        records.append(record)
    return records


def _timestamp_type(value: str, where: str) -> str:
    if value not in (CREATE_TIME, LOG_APPEND_TIME):
        raise EventInputError(
            f"{where}.timestampType must be {CREATE_TIME} or {LOG_APPEND_TIME}, not {value!r}"
        )
    return value


def value_from_args(args: argparse.Namespace) -> bytes:
    if args.value_file is not None:
        return Path(args.value_file).read_bytes()
    if args.value is None:
        raise EventInputError("give the record's value with --value or --value-file")
    return args.value.encode()


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


# -- Kafka ---------------------------------------------------------------------------------


def kafka_records(args: argparse.Namespace) -> list[LogRecord]:
    """The record the flags describe, or the records of --records with the flags as defaults."""
    template = LogRecord(
        topic=args.topic,
        partition=args.partition,
        offset=args.offset,
        timestamp_ms=parse_timestamp(args.timestamp) if args.timestamp else now_ms(),
        key=None if args.key is None else args.key.encode(),
        value=value_from_args(args),
        headers=tuple(parse_header(h) for h in args.header),
        timestamp_type=args.timestamp_type,
    )
    return read_records_file(args.records, template) if args.records else [template]


def _kafka(args: argparse.Namespace) -> dict[str, Any]:
    source = "msk" if args.kind == "msk" else "self-managed"
    return kafka_event(
        kafka_records(args),
        source=source,
        event_source_arn=args.cluster_arn if source == "msk" else None,
        bootstrap_servers=args.bootstrap_servers,
    )


# -- EventBridge ---------------------------------------------------------------------------


def _detail(text: str) -> dict[str, Any]:
    """--detail: a JSON object, inline or `file://PATH` as the AWS CLI takes it."""
    if text.startswith("file://"):
        try:
            text = Path(text.removeprefix("file://")).read_text()
        except OSError as exc:
            raise EventInputError(f"--detail: {exc}") from None
    try:
        detail = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventInputError(f"--detail is not valid JSON: {exc}") from None
    if not isinstance(detail, dict):
        raise EventInputError("--detail must be a JSON object")  # PutEvents: "Detail ... a valid JSON object"
    return detail


def _event_time(text: str | None) -> str:
    """EventBridge's `time`: UTC, to the second, with a Z."""
    moment = datetime.now(UTC) if text is None else datetime.fromtimestamp(parse_timestamp(text) / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def eventbridge_envelope(
    *,
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str] | None = None,
    time: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    region: str = "us-east-1",
    event_id: str | None = None,
    replay_name: str | None = None,
) -> dict[str, Any]:
    """The event a rule's target receives, fields in the order of the EventBridge User Guide's
    "Event structure reference" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html)."""
    event = {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": _event_time(time),
        "region": region,
        "resources": list(resources or []),
        "detail": detail,
    }
    if replay_name:
        event["replay-name"] = replay_name
    return event


def _eventbridge(args: argparse.Namespace) -> Any:
    detail = _detail(args.detail)
    if args.as_entry:
        entry = {"Source": args.source, "DetailType": args.detail_type, "Detail": json.dumps(detail)}
        entry["EventBusName"] = args.bus
        if args.resources:
            entry["Resources"] = args.resources
        if args.time:
            entry["Time"] = _event_time(args.time)
        return [entry]
    return eventbridge_envelope(
        source=args.source,
        detail_type=args.detail_type,
        detail=detail,
        resources=args.resources,
        time=args.time,
        account=args.account,
        region=args.region,
        event_id=args.id,
        replay_name=args.replay_name,
    )


# -- command line --------------------------------------------------------------------------


def add_record_flags(parser: argparse.ArgumentParser, *, default_value: str | None = DEFAULT_VALUE) -> None:
    """Flags describing one Kafka record (also used by `localfaas produce`)."""
    parser.add_argument("--key", help="record key, as text (default: no key)")
    value = parser.add_mutually_exclusive_group()
    value_help = "record value, as text" + ("" if default_value is None else " (default: %(default)s)")
    value.add_argument("--value", default=default_value, help=value_help)
    value.add_argument("--value-file", help="read the record value (any bytes) from this file")
    parser.add_argument(
        "--header", action="append", default=[], metavar="NAME=VALUE", help="a record header; repeat for more"
    )
    parser.add_argument("--timestamp", help="epoch milliseconds or ISO 8601 (default: now)")


def _add_kafka_parser(kinds: Any, kind: str, help_text: str) -> None:
    parser = kinds.add_parser(kind, help=help_text, description=help_text)
    parser.add_argument("--topic", default="mytopic", help="(default: %(default)s)")
    parser.add_argument("--partition", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument(
        "--offset", type=int, default=0, help="offset of the (first) record (default: %(default)s)"
    )
    add_record_flags(parser)
    parser.add_argument("--timestamp-type", choices=[CREATE_TIME, LOG_APPEND_TIME], default=CREATE_TIME)
    parser.add_argument(
        "--records",
        metavar="FILE",
        help="JSON list of records {topic, partition, offset, key, value, headers, timestamp, timestampType}, "
        "each field optional (defaults from the flags; offsets count up per partition)",
    )
    if kind == "msk":
        parser.add_argument("--cluster-arn", default=DEFAULT_CLUSTER_ARN, help="eventSourceArn")
    parser.add_argument(
        "--bootstrap-servers",
        default=DEFAULT_BOOTSTRAP_SERVERS,
        help="comma-separated (default: %(default)s)",
    )
    parser.set_defaults(build=_kafka, kind=kind)


def _add_eventbridge_parser(kinds: Any) -> None:
    parser = kinds.add_parser("eventbridge", help="an EventBridge event as a rule's target receives it")
    parser.add_argument("--source", required=True)
    parser.add_argument("--detail-type", required=True)
    parser.add_argument("--detail", default="{}", help="JSON object, or file://PATH (default: {})")
    parser.add_argument("--bus", default="default", help="event bus name (EventBusName of --as-entry)")
    parser.add_argument("--resources", nargs="+", action="extend", default=[], metavar="ARN")
    parser.add_argument("--time", help="ISO 8601 or epoch milliseconds (default: now)")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT)
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    parser.add_argument("--id", help="event id (default: a new UUID)")
    parser.add_argument("--replay-name", help="mark the event as delivered by this archive replay")
    parser.add_argument(
        "--as-entry",
        action="store_true",
        help="print the PutEvents entry list instead of the delivered event",
    )
    parser.set_defaults(build=_eventbridge)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate-event",
        help="print a sample event (MSK, self-managed Kafka, EventBridge) for invoke -e",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    _add_kafka_parser(kinds, "msk", "the event Lambda sends for Amazon MSK records")
    _add_kafka_parser(
        kinds, "self-managed-kafka", "the event Lambda sends for self-managed Apache Kafka records"
    )
    _add_eventbridge_parser(kinds)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        event = args.build(args)
    except (EventInputError, OSError) as exc:
        return usage_error("generate-event", exc)
    json.dump(event, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
