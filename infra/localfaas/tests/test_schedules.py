"""Schedules (localfaas.schedules) against the EventBridge and EventBridge Scheduler documentation: a
scheduled rule's "Scheduled Event", Scheduler's Input as is with its context attributes, time zones,
State, StartDate/EndDate, flexible windows, the retry policy and the dead-letter queue, in virtual
time (a day of moments costs no real time) and across a restart on the same state folder."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.bus import DeliveryFailed
from localfaas.durable import DurableStore
from localfaas.event_sources import StackServices
from localfaas.eventbridge_scheduler import scheduler_source
from localfaas.graph import build_graph
from localfaas.local_stack import LocalStack
from localfaas.scheduler import VirtualScheduler
from localfaas.template import Resource, load_stack

ACCOUNT, REGION = "123456789012", "us-east-1"
START = dt.datetime(2024, 6, 3, 0, 0, tzinfo=dt.UTC).timestamp()  # a Monday, midnight UTC

APP = """\
import json, os


def handler(event, context):
    with open(os.environ["TRACE"], "a") as trace:
        trace.write(json.dumps(event) + "\\n")
"""

HOURLY_RULE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Tick:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
        Hourly:
          Type: Schedule
          Properties:
            Schedule: rate(1 hour)
"""


def app(tmp_path: Path, template: str) -> tuple[Path, dict, Path]:
    """The template written with the tracing handler; the environment that points it at its trace."""
    trace = tmp_path / "trace.jsonl"
    # SAM's env-vars override only variables the template declares.
    template = template.replace(
        "Resources:", "Globals:\n  Function:\n    Environment:\n      Variables: {TRACE: ''}\nResources:", 1
    )
    path = write_app(tmp_path, template, {"src/app.py": APP})
    return path, {"Parameters": {"TRACE": str(trace)}}, trace


