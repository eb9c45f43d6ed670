"""The report of a local run: what every function, mapping, bus and resource did, and what was lost.

`Report.data` is plain JSON (what `localfaas run --json` writes). Its sections:

    run        {"command": "run" | "up", "scenario", "template", "runtime", "log", "backend", "duration_s",
                "interrupted" (after Ctrl-C)}
    records    {"produced", "topics": {topic: n}, "read": what the mappings received, once per record}
    functions  {LogicalId: {"invocations", "errors", "cold_starts", "mean_ms", "p95_ms"}}
    esm        {LogicalId: {"function", "topic", "records", "delivered", "filtered", "retried",
                            "bisected", "to_destination", "discarded", "unsettled", "lost", "invocations"}}
    bus        {"events_put", "events_failed", "events": {"source/detail-type": n},
                "deliveries", "retries", "dead_lettered", "dropped"}
    async      {"invocations", "succeeded", "retries", "on_failure", "lost"}
    dynamodb   {LogicalId: {"name", "items"}}        sqs {LogicalId: {"name", "messages"}}
    sns        {LogicalId: {"name", "published"}}    s3  {LogicalId: {"name", "objects"}}
    ses        {"sent"}
    parked     {"total", "destinations": {ARN: {"name", "kind", "count", "source", "reason"}}}  (parked.py)
    lost       {"total", "details": [text]}
    skipped    {"total", "details": [text]}  triggers localfaas skips that had work (localfaas.skipped)
    aws_calls  {"total", "business_records", "per_business_record",
                LogicalId: {"calls", "records", "per_record", "operations": {"service:Operation": n}}}
               the functions' AWS requests (localfaas.call_meter); None where the backend cannot tell

A record is lost when it was neither processed, filtered out, nor put in an on-failure destination;
an event is lost when a target never got it and no dead-letter queue or destination did either.
What is in a failure destination is not lost but parked: the verdict says how much, beside NOTHING
LOST, because a valid record parked there has not had its effect yet (`localfaas redrive`).

Metrics name one number in it: `section.field` or `section.field[key]`. A keyed section is indexed
by logical id (or by the resource's physical name); without a key, its field is summed over all
entries: `ses.sent`, `dynamodb.items[OrdersTable]`, `esm.to_destination`,
`bus.events[storefront.accounts/AccountCreated]`, `lost.total`, `aws_calls.per_business_record`,
`aws_calls.calls[CreateAccount]`.

Past 400 lines because the report is one document: its sections are built and rendered side by
side, so a section's data and its text change together; the renderers are the part to move out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localfaas.async_invoke import AsyncOutcome
    from localfaas.bus import Outcome
    from localfaas.esm import KafkaEventSourceMapping, PollReport
    from localfaas.runtime import InvocationResult
    from localfaas.scenario import Check
    from localfaas.template import Resource

__all__ = [
    "CheckResult",
    "FunctionStats",
    "MetricError",
    "Report",
    "async_summary",
    "aws_calls_summary",
    "bus_summary",
    "mapping_summary",
    "percentile",
    "resource_summary",
    "source_summary",
]

_METRIC = re.compile(r"^(?P<section>[A-Za-z_]+)(?:\.(?P<field>[A-Za-z_]+))?(?:\[(?P<key>[^\]]+)\])?$")


class MetricError(LookupError):
    """A metric that names nothing in the report, or a number the backend cannot tell."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    metric: str
    op: str
    expected: float
    actual: float | None
    ok: bool
    error: str | None = None
    expected_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None or k == "actual"}


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Report:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def lost(self) -> int:
        return int(self.data.get("lost", {}).get("total", 0))

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.data.get("checks", []))

    @property
    def ok(self) -> bool:
        """Nothing lost, no skipped trigger had work, every check passed, and the run was not interrupted."""
        skipped = int(self.data.get("skipped", {}).get("total", 0))
        return (
            self.lost == 0
            and not skipped
            and all(check["ok"] for check in self.checks)
            and not self.interrupted
        )

    @property
    def interrupted(self) -> bool:
        return bool(self.data.get("run", {}).get("interrupted"))

    def mark_interrupted(self) -> None:
        """The run was stopped before it finished (Ctrl-C): this is a report of what ran so far. Its
        checks are dropped, since they describe a finished run and would fail for that reason alone."""
        self.data.setdefault("run", {})["interrupted"] = True
        self.data["checks"] = []

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=False)

    # -- metrics and checks ---------------------------------------------------------------------

    def metric(self, path: str) -> float:
        """The number a metric names; MetricError says what exists instead."""
        match = _METRIC.match(path.strip())
        if match is None:
            raise MetricError(f"metric {path!r} is not section.field or section.field[key]")
        section_name, field, key = match.group("section", "field", "key")
        section = self.data.get(section_name)
        if not isinstance(section, dict) or section_name in ("checks",):
            known = ", ".join(k for k, v in self.data.items() if isinstance(v, dict))
            raise MetricError(f"metric {path!r}: no section {section_name!r} (known: {known})")
        if field is None:
            field = "total"
        if field in section:
            return _number(path, _pick(path, section[field], key))
        entries = {k: v for k, v in section.items() if isinstance(v, dict)}
        if key is None:
            if not entries or not any(field in entry for entry in entries.values()):
                raise MetricError(f"metric {path!r}: {section_name} has no field {field!r}")
            return sum(_number(path, entry.get(field, 0)) for entry in entries.values())
        entry = entries.get(key) or next((e for e in entries.values() if e.get("name") == key), None)
        if entry is None:
            known = ", ".join(sorted(entries)) or "none"
            raise MetricError(f"metric {path!r}: {section_name} has no {key!r} (known: {known})")
        if field not in entry:
            raise MetricError(f"metric {path!r}: {section_name}[{key}] has no field {field!r}")
        return _number(path, entry[field])

    def evaluate(self, checks: Iterable[Check]) -> list[CheckResult]:
        """Evaluate `checks` against this report and record the results under "checks"."""
        results = [self._check(check) for check in checks]
        self.data["checks"] = [result.to_dict() for result in results]
        return results

    def _check(self, check: Check) -> CheckResult:
        try:
            actual = self.metric(check.metric)
        except MetricError as e:
            return CheckResult(
                check.name, check.metric, check.op, check.value, None, False, str(e), check.expected_key
            )
        ok = {
            "equals": actual == check.value,
            "min": actual >= check.value,
            "max": actual <= check.value,
        }[check.op]
        return CheckResult(
            check.name, check.metric, check.op, check.value, actual, ok, None, check.expected_key
        )

    # -- text ------------------------------------------------------------------------------------

    def render(self) -> str:
        return "\n".join(_render(self.data)) + "\n"


