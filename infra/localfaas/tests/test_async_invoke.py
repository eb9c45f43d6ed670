"""Lambda asynchronous invocation: retries after 1 and 2 minutes, then the on-failure destination and
DLQ; and the scheduler those minutes are spent on, in virtual time."""

from __future__ import annotations

import json
import threading

import pytest

from localfaas.async_invoke import AsyncInvokeConfig, AsyncInvoker
from localfaas.bus import EventBus, Rule
from localfaas.runtime import InvocationResult
from localfaas.scheduler import RealTimeScheduler, VirtualScheduler

START = 1_700_000_000.0
ON_FAILURE = "arn:aws:sqs:us-east-1:123456789012:on-failure"
ON_SUCCESS = "arn:aws:sqs:us-east-1:123456789012:on-success"
DLQ = "arn:aws:sqs:us-east-1:123456789012:function-dlq"
ERROR = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}


class Function:
    """An `invoke` stub that fails its first `failures` calls, recording when it ran."""

    def __init__(self, clock, failures: int):
        self.clock = clock
        self.failures = failures
        self.calls: list[tuple[float, str, object]] = []

    def __call__(self, name, event):
        self.calls.append((self.clock.now(), name, event))
        if len(self.calls) <= self.failures:
            return InvocationResult(name, "r", error=ERROR)
        return InvocationResult(name, "r", payload={"done": True})


class Destinations:
    def __init__(self):
        self.sent: list[tuple[str, object, dict]] = []

    def __call__(self, arn, body, attributes):
        self.sent.append((arn, json.loads(body), {k: v["StringValue"] for k, v in attributes.items()}))


def make_invoker(failures: int, config: AsyncInvokeConfig | None = None):
    clock = VirtualScheduler(START)
    function = Function(clock, failures)
    destinations = Destinations()
    invoker = AsyncInvoker(function, destinations, clock, clock)
    invoker.configure("notify", config or AsyncInvokeConfig(on_failure=ON_FAILURE, dead_letter_arn=DLQ))
    return invoker, clock, function, destinations


def test_invoke_async_returns_before_the_function_runs():
    invoker, clock, function, _ = make_invoker(0)
    request_id = invoker.invoke_async("notify", {"a": 1})
    assert request_id and function.calls == []
    clock.run_until_idle()
    assert function.calls == [(START, "notify", {"a": 1})]


def test_function_error_is_retried_after_one_then_two_minutes():
    invoker, clock, function, destinations = make_invoker(2)
    invoker.invoke_async("notify", {"a": 1})
    clock.run_until_idle()
    assert [at - START for at, _, _ in function.calls] == [0, 60, 180]
    assert invoker.outcomes[0].condition == "Success"
    assert destinations.sent == []


def test_retries_exhausted_send_record_to_on_failure_destination():
    invoker, clock, function, destinations = make_invoker(3)
    request_id = invoker.invoke_async("notify", {"a": 1})
    clock.run_until_idle()
    assert len(function.calls) == 3
    arn, record, _ = destinations.sent[0]
    assert arn == ON_FAILURE
    assert record == {
        "version": "1.0",
        "timestamp": "2023-11-14T22:16:20.000Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"a": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": ERROR,
    }


def test_retries_exhausted_send_event_to_function_dlq_with_attributes():
    invoker, clock, _, destinations = make_invoker(3)
    request_id = invoker.invoke_async("notify", {"a": 1})
    clock.run_until_idle()
    arn, body, attributes = destinations.sent[1]
    assert (arn, body) == (DLQ, {"a": 1})
    assert attributes == {"RequestID": request_id, "ErrorCode": "200", "ErrorMessage": "boom"}


def test_zero_retries_gives_up_after_one_attempt():
    invoker, clock, function, destinations = make_invoker(5, AsyncInvokeConfig(0, on_failure=ON_FAILURE))
    invoker.invoke_async("notify", {})
    clock.run_until_idle()
    assert len(function.calls) == 1
    assert destinations.sent[0][1]["requestContext"]["approximateInvokeCount"] == 1


def test_event_age_limit_stops_retries():
    config = AsyncInvokeConfig(maximum_event_age_seconds=120, on_failure=ON_FAILURE)
    invoker, clock, function, destinations = make_invoker(5, config)
    invoker.invoke_async("notify", {})
    clock.run_until_idle()
    assert [at - START for at, _, _ in function.calls] == [0, 60]
    assert destinations.sent[0][1]["requestContext"]["condition"] == "EventAgeExceeded"


def test_success_goes_to_on_success_destination():
    invoker, clock, _, destinations = make_invoker(0, AsyncInvokeConfig(on_success=ON_SUCCESS))
    invoker.invoke_async("notify", {"a": 1})
    clock.run_until_idle()
    arn, record, _ = destinations.sent[0]
    assert arn == ON_SUCCESS
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"done": True}
    assert "functionError" not in record["responseContext"]


def test_config_from_template_properties():
    config = AsyncInvokeConfig.from_properties(
        {
            "MaximumRetryAttempts": 1,
            "MaximumEventAgeInSeconds": 300,
            "DestinationConfig": {"OnFailure": {"Destination": ON_FAILURE}},
        },
        {"DeadLetterConfig": {"TargetArn": DLQ}},
    )
    assert config == AsyncInvokeConfig(1, 300, None, ON_FAILURE, DLQ)


@pytest.mark.parametrize("kwargs", [{"maximum_retry_attempts": 3}, {"maximum_event_age_seconds": 59}])
def test_config_outside_lambda_limits_is_rejected(kwargs):
    with pytest.raises(ValueError):
        AsyncInvokeConfig(**kwargs)