def traced(trace: Path) -> list[dict]:
    return [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []


def iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_span(template: Path, environment: dict, until: float, **options) -> dict:
    with LocalStack(template, environment=environment, **options) as stack:
        stack.scheduler.begin_at(START)
        assert stack.run_until_idle(until=until)
        report = stack.report()
        warnings = list(stack.warnings)
    assert not [w for w in warnings if "schedule" in w.lower()], warnings
    return report.data | {"verdict": report.render().rstrip().splitlines()[-1]}


def test_a_day_of_an_hourly_rule_is_24_scheduled_events_in_virtual_time(tmp_path):
    template, environment, trace = app(tmp_path, HOURLY_RULE)
    report = run_span(template, environment, START + 86_400)
    events = traced(trace)
    assert len(events) == 24
    # "A rate expression starts when you create the scheduled event rule": one period after it.
    assert [e["time"] for e in events] == [iso(START + 3600 * hour) for hour in range(1, 25)]
    first = events[0]
    assert (first["source"], first["detail-type"], first["detail"]) == ("aws.events", "Scheduled Event", {})
    assert first["resources"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/TickHourly"]
    assert (first["account"], first["region"], first["version"]) == (ACCOUNT, REGION, "0")
    assert len({e["id"] for e in events}) == 24
    row = report["esm"]["TickHourly"]
    assert (row["function"], row["topic"], row["records"], row["delivered"], row["lost"]) == (
        "Tick",
        "rate(1 hour)",
        24,
        24,
        0,
    )
    assert report["functions"]["Tick"]["invocations"] == 24
    assert report["verdict"] == "NOTHING LOST"


def test_without_a_span_only_what_is_due_now_fires(tmp_path):
    template, environment, trace = app(tmp_path, HOURLY_RULE)
    run_span(template, environment, START)
    assert traced(trace) == []


V2 = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Tick:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
        Paris:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 * * * ? *)
            ScheduleExpressionTimezone: Europe/Paris
            Input: '{"at": "<aws.scheduler.scheduled-time>", "run": "<aws.scheduler.execution-id>", "try": "<aws.scheduler.attempt-number>", "by": "<aws.scheduler.schedule-arn>"}'
            STATE
"""


def test_scheduler_sends_its_input_as_is_with_context_attributes_on_a_23_hour_day(tmp_path):
    # 31 March 2024 in Paris: clocks go forward at 02:00, so the day has 23 hourly moments.
    day = dt.datetime(2024, 3, 31, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()
    template, environment, trace = app(tmp_path, V2.replace("STATE", ""))
    with LocalStack(template, environment=environment) as stack:
        stack.scheduler.begin_at(day)
        assert stack.run_until_idle(until=day + 23 * 3600 - 1)
        row = stack.report().data["esm"]["TickParis"]
    events = traced(trace)
    assert len(events) == 23 == row["delivered"]
    assert [e["at"] for e in events[:3]] == [iso(day), iso(day + 3600), iso(day + 7200)]
    assert {e["try"] for e in events} == {"1"}
    assert {e["by"] for e in events} == {f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/TickParis"}
    assert len({e["run"] for e in events}) == 23
    assert set(events[0]) == {"at", "run", "try", "by"}  # the Input alone: no envelope


def test_a_disabled_schedule_fires_nothing(tmp_path):
    template, environment, trace = app(tmp_path, V2.replace("STATE", "State: DISABLED"))
    report = run_span(template, environment, START + 86_400)
    assert traced(trace) == []
    assert report["esm"]["TickParis"]["records"] == 0


WINDOW = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Tick:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
  Bounded:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: rate(1 hour)
      StartDate: "2024-06-03T06:00:00Z"
      EndDate: "2024-06-03T09:00:00Z"
      FlexibleTimeWindow: {Mode: "OFF"}
      Target:
        Arn: !GetAtt Tick.Arn
        RoleArn: arn:aws:iam::123456789012:role/scheduler
        Input: '{"at": "<aws.scheduler.scheduled-time>"}'
"""


def test_start_and_end_date_bound_a_hand_written_schedule(tmp_path):
    template, environment, trace = app(tmp_path, WINDOW)
    run_span(template, environment, START + 86_400)
    hours = [e["at"] for e in traced(trace)]
    assert hours == ["2024-06-03T06:00:00Z", "2024-06-03T07:00:00Z", "2024-06-03T08:00:00Z"]


def test_a_restart_on_the_state_folder_fires_each_moment_once(tmp_path):
    template, environment, trace = app(tmp_path, HOURLY_RULE)
    state = tmp_path / "state"
    for until in (START + 3 * 3600, START + 3 * 3600, START + 5 * 3600):
        with LocalStack(template, environment=environment, state_dir=state) as stack:
            stack.scheduler.begin_at(START)
            assert stack.run_until_idle(until=until)
            row = stack.report().data["esm"]["TickHourly"]
    assert [e["time"] for e in traced(trace)] == [iso(START + 3600 * h) for h in range(1, 6)]
    assert (row["records"], row["delivered"]) == (5, 5)


DEAD_LETTERS = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Dlq:
    Type: AWS::SQS::Queue
    Properties: {QueueName: schedule-dlq}
  Gone:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: cron(0 12 * * ? *)
      Targets:
        - Id: nobody
          Arn: arn:aws:lambda:us-east-1:123456789012:function:gone
          DeadLetterConfig: {Arn: !GetAtt Dlq.Arn}
"""


def test_a_rule_target_that_does_not_exist_sends_each_firing_to_its_dlq_at_once(tmp_path):
    template = write_app(tmp_path, DEAD_LETTERS)
    with LocalStack(template) as stack:
        stack.scheduler.begin_at(START)
        assert stack.run_until_idle(until=START + 2 * 86_400)
        sqs = stack.client("sqs")
        url = sqs.get_queue_url(QueueName="schedule-dlq")["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        report = stack.report()
    parked = messages["Messages"]
    assert len(parked) == 2
    attributes = {k: v["StringValue"] for k, v in parked[0]["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Gone"
    assert attributes["TARGET_ARN"].endswith(":function:gone")
    assert attributes["RETRY_ATTEMPTS"] == "0"  # not found: not retried
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    event = json.loads(parked[0]["Body"])
    assert (event["detail-type"], event["time"]) == ("Scheduled Event", iso(START + 12 * 3600))
    row = report.data["esm"]["Gone"]
    assert (row["records"], row["to_destination"], row["lost"]) == (2, 2, 0)


# -- the retry policy and flexible windows, with a target whose answers the test decides -----------


class QueueTarget:
    """A queue target that refuses the first `failures` payloads, retryably, and records the rest."""

    def __init__(self, failures: int = 0, retryable: bool = True) -> None:
        self.failures, self.retryable = failures, retryable
        self.attempts: list[tuple[float, str]] = []
        self.dead_letters: list[tuple[str, str, dict]] = []

    def services(self, scheduler: VirtualScheduler, until: float, **options) -> StackServices:
        def deliver(target, payload):
            self.attempts.append((scheduler.now(), payload))
            if len(self.attempts) <= self.failures:
                raise DeliveryFailed(self.retryable, "queue throttled", error_code="ThrottlingException")

        return StackServices(
            template=None,  # type: ignore[arg-type]
            client=None,  # type: ignore[arg-type]
            invoke=None,  # type: ignore[arg-type]
            invoke_async=None,  # type: ignore[arg-type]
            put_events=None,  # type: ignore[arg-type]
            send_message=lambda arn, body, attributes: self.dead_letters.append((arn, body, attributes)),
            destinations=None,  # type: ignore[arg-type]
            scheduler=scheduler,
            store=options.get("store") or DurableStore(None),
            real_time=options.get("real_time", False),
            account_id=ACCOUNT,
            region=REGION,
            warn=print,
            deliver=deliver,
            until=lambda: until,
        )


def schedule(properties: dict, target: QueueTarget, until: float):
    scheduler = VirtualScheduler(START)
    properties = dict(properties)
    target_properties = properties.pop("Target", {})
    spec = {
        "ScheduleExpression": "at(2024-06-03T10:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:work",
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": "try <aws.scheduler.attempt-number>",
            "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"},
        },
        **properties,
    }
    spec["Target"].update(target_properties)
    resource = Resource("Job", "AWS::Scheduler::Schedule", spec, "Job")
    source = scheduler_source(resource, target.services(scheduler, until))
    assert source is not None
    for _ in range(1000):
        source.poll_once()
        scheduler.run_until_idle()
        if source.caught_up():
            return source
    raise AssertionError("the schedule never caught up")


def test_maximum_retry_attempts_then_the_dlq_with_schedulers_attributes():
    target = QueueTarget(failures=10)
    source = schedule({"Target": {"RetryPolicy": {"MaximumRetryAttempts": 2}}}, target, START + 86_400)
    assert [payload for _, payload in target.attempts] == ["try 1", "try 2", "try 3"]
    assert target.attempts[0][0] == START + 10 * 3600
    times = [at for at, _ in target.attempts]
    assert times == sorted(times) and times[1] > times[0]  # backed off, in virtual time
    ((arn, body, attributes),) = target.dead_letters
    assert (arn, body) == (f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq", "try 3")
    values = {k: v["StringValue"] for k, v in attributes.items()}
    assert values == {
        "X-Amz-Scheduler-Attempt": "3",
        "X-Amz-Scheduler-Error-Code": "ThrottlingException",
        "X-Amz-Scheduler-Error-Message": "queue throttled",
        "X-Amz-Scheduler-Schedule-Arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/Job",
        "X-Amz-Scheduler-Target-Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:work",
    }
    assert (source.stats.retries, source.stats.records_to_destination, source.stats.records_delivered) == (
        2,
        1,
        0,
    )


def test_maximum_event_age_ends_the_retries_before_the_attempts_run_out():
    target = QueueTarget(failures=1000)
    policy = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 60}
    schedule({"Target": {"RetryPolicy": policy}}, target, START + 86_400)
    first, last = target.attempts[0][0], target.attempts[-1][0]
    assert 2 < len(target.attempts) < 185
    assert last - first <= 60
    assert len(target.dead_letters) == 1


def test_a_retry_that_succeeds_is_delivered_once():
    target = QueueTarget(failures=1)
    source = schedule({}, target, START + 86_400)
    assert [payload for _, payload in target.attempts] == ["try 1", "try 2"]
    assert target.dead_letters == []
    assert (source.stats.records_delivered, source.stats.retries) == (1, 1)


def test_a_non_retryable_failure_goes_to_the_dlq_without_retries():
    target = QueueTarget(failures=1, retryable=False)
    schedule({}, target, START + 86_400)
    assert len(target.attempts) == 1 and len(target.dead_letters) == 1


def test_up_restarted_later_does_not_fire_the_moments_it_missed_in_a_burst():
    store = DurableStore(None)
    store.put("schedule-created:Job", START - 20 * 3600)
    store.put("schedule-fired:Job", START - 10 * 3600)  # the last moment before `up` was stopped
    target, scheduler = QueueTarget(), VirtualScheduler(START)  # the clock stands in for the wall clock
    spec = {
        "ScheduleExpression": "rate(1 hour)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:work", "RoleArn": "arn:aws:iam::1:role/r"},
    }
    source = scheduler_source(
        Resource("Job", "AWS::Scheduler::Schedule", spec, "Job"),
        target.services(scheduler, None, store=store, real_time=True),
    )
    for hour in range(1, 4):  # `up` polls often; an hour of the clock at a time is enough here
        source.poll_once()
        scheduler.run_until_idle(until=START + hour * 3600)
    assert [at for at, _ in target.attempts] == [START + 3600, START + 7200, START + 3 * 3600]


def flexible_times(seed_name: str) -> list[float]:
    target = QueueTarget()
    schedule(
        {
            "Name": seed_name,
            "ScheduleExpression": "rate(1 hour)",
            "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        },
        target,
        START + 6 * 3600,
    )
    return [at for at, _ in target.attempts]


def test_a_flexible_window_fires_inside_the_window_reproducibly():
    times = flexible_times("Job")
    moments = [START + 3600 * hour for hour in range(7)]  # a Scheduler rate fires at once, then hourly
    assert len(times) == 7
    offsets = [at - moment for at, moment in zip(times, moments, strict=True)]
    assert all(0 <= offset < 15 * 60 for offset in offsets)
    assert len(set(offsets)) > 1  # spread over the window, not one fixed delay
    assert flexible_times("Job") == times  # the same schedule draws the same moments
    assert flexible_times("Other") != times


@pytest.mark.parametrize("expression", ["rate(1 hours)", "cron(0 10 * * * *)"])
def test_an_expression_aws_refuses_is_named_at_start_and_not_run(tmp_path, expression):
    template = write_app(tmp_path, HOURLY_RULE.replace("rate(1 hour)", expression), {"src/app.py": APP})
    with LocalStack(template) as stack:
        refused = [w for w in stack.warnings if w.startswith("TickHourly:")]
        assert not stack.sources
    assert len(refused) == 1 and expression in refused[0] and refused[0].endswith("not run")


def test_graph_draws_a_scheduler_schedule_to_its_target(tmp_path):
    template, _, _ = app(tmp_path, WINDOW)
    graph = build_graph(load_stack(template, stack_name="shop"))
    assert graph.edge("Bounded", "Tick") is not None


ONCE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Tick:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
  Once:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: at(AT)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target:
        Arn: !GetAtt Tick.Arn
        RoleArn: arn:aws:iam::123456789012:role/scheduler
        Input: '{"at": "<aws.scheduler.scheduled-time>"}'
"""

CLOCKED_APP = """\
import json, os, time


def handler(event, context):
    with open(os.environ["TRACE"], "a") as trace:
        trace.write(json.dumps({**event, "wall": time.time()}) + "\\n")
"""


def test_in_real_time_a_one_time_schedule_fires_on_the_wall_clock(tmp_path):
    moment = int(time.time()) + 3
    at = dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    template, environment, trace = app(tmp_path, ONCE.replace("AT", at))
    (tmp_path / "src/app.py").write_text(CLOCKED_APP)
    stop = threading.Event()
    with LocalStack(template, environment=environment, real_time=True) as stack:
        serving = threading.Thread(target=stack.serve_forever, args=(stop,))
        serving.start()
        try:
            deadline = time.monotonic() + 60
            while not traced(trace) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            serving.join()
    (fired,) = traced(trace)
    assert fired["at"] == iso(moment)
    assert fired["wall"] >= moment  # not before its moment: the wall clock, not virtual time


TARGETS = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties: {QueueName: schedule-work}
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: ops}
  Seen:
    Type: AWS::SQS::Queue
    Properties: {QueueName: schedule-seen}
  OnOps:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern: {source: [ops.clock]}
      Targets: [{Id: seen, Arn: !GetAtt Seen.Arn}]
  ToQueue:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: at(2024-06-03T08:00:00)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target:
        Arn: !GetAtt Work.Arn
        RoleArn: arn:aws:iam::123456789012:role/scheduler
        Input: 'sweep <aws.scheduler.scheduled-time>'
  ToBus:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: at(2024-06-03T09:00:00)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target:
        Arn: !GetAtt Bus.Arn
        RoleArn: arn:aws:iam::123456789012:role/scheduler
        Input: '{"tick": "<aws.scheduler.scheduled-time>"}'
        EventBridgeParameters: {Source: ops.clock, DetailType: Tick}
  ToStateMachine:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: cron(0 12 * * ? *)
      Targets:
        - Id: flow
          Arn: arn:aws:states:us-east-1:123456789012:stateMachine:nightly