def _pick(path: str, value: Any, key: str | None) -> Any:
    if key is None:
        return sum(_number(path, v) for v in value.values()) if isinstance(value, dict) else value
    if not isinstance(value, dict):
        raise MetricError(f"metric {path!r}: [{key}] indexes nothing here")
    return value.get(key, 0)  # a source/detail-type never seen was put 0 times


def _number(path: str, value: Any) -> float:
    if value is None:
        raise MetricError(f"metric {path!r}: not available on this backend")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricError(f"metric {path!r} is not a number")
    return value


# -- what the stack's parts did ----------------------------------------------------------------------


@dataclass
class FunctionStats:
    """One function's invocations, added up as they happen; the counts and the total time are kept
    across restarts on one state folder (`saved`, `resumed`), the durations for the 95th percentile
    are this process's."""

    invocations: int = 0
    errors: int = 0
    cold_starts: int = 0
    total_ms: float = 0.0
    durations_ms: list[float] = field(default_factory=list)

    def record(self, result: InvocationResult) -> None:
        self.invocations += 1
        self.errors += 0 if result.ok else 1
        self.cold_starts += 1 if result.init_duration_ms is not None else 0
        self.total_ms += result.duration_ms
        self.durations_ms.append(result.duration_ms)

    def saved(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("invocations", "errors", "cold_starts", "total_ms")}

    @classmethod
    def resumed(cls, saved: dict[str, Any]) -> FunctionStats:
        return cls(**saved)

    def to_dict(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "errors": self.errors,
            "cold_starts": self.cold_starts,
            "mean_ms": round(self.total_ms / self.invocations, 2) if self.invocations else 0.0,
            "p95_ms": round(percentile(self.durations_ms, 0.95), 2),
        }


