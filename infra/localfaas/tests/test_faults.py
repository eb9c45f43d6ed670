"""Fault plans: the plan's parser, its seeded dice, and the runtime that crashes or times out on purpose."""

from __future__ import annotations

import pytest

from localfaas.faults import (
    Dice,
    FaultPlan,
    FaultPlanError,
    FaultyRuntime,
    fault_plan_from_mapping,
    parse_fault_plan,
)
from localfaas.runtime import InvocationResult


def test_a_plan_reads_every_key_the_flag_takes():
    plan, given = parse_fault_plan("throttle=0.2,crash=0.05,timeout=0.05,kill-after=40,seed=7")
    assert plan == FaultPlan(throttle=0.2, crash=0.05, timeout=0.05, kill_after=40, seed=7)
    assert given == {"throttle", "crash", "timeout", "kill-after", "seed"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("throttle=2", "throttle=2 is not a share between 0 and 1"),
        ("thrtle=0.1", "thrtle: unknown fault (expected throttle=, crash=, timeout=, kill-after=, seed=)"),
        ("crash", "fault 'crash' is not key=value"),
        ("crash=lots", "crash='lots' is not a number"),
        ("kill-after=2.5", "kill-after='2.5' is not a whole number"),
        ("kill-after=-1", "kill-after=-1 is negative"),
        ("crash=0.6,timeout=0.6", "crash and timeout together exceed every invocation"),
    ],
)
def test_a_bad_plan_is_refused_on_one_line_naming_the_key(text, message):
    with pytest.raises(FaultPlanError) as error:
        parse_fault_plan(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_scenarios_plan_takes_json_numbers_and_names_its_field_in_errors():
    assert fault_plan_from_mapping({"throttle": 0.5, "seed": 3}) == FaultPlan(throttle=0.5, seed=3)
    with pytest.raises(FaultPlanError, match=r"^faults\.throttle=True is not a number"):
        fault_plan_from_mapping({"throttle": True}, where="faults.")


def test_the_flag_overrides_the_scenarios_plan_key_by_key():
    scenario = FaultPlan(throttle=0.2, crash=0.1, seed=1)
    flag, given = parse_fault_plan("crash=0,seed=9")
    assert flag.over(scenario, given) == FaultPlan(throttle=0.2, crash=0.0, seed=9)


def test_a_plans_text_reads_back_as_the_same_plan():
    plan = FaultPlan(throttle=0.25, crash=0.05, kill_after=12, seed=4)
    assert parse_fault_plan(plan.text())[0] == plan
    assert parse_fault_plan(plan.without_kill().text())[0].kill_after == 0


def test_an_unseeded_plan_draws_a_seed_once():
    plan = FaultPlan(throttle=0.1).seeded()
    assert plan.seed is not None
    assert plan.seeded() == plan


def test_the_same_seed_draws_the_same_faults_and_each_kind_has_its_own_stream():
    first, second = Dice(42), Dice(42)
    draws = [first.roll("throttle", 0.3) for _ in range(200)]
    assert draws == [second.roll("throttle", 0.3) for _ in range(200)]
    assert 20 < sum(draws) < 100  # a share of 0.3, not all or nothing
    interleaved = Dice(42)
    mixed = []
    for _ in range(200):
        interleaved.roll("crash", 0.5)  # crashes drawn in between do not move the throttles
        mixed.append(interleaved.roll("throttle", 0.3))
    assert mixed == draws
    other = Dice(43)
    assert [other.roll("throttle", 0.3) for _ in range(200)] != draws


class _Succeeding:
    def __init__(self):
        self.calls = 0
        self.closed = False

    def invoke(self, function, event, *, request_id=None):
        self.calls += 1
        return InvocationResult(function.function_name, request_id or f"r-{self.calls}", payload={"ok": 1})

    def close(self):
        self.closed = True


class _Function:
    function_name = "localfaas-Fn"
    timeout = 3


def test_a_crash_is_reported_after_the_handler_ran_as_lambda_reports_a_killed_runtime():
    inner = _Succeeding()
    runtime = FaultyRuntime(inner, FaultPlan(crash=1.0, seed=1), Dice(1))
    result = runtime.invoke(_Function(), {})
    assert inner.calls == 1  # the handler ran: its effects happened
    assert result.error["errorType"] == "Runtime.ExitError"
    assert result.error["errorMessage"] == "RequestId: r-1 Error: Runtime exited with error: signal: killed"
    assert result.payload is None


def test_a_timeout_is_reported_with_the_functions_timeout():
    runtime = FaultyRuntime(_Succeeding(), FaultPlan(timeout=1.0, seed=1), Dice(1))
    result = runtime.invoke(_Function(), {})
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert result.error["errorMessage"] == "RequestId: r-1 Error: Task timed out after 3.00 seconds"
    assert "Task timed out after 3.00 seconds" in result.logs


def test_an_invocation_that_failed_by_itself_keeps_its_own_error():
    class Failing(_Succeeding):
        def invoke(self, function, event, *, request_id=None):
            result = super().invoke(function, event, request_id=request_id)
            result.error = {"errorType": "ValueError", "errorMessage": "bad"}
            return result

    result = FaultyRuntime(Failing(), FaultPlan(crash=1.0, seed=1), Dice(1)).invoke(_Function(), {})
    assert result.error["errorType"] == "ValueError"


def test_kill_after_kills_right_after_that_invocation_and_only_then():
    kills = []
    inner = _Succeeding()
    runtime = FaultyRuntime(
        inner, FaultPlan(kill_after=2, seed=1), Dice(1), kill=lambda: kills.append(inner.calls)
    )
    for _ in range(4):
        runtime.invoke(_Function(), {})
    assert kills == [2]
    runtime.close()
    assert inner.closed


def test_without_faults_every_answer_is_the_handlers():
    runtime = FaultyRuntime(_Succeeding(), FaultPlan(seed=5), Dice(5))
    assert all(runtime.invoke(_Function(), {}).ok for _ in range(50))


def test_a_scenario_carries_its_fault_plan_and_a_bad_one_names_the_field():
    from localfaas.scenario import ScenarioError, parse_scenario

    assert parse_scenario({"faults": {"throttle": 0.2, "seed": 7}}).faults == FaultPlan(throttle=0.2, seed=7)
    assert parse_scenario({}).faults is None
    with pytest.raises(ScenarioError, match=r"^scenario: faults\.thrtle: unknown fault \(expected"):
        parse_scenario({"faults": {"thrtle": 0.1}})


def test_run_refuses_a_bad_fault_plan_on_one_line_with_usage_status(tmp_path, capsys):
    from infra.localfaas.tests.test_run import DAY, write_scenario, write_shop
    from localfaas.cli import main

    write_shop(tmp_path)
    scenario = write_scenario(tmp_path, DAY)
    assert main(["run", "--scenario", str(scenario), "--faults", "throttle=2"]) == 2
    err = capsys.readouterr().err
    assert err == "localfaas run: error: --faults: throttle=2 is not a share between 0 and 1\n"


@pytest.mark.parametrize("kind", ["crash", "timeout"])
def test_failed_answers_take_the_mappings_and_lambdas_retry_paths_while_the_effects_stay(tmp_path, kind):
    from infra.localfaas.tests.test_run import DAY, ids, write_scenario, write_shop
    from localfaas.local_stack import LocalStack
    from localfaas.scenario import load_scenario

    write_shop(tmp_path)
    day = load_scenario(write_scenario(tmp_path, [r for r in DAY if r["topic"] == "orders"]))
    plan = FaultPlan(**{kind: 1.0}, seed=1)
    with LocalStack(day.template, topics=day.topics, faults=plan) as stack:
        stack.run_scenario(day)
        report = stack.report(day)
        orders, notices = ids(stack, "order"), ids(stack, "notice")
    # Each handler ran and did its work; only the answers were lost.
    assert orders == ["o-1", "o-2", "o-3"]
    assert notices == ["notified#o-1", "notified#o-2", "notified#o-3"]
    # The mapping retried (MaximumRetryAttempts 1, bisecting) and sent every record to its destination.
    mapping = report.data["esm"]["TakeOrderOrders"]
    assert mapping["to_destination"] == 3 and mapping["retried"] > 0 and mapping["delivered"] == 0
    # Lambda retried every asynchronous invocation twice, then gave up (no destination configured).
    invocations = report.data["async"]["invocations"]
    assert report.data["async"]["retries"] == 2 * invocations
    assert report.data["async"]["lost"] == invocations
    assert report.data["functions"]["Notify"]["invocations"] == 3 * invocations
    assert report.data["faults"]["injected"][kind] == sum(
        f["invocations"] for f in report.data["functions"].values()
    )


def test_up_takes_the_same_plan_and_refuses_a_bad_one_before_starting(tmp_path, capsys):
    from localfaas.cli import main

    assert main(["up", "--template", str(tmp_path / "none.yaml"), "--faults", "crash=0.1,thrtle=1"]) == 2
    assert capsys.readouterr().err == (
        "localfaas up: error: --faults: thrtle: unknown fault "
        "(expected throttle=, crash=, timeout=, kill-after=, seed=)\n"
    )


def test_a_seeded_plan_draws_the_same_faults_run_after_run(tmp_path):
    from infra.localfaas.tests.test_run import DAY, write_scenario, write_shop
    from localfaas.local_stack import LocalStack
    from localfaas.scenario import load_scenario

    write_shop(tmp_path)
    day = load_scenario(write_scenario(tmp_path, DAY))
    plan = FaultPlan(throttle=0.3, crash=0.2, seed=11)

    def run_once():
        with LocalStack(day.template, topics=day.topics, faults=plan) as stack:
            stack.run_scenario(day)
            data = stack.report(day).data
        return data["faults"]["injected"], {name: f["invocations"] for name, f in data["functions"].items()}

    first = run_once()
    assert first[0]["crash"] > 0 and any(what.startswith("throttled ") for what in first[0])
    assert run_once() == first