def test_eventbridge_lambda_target_retries_function_errors_through_async_invocation():
    """The bus counts the event delivered once Lambda accepted it; Lambda retries the function error."""
    clock = VirtualScheduler(START)
    function = Function(clock, 3)
    destinations = Destinations()
    invoker = AsyncInvoker(function, destinations, clock, clock)
    invoker.configure("notify", AsyncInvokeConfig(on_failure=ON_FAILURE))
    rule = Rule.from_resource(
        "R",
        {
            "Properties": {
                "EventPattern": {"source": ["shop"]},
                "Targets": [{"Id": "fn", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:notify"}],
            }
        },
    )

    def deliver(target, payload):
        invoker.invoke_async(target.arn.rsplit(":", 1)[1], payload)

    bus = EventBus("default", [rule], deliver, clock=clock, account_id="123456789012", region="us-east-1")
    bus.put_events([{"Source": "shop", "DetailType": "T", "Detail": "{}"}])
    clock.run_until_idle()
    assert [o.result for o in bus.outcomes] == ["delivered"]
    assert len(function.calls) == 3
    assert destinations.sent[0][1]["requestPayload"]["source"] == "shop"


# -------------------------------------------------------------------------------------------- scheduler


def test_virtual_scheduler_runs_tasks_in_time_then_submission_order():
    clock = VirtualScheduler(100.0)
    ran = []
    clock.schedule(130, lambda: ran.append(("c", clock.now())))
    clock.schedule(110, lambda: ran.append(("a", clock.now())))
    clock.schedule(110, lambda: ran.append(("b", clock.now())))
    assert clock.run_until_idle() == 3
    assert ran == [("a", 110), ("b", 110), ("c", 130)]


def test_virtual_scheduler_never_moves_time_backwards():
    clock = VirtualScheduler(100.0)
    seen = []
    clock.schedule(50, lambda: seen.append(clock.now()))
    clock.run_until_idle()
    assert seen == [100.0]


def test_virtual_scheduler_advance_stops_at_the_deadline():
    clock = VirtualScheduler(0.0)
    ran = []
    clock.schedule(10, lambda: ran.append(10))
    clock.schedule(100, lambda: ran.append(100))
    clock.advance(50)
    assert (ran, clock.now(), clock.pending) == ([10], 50.0, 1)


def test_virtual_scheduler_refuses_endless_work():
    clock = VirtualScheduler(0.0)

    def again():
        clock.call_later(1, again)

    clock.schedule(0, again)
    with pytest.raises(RuntimeError):
        clock.run_until_idle(max_tasks=100)


def test_real_time_scheduler_runs_due_tasks_on_its_thread():
    scheduler = RealTimeScheduler()
    done = threading.Event()
    threads = []

    def task():
        threads.append(threading.current_thread().name)
        done.set()

    try:
        scheduler.schedule(scheduler.now(), task)
        assert done.wait(5)
        assert scheduler.run_until_idle(timeout=5)
        assert threads == ["localfaas-scheduler"]
    finally:
        scheduler.stop()


# ----------------------------------------------------------------------------- durability (issue 9)


def durable_invoker(tmp_path, failures: int, seed: int | str = 0):
    from localfaas.durable import DurableStore

    clock = VirtualScheduler(START)
    function = Function(clock, failures)
    destinations = Destinations()
    store = DurableStore(tmp_path / "state")
    invoker = AsyncInvoker(function, destinations, clock, clock, seed=seed, store=store)
    invoker.configure("notify", AsyncInvokeConfig(on_failure=ON_FAILURE, dead_letter_arn=DLQ))
    return invoker, clock, function, destinations, store


def test_a_queued_invocation_is_kept_before_its_request_id_returns_and_settled_on_success(tmp_path):
    invoker, clock, _, _, store = durable_invoker(tmp_path, 0)
    request_id = invoker.invoke_async("notify", {"a": 1})
    assert [kept.request_id for kept in store.unsettled_invocations()] == [request_id]
    clock.run_until_idle()
    assert store.unsettled_invocations() == []
    assert store.invocation_outcomes() == [(request_id, "notify", "Success", 1, False)]


def test_a_resumed_invocation_keeps_its_id_and_the_attempts_it_had_used(tmp_path):
    invoker, clock, function, _, _ = durable_invoker(tmp_path, 5)
    request_id = invoker.invoke_async("notify", {"a": 1})
    clock.run_until_idle(until=START + 61)  # two attempts failed, the third one minute off: the kill
    assert len(function.calls) == 2

    again, clock2, function2, destinations2, store = durable_invoker(tmp_path, 5)
    assert again.resume() == 1
    clock2.run_until_idle()
    assert len(function2.calls) == 1  # the last of the three attempts Lambda makes
    [(_, record, _)] = [sent for sent in destinations2.sent if sent[0] == ON_FAILURE]
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert store.invocation_outcomes() == [(request_id, "notify", "RetriesExhausted", 3, False)]
    assert again.resume() == 0


def test_a_resumed_invocation_given_up_before_running_again_still_reports_the_last_error(tmp_path):
    invoker, clock, *_ = durable_invoker(tmp_path, 5)
    invoker.invoke_async("notify", {"a": 1})
    clock.run_until_idle(until=START + 61)
    again, clock2, _, destinations2, _ = durable_invoker(tmp_path, 5)
    clock2.advance(7 * 3600)  # the restart came after the event's maximum age
    again.resume()
    clock2.run_until_idle()
    [(_, record, _)] = [sent for sent in destinations2.sent if sent[0] == ON_FAILURE]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["responsePayload"] == ERROR
