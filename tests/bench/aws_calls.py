"""AWS calls per business record on the business day: issue 15's target 1, per function and in total.

Read from the report of the end-to-end run (tests.bench.end_to_end, embedded log): its `aws_calls`
section, which localfaas.call_meter counts (one per request a function made and the backend
served). Counts, not times: the same day makes the same calls on any machine, so each figure is one
run, and its baseline is that day's count before issue 15's round, a constant measured with the
same meter (BASELINE_COMMIT). `aws_calls.total` carries the target; `aws_calls.<Function>` is each
function's share of it (its calls per business record, so the shares add up to the total), with
its calls per record it was given and its operations as context.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tests.bench.harness import Figure, Target, pending

NAME = "end_to_end"  # these figures come from the end-to-end run, and are reported with it
UNIT = "calls/record"
TARGET = Target("value_max", 2.0, "at most 2.0 AWS calls per business record")

# The business day (1,632 records) at commit 8641fdd, 2026-12-04, before issue 15's round: the calls
# each function made, counted by localfaas.call_meter (which changes no function's calls). 8,090 in
# all, 4.96 a record: Powertools idempotency's GetItem, PutItem and UpdateItem per record (1,412,
# 1,924 with the reactions' own, 2,558 with theirs), one PutEvents per announced event (749), one
# S3 object per audited record and event (894).
BASELINE_COMMIT = "8641fdd"
BASELINE_RECORDS = 1_632
BASELINE_CALLS = {
    "AssembleOrder": 1_283,
    "AuditLog": 894,
    "CloseSalesTicket": 530,
    "CreateAccount": 1_504,
    "FulfilOrder": 800,
    "LockAccount": 375,
    "NotifySecurity": 60,
    "ReorderLowStock": 1_144,
    "SendAccountConfirmation": 1_500,
}
BASELINE_NAME = f"the same day at commit {BASELINE_COMMIT} (2026-12-04)"

BOUNDS = {
    "aws_calls.total": (
        "the calls each function still makes per record: the operations in each aws_calls.<Function> "
        "figure's context name them. At the baseline, 4.96 a record: Powertools idempotency's GetItem, "
        "PutItem and UpdateItem around every record, one PutEvents per announced event, one S3 object "
        "per audited record and event."
    ),
}


def figures(report: dict[str, Any]) -> list[Figure]:
    """aws_calls.total and one aws_calls.<Function> per function, from a run report's data."""
    calls = report.get("aws_calls") or {}
    if calls.get("total") is None:
        return [pending_total("the run's report counts no AWS calls (localfaas.call_meter, moto only)")]
    records = int(calls["business_records"])
    functions = {name: entry for name, entry in calls.items() if isinstance(entry, dict)}
    total = _figure(
        "aws_calls.total",
        "AWS calls per business record, every function, business day",
        calls["total"],
        records,
        sum(BASELINE_CALLS.values()),
        target=TARGET,
        context={"calls": calls["total"], "business_records": records, "functions": len(functions)},
    )
    each = [
        _figure(
            f"aws_calls.{name}",
            f"{name}'s AWS calls per business record of the day",
            entry["calls"],
            records,
            BASELINE_CALLS.get(name),
            context={
                "calls": entry["calls"],
                "records_given": entry["records"],
                "per_record_given": entry["per_record"],
                "operations": entry["operations"],
            },
        )
        for name, entry in sorted(functions.items())
    ]
    return [total, *each]


def pending_total(reason: str) -> Figure:
    return pending(NAME, "aws_calls.total", "AWS calls per business record, business day", reason, TARGET)


def _figure(
    name: str,
    description: str,
    calls: int,
    records: int,
    baseline_calls: int | None,
    *,
    target: Target | None = None,
    context: dict[str, Any],
) -> Figure:
    value = calls / records if records else 0.0
    baseline = None if baseline_calls is None else baseline_calls / BASELINE_RECORDS
    return Figure(
        NAME,
        name,
        description,
        value=value,
        unit=UNIT,
        # A count: one run says it all (no spread to speak of).
        spread={"min": value, "q1": value, "q3": value, "max": value, "runs": 1},
        baseline=None
        if baseline is None
        else {"name": BASELINE_NAME, "value": baseline, "unit": UNIT, "calls": baseline_calls},
        ratio=None if not baseline else value / baseline,
        target=None if target is None else asdict(target),
        met=None if target is None else target.met_by(value, None),
        context=context,
    )