def mapping_summary(
    mapping: KafkaEventSourceMapping,
    function: str,
    records: int,
    lost: list[str],
    *,
    stopped: bool = False,
    unsettled: int | None = None,
) -> dict[str, Any]:
    """One Kafka mapping's row: `records` is what its partitions received since it started. What it
    discarded is lost. What it never settled is lost at the end of a run (still retrying, or its
    destination unreachable); when a long-running stack is stopped it is pending instead: its offsets
    were never committed, so the next start delivers it again. `unsettled`, when given, is read from
    the log (end offsets - committed offsets), which a restart does not forget; by default it is
    `records` less what this mapping's counters settled."""
    return source_summary(
        mapping.config.logical_id,
        function,
        ",".join(mapping.config.topics),
        mapping.stats,
        records,
        lost,
        stopped=stopped,
        unsettled=unsettled,
    )


def source_summary(
    name: str,
    function: str,
    reads: str,
    stats: PollReport,
    records: int,
    lost: list[str],
    *,
    stopped: bool = False,
    unsettled: int | None = None,
) -> dict[str, Any]:
    """The `esm` row of any event source (a Kafka mapping, a queue, a stream...): `reads` names what
    it reads, `stats` are its running counts, `records` what it received; see mapping_summary."""
    if unsettled is None:
        unsettled = max(0, records - stats.records_settled)
    if stats.records_discarded:
        lost.append(f"{name}: {stats.records_discarded} record(s) discarded (no on-failure destination)")
    if unsettled and not stopped:
        lost.append(
            f"{name}: {unsettled} record(s) never settled (retrying forever, or their on-failure "
            f"destination could not be reached: {stats.destination_errors} failed deliveries)"
        )
    return {
        "function": function,
        "topic": reads,
        "records": records,
        "delivered": stats.records_delivered,
        "filtered": stats.records_filtered,
        "retried": stats.retries,
        "bisected": stats.batches_bisected,
        "to_destination": stats.records_to_destination,
        "discarded": stats.records_discarded,
        "unsettled": unsettled,
        "lost": stats.records_discarded + (0 if stopped else unsettled),
        "invocations": stats.invocations,
    }


def bus_summary(
    outcomes: list[Outcome], events: dict[str, int], events_failed: int, lost: list[str]
) -> dict[str, Any]:
    """Events put (by "source/detail-type") and what became of them at each target."""
    lost.extend(
        f"event {o.event_id} for rule {o.rule} target {o.target} dropped: {o.error}"
        for o in outcomes
        if o.result == "dropped"
    )
    return {
        "events_put": sum(events.values()),
        "events_failed": events_failed,
        "events": events,
        "deliveries": sum(o.result == "delivered" for o in outcomes),
        "retries": sum(o.attempts - 1 for o in outcomes),
        "dead_lettered": sum(o.result == "dead-lettered" for o in outcomes),
        "dropped": sum(o.result == "dropped" for o in outcomes),
    }


def async_summary(outcomes: list[AsyncOutcome], delivered: set[str], lost: list[str]) -> dict[str, Any]:
    """Asynchronous invocations; one given up on is lost unless its record reached a destination or DLQ
    (`delivered` holds those request ids)."""
    failed = [o for o in outcomes if o.condition != "Success"]
    dropped = [o for o in failed if o.request_id not in delivered]
    lost.extend(
        f"{o.function_name}: asynchronous invocation {o.request_id} given up on ({o.condition}, "
        f"{o.attempts} attempt(s)) with no destination or DLQ that took it"
        for o in dropped
    )
    return {
        "invocations": len(outcomes),
        "succeeded": len(outcomes) - len(failed),
        "retries": sum(max(o.attempts - 1, 0) for o in outcomes),
        "on_failure": len(failed) - len(dropped),
        "lost": len(dropped),
    }


