"""Scenario files: what `localfaas run` feeds a stack, and what it checks afterwards.

A scenario is one JSON object:

    {"name": "...", "description": "...",
     "template": "path/to/template.yaml",          relative to the scenario file
     "parameters": {"Name": "value"},               template parameter overrides (optional)
     "environment": {"Parameters": {"VAR": "v"},    function variables, as SAM's env-vars file
                     "LogicalId": {"VAR": "v"}},    (optional; ${LOCALFAAS_STATE_DIR} is the run's directory)
     "topics": {"orders": {"partitions": 3}},       created before anything is produced (optional)
     "records": [{"topic", "key", "value" | "valueText" | "valueBase64",
                  "headers": {"name": "text"}, "timestamp": ISO 8601 or epoch ms, "partition"}],
     "messages": [{"queue", "body" | "value",      sent to an SQS queue (a logical id, name or ARN)
                   "attributes": {"name": "text"},  after the records, before the events (optional;
                   "groupId", "deduplicationId"}],  the ids for a FIFO queue)
     "events": [PutEvents entries],                 put after the records (optional)
     "events": [PutEvents entries],                 put after the records (optional); an entry with
                                                    "asService": true is put as the AWS service itself
                                                    would, so a Source aws.* is accepted (see bus.py)
     "publish": [{"Topic": logical id, name or ARN,  SNS Publish requests, sent after the events
                  "Message": text or JSON, "Subject", (optional)
                  "MessageAttributes": {name: {"DataType", "StringValue"}}}],
     "faults": {"throttle": 0.2, "seed": 7},        a fault plan, as --faults spells it (optional)
     "windowSeconds": 3600,                         release records in timestamp order, this much
                                                    scenario time at a time (optional; default: all at once)
     "start": ISO 8601 or epoch ms,                 where virtual time begins (optional; default: the
                                                    first record's timestamp, else the machine's clock)
     "until": ISO 8601 or epoch ms,                 the end of the run's span: schedules fire their
                                                    moments up to it (optional; default: the last
                                                    record's timestamp or event's Time; `run --until`)
     "expected": {"free-form": 3},                  numbers a check may refer to (optional)
     "checks": [{"name", "metric", "equals" | "min" | "max" | "expected"}]}

A record's `value` is any JSON, produced as its compact serialisation; `valueText` is produced as
UTF-8 exactly as written (for malformed records); `valueBase64` as the bytes it encodes; a `value` of
null is a tombstone. A check compares one report metric (see localfaas.report) with a number, or with
`expected[<key>]`: `{"metric": "ses.sent", "min": {"expected": "emails"}}`, and for short
`{"metric": "ses.sent", "expected": "emails"}` (equals). Every error names the field that is wrong:
`records[12].timestamp: ...`.

Just past 400 lines: one reader per field of the scenario file (records, messages, publish,
events, checks), each with its one-line errors; they are read together.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localfaas.faults import FaultPlan, FaultPlanError, fault_plan_from_mapping
from localfaas.log import timestamp_ms

__all__ = [
    "Check",
    "Scenario",
    "ScenarioError",
    "ScenarioMessage",
    "ScenarioRecord",
    "load_scenario",
    "parse_scenario",
    "span_end",
]

_VALUE_FIELDS = ("value", "valueText", "valueBase64")
_RECORD_FIELDS = {"topic", "key", "headers", "timestamp", "partition", *_VALUE_FIELDS}
_MESSAGE_FIELDS = {"queue", "body", "value", "attributes", "groupId", "deduplicationId"}
_PUBLISH_FIELDS = {"Topic", "Message", "Subject", "MessageAttributes"}
_COMPARISONS = ("equals", "min", "max", "expected")
_TOP_LEVEL = {
    "name",
    "description",
    "template",
    "parameters",
    "environment",
    "topics",
    "records",
    "events",
    "messages",
    "publish",
    "expected",
    "checks",
    "windowSeconds",
    "faults",
    "start",
    "until",
}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and the field."""


@dataclass(frozen=True)
class ScenarioRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None  # None: the log stamps the produce time
    partition: int | None = None  # None: Kafka's default partitioner decides from the key


@dataclass(frozen=True)
class ScenarioMessage:
    """A message to send to an SQS queue (SendMessage): String attributes, FIFO ids when given."""

    queue: str  # the queue's logical id, name or ARN
    body: str
    attributes: tuple[tuple[str, str], ...] = ()
    group_id: str | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True)