"""


def bodies(stack: LocalStack, queue: str) -> list[str]:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


def test_queue_and_bus_targets_get_the_input_and_an_unsendable_target_is_lost_not_hidden(tmp_path):
    template = write_app(tmp_path, TARGETS)
    with LocalStack(template) as stack:
        warned = [w for w in stack.warnings if w.startswith("ToStateMachine:")]
        stack.scheduler.begin_at(START)
        assert stack.run_until_idle(until=START + 86_400)
        work, seen = bodies(stack, "schedule-work"), bodies(stack, "schedule-seen")
        report = stack.report()
    assert work == ["sweep 2024-06-03T08:00:00Z"]  # Scheduler's Input as is, as the message body
    (event,) = [json.loads(body) for body in seen]
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "ops.clock",
        "Tick",
        {"tick": "2024-06-03T09:00:00Z"},
    )
    assert len(warned) == 1 and "arn:aws:states" in warned[0]
    row = report.data["esm"]["ToStateMachine"]
    assert (row["records"], row["lost"]) == (1, 1)
    assert "ToStateMachine: 1 firing(s) not sent to arn:aws:states" in report.data["lost"]["details"][0]
    assert "\nLOST: 1\n" in report.render() and "NOTHING LOST" not in report.render()


def test_a_flexible_window_without_its_maximum_is_named_at_start_and_not_run(tmp_path):
    template = write_app(tmp_path, WINDOW.replace('{Mode: "OFF"}', "{Mode: FLEXIBLE}"), {"src/app.py": APP})
    with LocalStack(template) as stack:
        refused = [w for w in stack.warnings if w.startswith("Bounded:")]
        assert not stack.sources
    assert refused == [
        "Bounded: a FLEXIBLE window needs MaximumWindowInMinutes from 1 to 1440, not None; not run"
    ]


def test_a_scheduled_rules_input_replaces_the_event_and_input_path_picks_from_it(tmp_path):
    template, environment, trace = app(
        tmp_path,
        HOURLY_RULE.replace(
            "Schedule: rate(1 hour)",
            'Schedule: cron(0 6 * * ? *)\n            Input: \'{"job": "sweep"}\'',
        ).replace("Hourly:", "Daily:")
        + """\
  ByPath:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: cron(0 7 * * ? *)
      Targets: [{Id: tick, Arn: !GetAtt Tick.Arn, InputPath: $.time}]
""",
    )
    run_span(template, environment, START + 86_400)
    assert traced(trace) == [{"job": "sweep"}, "2024-06-03T07:00:00Z"]