def aws_calls_summary(
    counts: dict[str, dict[str, int]] | None, given: dict[str, int], business_records: int
) -> dict[str, Any]:
    """The functions' AWS calls (localfaas.call_meter's counts; None where they are not counted), each
    function's per record it was given (`given`), and all of them per business record fed to the run."""
    if counts is None:
        return {"total": None, "business_records": business_records, "per_business_record": None}
    summary: dict[str, Any] = {}
    for name, operations in sorted(counts.items()):
        calls, records = sum(operations.values()), given.get(name, 0)
        summary[name] = {
            "calls": calls,
            "records": records,
            "per_record": round(calls / records, 2) if records else None,
            "operations": dict(sorted(operations.items(), key=lambda item: (-item[1], item[0]))),
        }
    total = sum(entry["calls"] for entry in summary.values())
    return {
        "total": total,
        "business_records": business_records,
        "per_business_record": round(total / business_records, 2) if business_records else None,
        **summary,
    }


# -- the resources' side of the report ---------------------------------------------------------------


def resource_summary(resources: list[Resource], client: Callable[[str], Any], outbound: Any) -> dict:
    """Items per table, messages per queue, published messages per topic, objects per bucket and emails
    sent, read back from the backend through AWS's APIs; publishes and emails since the stack's
    baseline (`outbound`, an outbound.Outbound). A number the backend cannot tell is None."""
    by_type: dict[str, list[Resource]] = {}
    for resource in resources:
        by_type.setdefault(resource.type, []).append(resource)
    summary: dict[str, Any] = {}
    tables = by_type.get("AWS::DynamoDB::Table", [])
    summary["dynamodb"] = {
        r.logical_id: {"name": r.physical_name, "items": _items(client, r)} for r in tables
    }
    queues = by_type.get("AWS::SQS::Queue", [])
    summary["sqs"] = {
        r.logical_id: {"name": r.physical_name, "messages": _messages(client, r)} for r in queues
    }
    summary["sns"] = {
        r.logical_id: {"name": r.physical_name, "published": outbound.published(r.physical_name)}
        for r in by_type.get("AWS::SNS::Topic", [])
    }
    buckets = by_type.get("AWS::S3::Bucket", [])
    summary["s3"] = {r.logical_id: {"name": r.physical_name, "objects": _objects(client, r)} for r in buckets}
    summary["ses"] = {"sent": outbound.emails_sent()}
    return summary


def _items(client: Callable[[str], Any], table: Resource) -> int | None:
    # A COUNT scan, not DescribeTable's ItemCount, which AWS refreshes only every six hours.
    try:
        pages = (
            client("dynamodb").get_paginator("scan").paginate(TableName=table.physical_name, Select="COUNT")
        )
        return sum(page["Count"] for page in pages)
    except Exception:
        return None


def _messages(client: Callable[[str], Any], queue: Resource) -> int | None:
    sqs = client("sqs")
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    try:
        url = sqs.get_queue_url(QueueName=queue.physical_name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    except Exception:
        return None
    return sum(int(attributes.get(name, 0)) for name in names)


def _objects(client: Callable[[str], Any], bucket: Resource) -> int | None:
    try:
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket.physical_name)
        return sum(page.get("KeyCount", 0) for page in pages)
    except Exception:
        return None


# -- rendering ---------------------------------------------------------------------------------------


def _render(data: dict[str, Any]) -> Iterable[str]:
    run, records = data.get("run", {}), data.get("records", {})
    command = run.get("command", "run")
    yield f"localfaas {command}: {run.get('scenario') or run.get('template', '')}"
    if command == "up":  # fed from other terminals: what its mappings read, whoever produced it
        fed, ended = f"{records.get('read', 0)} records read from the log", "stopped after"
    else:
        fed = f"{records.get('produced', 0)} records produced"
        ended = "interrupted after" if run.get("interrupted") else "finished in"
    yield (
        f"  {run.get('runtime', '?')} runtime, {run.get('log', '?')} log, {run.get('backend', '?')} backend; "
        f"{fed}, {data.get('bus', {}).get('events_put', 0)} events put, {ended} {run.get('duration_s', 0):.1f} s"
    )
    yield from _functions(data.get("functions", {}))
    yield from _mappings(data.get("esm", {}))
    yield from _expected_failures(data.get("checks", []))
    yield from _bus(data.get("bus", {}), data.get("async", {}))
    yield from _resources(data)
    yield from _aws_calls(data.get("aws_calls"))
    yield from _parked(data.get("parked"))
    yield from _checks(data.get("checks", []))
    lost = data.get("lost", {})
    yield ""
    parked = (data.get("parked") or {}).get("total", 0)
    skipped = data.get("skipped") or {}
    if run.get("interrupted"):
        yield from _interrupted(data)
    elif not lost.get("total") and skipped.get("total"):  # nothing lost of what ran; some did not run
        yield from _skipped(skipped)
    elif not lost.get("total"):
        yield (
            f"NOTHING LOST ({_parked_note(parked, bool(run.get('backend_kept')))})"
            if parked
            else "NOTHING LOST"
        )
        pending = sum(m.get("unsettled", 0) for m in data.get("esm", {}).values() if not m.get("lost"))
        if pending:
            yield f"  {pending} record(s) pending: not committed, so delivered again on the next start"
    else:
        yield f"LOST: {lost['total']}" + (
            f" ({_parked_note(parked, bool(run.get('backend_kept')))})" if parked else ""
        )
        for line in lost.get("details", []):
            yield f"  {line}"
        if skipped.get("total"):
            yield from _skipped(skipped)