class Check:
    """One expectation about the report: `metric` compared by `op` ("equals", "min", "max") to `value`."""

    name: str
    metric: str
    op: str
    value: float
    expected_key: str | None = None  # set when the value came from the scenario's "expected" block


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path | None
    template: Path | None
    description: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    environment: dict[str, dict[str, str]] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)
    records: tuple[ScenarioRecord, ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    messages: tuple[ScenarioMessage, ...] = ()
    publish: tuple[dict[str, Any], ...] = ()  # SNS Publish requests, "Topic" naming the topic
    expected: dict[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    window_s: float | None = None
    faults: FaultPlan | None = None  # localfaas.faults; `--faults` overrides it key by key
    start_ms: int | None = None  # where virtual time begins, when not at the first record
    until_ms: int | None = None  # the end of the run's span (schedules fire up to it)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError says what is wrong and where."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ScenarioError(f"cannot read scenario {path}: {e.strerror}") from None
    except ValueError as e:
        raise ScenarioError(f"scenario {path} is not valid JSON: {e}") from None
    return parse_scenario(data, base_dir=path.resolve().parent, source=path)


def parse_scenario(data: Any, *, base_dir: Path | None = None, source: str | Path = "scenario") -> Scenario:
    """Validate a scenario already parsed from JSON; relative template paths start at `base_dir`."""
    reader = _Reader(str(source))
    if not isinstance(data, dict):
        raise reader.error("", "a scenario must be a JSON object")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise reader.error(unknown[0], f"unknown field (known: {', '.join(sorted(_TOP_LEVEL))})")
    expected = reader.mapping(data, "expected")
    template = reader.optional_text(data, "template")
    return Scenario(
        name=reader.optional_text(data, "name") or (Path(source).stem if source else "scenario"),
        path=Path(source) if isinstance(source, Path) else None,
        template=((base_dir or Path.cwd()) / template).resolve() if template else None,
        description=reader.optional_text(data, "description") or "",
        parameters={k: _parameter_text(v) for k, v in reader.mapping(data, "parameters").items()},
        environment=reader.environment(data),
        topics=reader.topics(data),
        records=tuple(reader.record(r, i) for i, r in enumerate(reader.sequence(data, "records"))),
        events=tuple(reader.event(e, i) for i, e in enumerate(reader.sequence(data, "events"))),
        messages=tuple(reader.message(m, i) for i, m in enumerate(reader.sequence(data, "messages"))),
        publish=tuple(reader.publish(p, i) for i, p in enumerate(reader.sequence(data, "publish"))),
        expected=expected,
        checks=tuple(reader.check(c, i, expected) for i, c in enumerate(reader.sequence(data, "checks"))),
        window_s=reader.window(data),
        faults=reader.faults(data),
        start_ms=reader.timestamp(data.get("start"), "start"),
        until_ms=reader.timestamp(data.get("until"), "until"),
    )


def span_end(scenario: Scenario, begun: float, until: float | None = None) -> float:
    """The end of a run's span, in epoch seconds: `until` (`run --until`), else the scenario's own,
    else its last moment (a record's timestamp or an event's Time), never before the run `begun`."""
    if until is not None:
        return until
    if scenario.until_ms is not None:
        return scenario.until_ms / 1000
    moments = [r.timestamp_ms / 1000 for r in scenario.records if r.timestamp_ms is not None]
    for event in scenario.events:
        moment = event.get("Time")
        if isinstance(moment, int | float) and not isinstance(moment, bool):
            moments.append(float(moment))
        elif isinstance(moment, str):
            with contextlib.suppress(ValueError):  # the bus answers a malformed Time as PutEvents would
                moments.append(timestamp_ms(moment) / 1000)
    return max([begun, *moments])


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class _Reader:
    """Field-by-field validation; `error` names the file and the JSON path of the bad field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    def optional_text(self, data: dict, name: str) -> str | None:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise self.error(name, f"must be a string, not {type(value).__name__}")
        return value

    def mapping(self, data: dict, name: str) -> dict:
        value = data.get(name) or {}
        if not isinstance(value, dict):
            raise self.error(name, f"must be a JSON object, not {type(value).__name__}")
        return value

    def sequence(self, data: dict, name: str) -> list:
        value = data.get(name) or []
        if not isinstance(value, list):
            raise self.error(name, f"must be a JSON list, not {type(value).__name__}")
        return value

    def environment(self, data: dict) -> dict[str, dict[str, str]]:
        environment = {}
        for scope, variables in self.mapping(data, "environment").items():
            if not isinstance(variables, dict):
                raise self.error(f"environment.{scope}", "must map variable names to values")
            environment[scope] = {name: _parameter_text(value) for name, value in variables.items()}
        return environment

    def faults(self, data: dict) -> FaultPlan | None:
        if data.get("faults") is None:
            return None
        try:
            return fault_plan_from_mapping(self.mapping(data, "faults"), where="faults.")
        except FaultPlanError as e:
            raise ScenarioError(f"{self.source}: {e}") from None

    def window(self, data: dict) -> float | None:
        window = data.get("windowSeconds")
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int | float) or window <= 0
        ):
            raise self.error("windowSeconds", f"must be a positive number of seconds, not {window!r}")
        return window

    def topics(self, data: dict) -> dict[str, int]:
        topics = {}
        for topic, spec in self.mapping(data, "topics").items():
            where = f"topics.{topic}"
            partitions = spec.get("partitions", 1) if isinstance(spec, dict) else spec
            if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
                raise self.error(where, f"partitions must be a positive integer, not {partitions!r}")
            topics[topic] = partitions
        return topics

    def record(self, raw: Any, index: int) -> ScenarioRecord:
        where = f"records[{index}]"
        if not isinstance(raw, dict):
            raise self.error(where, "a record must be a JSON object")
        unknown = sorted(set(raw) - _RECORD_FIELDS)
        if unknown:
            raise self.error(
                f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(_RECORD_FIELDS))})"
            )
        topic = raw.get("topic")
        if not isinstance(topic, str) or not topic:
            raise self.error(f"{where}.topic", "every record needs a topic (a non-empty string)")
        key = raw.get("key")
        if key is not None and not isinstance(key, str):
            raise self.error(f"{where}.key", f"must be a string or null, not {type(key).__name__}")
        partition = raw.get("partition")
        if partition is not None and (
            isinstance(partition, bool) or not isinstance(partition, int) or partition < 0
        ):
            raise self.error(f"{where}.partition", f"must be a partition number, not {partition!r}")
        return ScenarioRecord(
            topic=topic,
            key=None if key is None else key.encode(),
            value=self.value(raw, where),
            headers=self.headers(raw.get("headers"), f"{where}.headers"),
            timestamp_ms=self.timestamp(raw.get("timestamp"), f"{where}.timestamp"),
            partition=partition,
        )

    def value(self, raw: dict, where: str) -> bytes | None:
        given = [name for name in _VALUE_FIELDS if name in raw]
        if len(given) != 1:
            found = f"has {' and '.join(given)}" if given else "has none"
            raise self.error(where, f"needs exactly one of value, valueText, valueBase64 ({found})")
        name = given[0]
        value = raw[name]
        if name == "value":
            return None if value is None else json.dumps(value, separators=(",", ":")).encode()
        if not isinstance(value, str):
            raise self.error(f"{where}.{name}", f"must be a string, not {type(value).__name__}")
        if name == "valueText":
            return value.encode()
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as e:
            raise self.error(f"{where}.valueBase64", f"is not base64: {e}") from None

    def headers(self, raw: Any, where: str) -> tuple[tuple[str, bytes], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            raise self.error(where, "must be a JSON object of header name to text")
        for name, value in raw.items():
            if not isinstance(value, str):
                raise self.error(f"{where}.{name}", f"must be a string, not {type(value).__name__}")
        return tuple((name, value.encode()) for name, value in raw.items())

    def timestamp(self, raw: Any, where: str) -> int | None:
        if raw is None:
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if not isinstance(raw, str):
            raise self.error(where, "must be an ISO 8601 time or epoch milliseconds")
        try:
            return timestamp_ms(raw)
        except ValueError as e:
            raise self.error(where, str(e)) from None

    def event(self, raw: Any, index: int) -> dict[str, Any]:
        """A PutEvents entry. A Detail given as an object is serialised, since the API takes a string;
        everything else is passed on for the bus to accept or reject as EventBridge would."""
        where = f"events[{index}]"
        if not isinstance(raw, dict):
            raise self.error(where, "an event must be a PutEvents entry (a JSON object)")
        for name in ("Source", "DetailType", "Detail"):
            if name not in raw:
                raise self.error(f"{where}.{name}", "is required in a PutEvents entry")
        entry = dict(raw)
        if not isinstance(entry["Detail"], str):
            entry["Detail"] = json.dumps(entry["Detail"], separators=(",", ":"))
        if not isinstance(entry.get("asService", False), bool):
            raise self.error(f"{where}.asService", "must be true or false")
        return entry

    def message(self, raw: Any, index: int) -> ScenarioMessage:
        where = f"messages[{index}]"
        if not isinstance(raw, dict):
            raise self.error(where, "a message must be a JSON object")
        unknown = sorted(set(raw) - _MESSAGE_FIELDS)
        if unknown:
            raise self.error(
                f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(_MESSAGE_FIELDS))})"
            )
        queue = raw.get("queue")
        if not isinstance(queue, str) or not queue:
            raise self.error(f"{where}.queue", "every message needs a queue (a logical id, name or ARN)")
        given = [name for name in ("body", "value") if name in raw]
        if len(given) != 1:
            raise self.error(where, "needs exactly one of body (text) and value (any JSON)")
        body = raw.get("body")
        if "value" in raw:
            body = json.dumps(raw["value"], separators=(",", ":"))
        elif not isinstance(body, str):
            raise self.error(f"{where}.body", f"must be a string, not {type(body).__name__}")
        attributes = raw.get("attributes") or {}
        if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
            raise self.error(f"{where}.attributes", "must be a JSON object of attribute name to text")
        ids = {}
        for name in ("groupId", "deduplicationId"):
            if raw.get(name) is not None and not isinstance(raw[name], str):
                raise self.error(f"{where}.{name}", f"must be a string, not {type(raw[name]).__name__}")
            ids[name] = raw.get(name)
        return ScenarioMessage(queue, body, tuple(attributes.items()), ids["groupId"], ids["deduplicationId"])

    def publish(self, raw: Any, index: int) -> dict[str, Any]:
        """An SNS Publish request; a Message given as JSON other than text is sent as its text."""
        where = f"publish[{index}]"
        if not isinstance(raw, dict):
            raise self.error(where, "a publish must be a JSON object")
        unknown = sorted(set(raw) - _PUBLISH_FIELDS)
        if unknown:
            raise self.error(
                f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(_PUBLISH_FIELDS))})"
            )
        for name in ("Topic", "Message"):
            if name not in raw:
                raise self.error(f"{where}.{name}", "is required")
        request = dict(raw)
        if not isinstance(request["Message"], str):
            request["Message"] = json.dumps(request["Message"], separators=(",", ":"))
        attributes = request.get("MessageAttributes", {})
        if not isinstance(attributes, dict):
            raise self.error(f"{where}.MessageAttributes", "must be {name: {DataType, StringValue}}")
        for name, attribute in attributes.items():
            if not isinstance(attribute, dict) or not isinstance(attribute.get("DataType"), str):
                raise self.error(f"{where}.MessageAttributes.{name}", "must be {DataType, StringValue}")
        return request

    def check(self, raw: Any, index: int, expected: Mapping[str, Any]) -> Check:
        where = f"checks[{index}]"
        if not isinstance(raw, dict):
            raise self.error(where, "a check must be a JSON object")
        metric = raw.get("metric")
        if not isinstance(metric, str) or not metric:
            raise self.error(f"{where}.metric", "every check needs a metric, such as ses.sent")
        given = [name for name in _COMPARISONS if name in raw]
        if len(given) != 1:
            raise self.error(where, "needs exactly one of equals, min, max, expected")
        op, value = given[0], raw[given[0]]
        if op == "expected":  # shorthand for {"equals": {"expected": key}}
            op, value = "equals", {"expected": value}
        expected_key = None
        if isinstance(value, dict):
            expected_key = value.get("expected")
            if set(value) != {"expected"} or expected_key not in expected:
                raise self.error(
                    f"{where}.{given[0]}", f"{value!r} is neither a number nor a key of the expected block"
                )
            value = expected[expected_key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{where}.{given[0]}", f"must be a number, not {value!r}")
        name = raw.get("name") or metric
        return Check(name=str(name), metric=metric, op=op, value=value, expected_key=expected_key)
