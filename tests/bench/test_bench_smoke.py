"""The benchmark harness runs end to end on tiny inputs and writes results of the documented shape.

Timings are not checked (benchmarks never fail the suite on time); what is checked is that every
benchmark produces figures, that a measured figure carries its value, baseline, ratio and verdict,
and that the markdown report is generated from them.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time

import pytest

from tests.bench.__main__ import main
from tests.bench.harness import TINY, OverBudget, in_child

FIGURE_KEYS = {
    "benchmark", "name", "description", "status", "value", "unit", "spread", "baseline", "ratio",
    "target", "met", "context", "profile", "bound", "reason",
}  # fmt: skip


def test_tiny_run_writes_results_and_report_of_the_documented_shape(tmp_path):
    results, doc = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"

    main(
        ["--only", "batch,cold_start,invoke,replay", "--results", str(results), "--doc", str(doc)],
        sizes=TINY,
    )

    document = json.loads(results.read_text())
    assert document["schema_version"] == 1
    assert {"cpu", "cores", "python", "packages", "commit"} <= document["machine"].keys()
    figures = {f["name"]: f for f in document["figures"]}
    assert {
        "batch.CreateAccount.stubbed",
        "batch.CreateAccount.moto",
        "cold_start.CreateAccount",
        "cold_start.CreateAccount.first_invoke",
    } <= figures.keys()
    assert {
        "invoke.in_process",
        "invoke.worker_process",
        "invoke.command",
        "replay.sqlite",
        "replay.postgresql",
    } <= figures.keys()
    for figure in figures.values():
        assert set(figure) == FIGURE_KEYS
        assert figure["status"] in {"measured", "pending", "error"}
        if figure["status"] == "measured":
            assert figure["value"] > 0 and figure["unit"] and figure["spread"]["runs"] >= 1
            assert figure["baseline"] is None or figure["ratio"] == figure["ratio"]  # a number, not NaN
            assert (figure["met"] is None) == (figure["target"] is None)
        else:
            assert figure["value"] is None and figure["reason"]
    for name in (
        "batch.CreateAccount.stubbed",
        "invoke.in_process",
        "invoke.worker_process",
        "invoke.command",
    ):
        assert figures[name]["status"] == "measured"
        assert figures[name]["baseline"]["value"] > 0 and isinstance(figures[name]["met"], bool)
    # The cold start's CPU time beside its wall clock, from the same runs.
    cpu = figures["cold_start.CreateAccount"]["context"]["cpu"]
    assert (
        cpu["ms"] > 0 and cpu["baseline_ms"] > 0 and abs(cpu["ratio"] - cpu["ms"] / cpu["baseline_ms"]) < 0.02
    )
    # Init and the first call, a record really processed (a failed record's path is an error figure).
    first = figures["cold_start.CreateAccount.first_invoke"]
    assert first["status"] == "measured", first["reason"]
    assert first["context"]["init_ms"] > 0 and first["context"]["first_invoke_ms"] > 0
    # `localfaas invoke` and python-lambda-local, the same number of processes each, in one run.
    command = figures["invoke.command"]
    assert command["baseline"]["name"].startswith("python-lambda-local")
    assert command["spread"]["runs"] == command["baseline"]["spread"]["runs"] == TINY.invoke_command_runs
    assert command["target"]["limit"] == 1.3
    # A real handler (AuditLog: Powertools, the storefront layer, one PutObject) the same way, no target.
    audit_log = figures["invoke.command_audit_log"]
    assert audit_log["status"] == "measured", audit_log["reason"]
    assert audit_log["baseline"]["value"] > 0 and audit_log["met"] is None
    assert audit_log["context"]["default_ms"] > 0 and audit_log["context"]["default_runs"] == 1
    text = doc.read_text()
    assert "## Method" in text and "## Machine" in text and "## Against its peers" in text
    assert "| batch.CreateAccount.stubbed |" in text
    assert "Measured in the same run: python-lambda-local " in text and "(not measured) a call" not in text


def test_durability_figure_is_a_ratio_of_the_durable_day_to_the_day_kept_in_memory(tmp_path):
    # TINY runs a few records of each topic, not the day: the shape is checked, not the cost.
    results, doc = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"

    main(["--only", "durability", "--results", str(results), "--doc", str(doc)], sizes=TINY)

    (figure,) = json.loads(results.read_text())["figures"]
    assert set(figure) == FIGURE_KEYS
    assert figure["name"] == "durability.business_day" and figure["status"] == "measured", figure["reason"]
    assert figure["unit"] == "µs/event" and figure["value"] > 0
    assert figure["baseline"]["name"].endswith("(durable=False)") and figure["baseline"]["value"] > 0
    assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"]["value"])
    assert figure["target"] is None and figure["met"] is None
    # The slice reaches the bus and Lambda's asynchronous queue, which is what the store keeps.
    assert figure["context"]["bus_entries"] > 0 and figure["context"]["async_invocations"] > 0
    assert "## Durability" in doc.read_text() and "| durability.business_day |" in doc.read_text()


def test_budgets_scale_with_the_yardstick_and_never_shrink():
    from tests.bench.harness import REFERENCE_YARDSTICK_MS

    slower = dataclasses.replace(TINY, yardstick_ms=2 * REFERENCE_YARDSTICK_MS)
    faster = dataclasses.replace(TINY, yardstick_ms=REFERENCE_YARDSTICK_MS / 2)
    assert slower.budget_s(30) == pytest.approx(60)
    assert faster.budget_s(30) == 30
    assert "x2.00" in slower.budget_note()


def test_work_over_its_budget_is_killed_and_the_next_figure_goes_on(tmp_path):
    with pytest.raises(OverBudget, match="had not settled after 1 s"):
        in_child(1, time.sleep, 120)
    assert multiprocessing.active_children() == []
    assert in_child(60, pow, 2, 10) == 1024
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        in_child(60, divmod, 1, 0)


def test_an_end_to_end_run_over_budget_is_a_figure_without_a_number_not_an_error(tmp_path):
    from tests.bench import end_to_end

    figure, calls = end_to_end._measured("embedded", "localfaas run", 0.5, TINY, tmp_path)
    assert figure.status == "pending" and figure.value is None
    assert figure.reason.startswith("over budget: had not settled after 0 s (budgets x")
    assert (calls.name, calls.status, calls.value) == ("aws_calls.total", "pending", None)
    assert calls.target["text"] == "at most 2.0 AWS calls per business record"


def test_the_aws_calls_figures_come_from_the_end_to_end_days_report(tmp_path, monkeypatch):
    """On a slice of the day (the first records of each topic, as the durability smoke test runs):
    the shape and the arithmetic, not the day's count."""
    import localfaas.scenario
    from tests.bench import aws_calls, durability, end_to_end
    from tests.bench.report import _aws_calls, _table

    day = durability._day(TINY)
    monkeypatch.setattr(localfaas.scenario, "load_scenario", lambda path: day)

    timed, total, *each = end_to_end.measure("embedded", TINY, tmp_path)

    assert timed.name == "end_to_end.embedded" and timed.status == "measured", timed.reason
    assert total.name == "aws_calls.total" and total.status == "measured", total.reason
    for figure in (total, *each):
        assert set(figure.as_json()) == FIGURE_KEYS
        assert figure.unit == "calls/record" and figure.benchmark == "end_to_end"
        assert figure.context["calls"] > 0
    records = len(day.records) + len(day.events)
    assert total.context["business_records"] == records
    assert total.context["calls"] == sum(f.context["calls"] for f in each)
    assert total.value == pytest.approx(total.context["calls"] / records, abs=1e-3)
    assert total.value == pytest.approx(sum(f.value for f in each), abs=1e-2)
    # The baseline is the day before issue 15's round, a constant: 8,090 calls for 1,632 records.
    assert total.baseline["value"] == pytest.approx(4.957, abs=1e-3) and total.baseline["name"].startswith(
        "the same day at commit"
    )
    assert total.ratio == pytest.approx(total.value / (8_090 / 1_632))
    assert total.met is (total.value <= 2.0)
    names = {f.name for f in each}
    assert {"aws_calls.CreateAccount", "aws_calls.AuditLog"} <= names
    create = next(f for f in each if f.name == "aws_calls.CreateAccount")
    assert create.target is None and create.met is None  # context: the total carries the target
    assert create.context["operations"] and create.context["records_given"] > 0
    table = "\n".join(_table([f.as_json() for f in (total, *each)]))
    assert f"| aws_calls.total | {total.value:.3g} calls/record |" in table
    assert aws_calls.BOUNDS["aws_calls.total"] == end_to_end.BOUNDS["aws_calls.total"]
    section = _aws_calls([timed.as_json(), *(f.as_json() for f in (total, *each))])
    assert section[:2] == ["", "## AWS calls"]
    assert f"{total.context['calls']:,} AWS calls, **{total.value:.2f} a record**" in section[3]
    assert sum(line.startswith("- ") for line in section) == len(each)


def test_an_overhead_target_holds_what_the_subject_adds_to_its_baseline():
    from tests.bench.harness import Target

    target = Target.overhead_below(0.2, "ms")
    assert target.met_by(0.25, ratio=0.25 / 0.1)  # 0.15 ms over a 0.1 ms baseline
    assert not target.met_by(0.35, ratio=0.35 / 0.1)  # 0.25 ms over it
    assert not target.met_by(0.1, ratio=None)  # no baseline, no verdict of met
    assert target.text == "under 0.2 ms over the baseline"