def _skipped(skipped: dict[str, Any]) -> Iterable[str]:
    """Triggers localfaas skipped that had work (localfaas.skipped): not lost, not run either."""
    yield f"NOT RUN: {skipped['total']} trigger(s) localfaas skips had work"
    for line in skipped.get("details", []):
        yield f"  {line}"


def _parked_note(parked: int, backend_kept: bool) -> str:
    if not backend_kept:  # its own moto stops with the stack: nothing is left to redrive from
        return f"{parked} parked in failure destinations, listed above"
    return f"{parked} parked in failure destinations: `localfaas redrive` sends them again once the cause is fixed"


def _parked(parked: dict[str, Any] | None) -> Iterable[str]:
    """Only the destinations that hold something: the rest of the template's would be noise."""
    if parked is None:
        return
    rows = [
        [d["name"], d["kind"], _few(d["source"]), d["reason"] or "-", d["count"]]
        for d in parked.get("destinations", {}).values()
        if d["count"] != 0
    ]
    header = ["destination", "kind", "from", "why", "count"]
    yield from _table("Parked in failure destinations", header, rows, text_columns=4)


def _interrupted(data: dict[str, Any]) -> Iterable[str]:
    unsettled = sum(m.get("unsettled", 0) for m in data.get("esm", {}).values())
    yield f"INTERRUPTED: what ran before Ctrl-C; {unsettled} record(s) not yet settled, checks not evaluated"
    for line in data.get("lost", {}).get("details", []):
        yield f"  lost: {line}"


def _table(
    title: str, header: list[str], rows: list[list[Any]], *, text_columns: int = 1, text_last: bool = False
) -> Iterable[str]:
    """Columns of text left-aligned (the first `text_columns`, and the last with `text_last`), numbers
    right-aligned."""
    yield ""
    yield title
    if not rows:
        yield "  (none)"
        return
    cells = [header, *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        parts = [
            value.ljust(width)
            if i < text_columns or (text_last and i == len(header) - 1)
            else value.rjust(width)
            for i, (value, width) in enumerate(zip(row, widths, strict=True))
        ]
        yield ("  " + "  ".join(parts)).rstrip()


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _functions(functions: dict[str, Any]) -> Iterable[str]:
    rows = [
        [name, f["invocations"], f["errors"], f["cold_starts"], f["mean_ms"], f["p95_ms"]]
        for name, f in sorted(functions.items())
    ]
    yield from _table("Invocations", ["function", "count", "errors", "cold", "mean ms", "p95 ms"], rows)


def _mappings(mappings: dict[str, Any]) -> Iterable[str]:
    rows = [
        [
            f"{name} ({m['topic']} -> {m['function']})",
            m["records"],
            m["delivered"],
            m["filtered"],
            m["retried"],
            m["bisected"],
            m["to_destination"],
            m["lost"],
        ]
        for name, m in sorted(mappings.items())
    ]
    header = [
        "event source mapping",
        "records",
        "delivered",
        "filtered",
        "retried",
        "bisected",
        "on-failure",
        "lost",
    ]
    yield from _table("Event source mappings", header, rows)


def _bus(bus: dict[str, Any], invoker: dict[str, Any]) -> Iterable[str]:
    rows = [[name, count] for name, count in sorted(bus.get("events", {}).items())]
    yield from _table("EventBridge events put (source/detail-type)", ["event", "count"], rows)
    yield (
        f"  deliveries {bus.get('deliveries', 0)}, retries {bus.get('retries', 0)}, "
        f"dead-lettered {bus.get('dead_lettered', 0)}, dropped {bus.get('dropped', 0)}, "
        f"entries refused {bus.get('events_failed', 0)}"
    )
    yield (
        f"  asynchronous invocations {invoker.get('invocations', 0)}: succeeded {invoker.get('succeeded', 0)}, "
        f"retries {invoker.get('retries', 0)}, to on-failure destination or DLQ {invoker.get('on_failure', 0)}"
    )


def _resources(data: dict[str, Any]) -> Iterable[str]:
    rows: list[list[Any]] = []
    for section, count, label in (
        ("dynamodb", "items", "DynamoDB items"),
        ("sqs", "messages", "SQS messages waiting"),
        ("sns", "published", "SNS messages published"),
        ("s3", "objects", "S3 objects"),
    ):
        rows += [[f"{label}: {name}", entry[count]] for name, entry in sorted(data.get(section, {}).items())]
    if "ses" in data:
        rows.append(["SES emails sent", data["ses"].get("sent")])
    yield from _table("Resources", ["resource", "count"], rows)


def _aws_calls(calls: dict[str, Any] | None) -> Iterable[str]:
    """One line per function: its calls, per record it was given, its most frequent operations."""
    if calls is None:
        return
    if calls.get("total") is None:
        yield ""
        yield "AWS calls: not counted on this backend (the functions share its credentials)"
        return
    rows = [
        [
            name,
            entry["calls"],
            entry["records"],
            "n/a" if entry["per_record"] is None else f"{entry['per_record']:.2f}",
            _few(", ".join(f"{op} {n}" for op, n in entry["operations"].items()), shown=3),
        ]
        for name, entry in calls.items()
        if isinstance(entry, dict)
    ]
    header = ["function", "calls", "records", "per record", "operations"]
    yield from _table("AWS calls (requests the functions made)", header, rows, text_last=True)
    per = calls.get("per_business_record")
    yield (
        f"  total {calls['total']} for {calls.get('business_records', 0)} business records"
        + ("" if per is None else f": {per:.2f} a record")
    )


def _checks(checks: list[dict[str, Any]]) -> Iterable[str]:
    if not checks:
        return
    symbols = {"equals": "==", "min": ">=", "max": "<="}
    rows = [
        [
            ("ok  " if c["ok"] else "FAIL") + f"  {c['name']}",
            c["metric"],
            f"{symbols[c['op']]} {_cell(_integral(c['expected']))}",
            _cell(_integral(c.get("actual"))),
        ]
        for c in checks
    ]
    yield from _table("Checks", ["check", "metric", "expected", "actual"], rows, text_columns=2)
    for c in checks:
        if c.get("error"):
            yield f"  {c['name']}: {c['error']}"


def _few(names: str, shown: int = 1) -> str:
    parts = names.split(", ")
    return names if len(parts) <= shown else f"{', '.join(parts[:shown])} and {len(parts) - shown} more"


# Metrics that count failures: a passing check on one says how many the scenario meant to cause.
_FAILURE_METRICS = (
    "esm.to_destination",
    "esm.retried",
    "esm.discarded",
    "functions.errors",
    "bus.dead_lettered",
)


def _expected_failures(checks: list[dict[str, Any]]) -> Iterable[str]:
    """Errors and on-failure records the scenario's checks expect (its deliberately malformed records),
    named as such beside the tables, so that they do not read as failures of the run."""
    for c in checks:
        metric = c["metric"].split("[", 1)[0]
        if c["ok"] and metric in _FAILURE_METRICS and c.get("actual"):
            why = f" ({c['expected_key']})" if c.get("expected_key") else ""
            yield (
                f"  expected: {_cell(_integral(c['actual']))} {c['metric']}, as the scenario's check "
                f"{c['name']!r}{why} says; the function errors above include their attempts"
            )


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value
