"""Schedules: EventBridge scheduled rules fire their targets, and what every schedule shares.

An AWS::Events::Rule with a ScheduleExpression (SAM's `Type: Schedule`, or written by hand) is run
here; an AWS::Scheduler::Schedule (`Type: ScheduleV2`) by localfaas.eventbridge_scheduler on the same
ScheduleSource. Emulated:

- When: the expression's moments (localfaas.schedule_expressions: rate, cron, at). A rule's
  expression is UTC and its rate "starts when you create the scheduled event rule": the first moment
  is one period after ("Rate expressions reference",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html). State DISABLED
  fires nothing.
- What is sent: the "Scheduled Event" (source aws.events, detail-type "Scheduled Event", resources
  [the rule's ARN], detail {}), shaped by the target's Input, InputPath or InputTransformer as a
  pattern rule's is (bus.target_input; "Creating a scheduled rule (legacy) in Amazon EventBridge",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html). Its id is
  drawn from the rule and the moment, so a moment fired again after a crash is the same event.
  A Lambda target is invoked asynchronously; SQS and SNS targets get the payload as a message
  (StackServices.deliver, as the buses deliver).
- Failures: a target that did not take the payload is retried with exponential backoff and jitter
  (bus.backoff_delay) until the RetryPolicy's MaximumRetryAttempts or MaximumEventAgeInSeconds
  (defaults 185 and 86,400) runs out, and not at all for a non-retryable failure (no such function
  or queue); then it goes to DeadLetterConfig's queue, the event with EventBridge's attributes
  (bus.dead_letter_attributes), or is dropped ("Event retry policy and using dead-letter queues",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).

Time: in virtual time (`localfaas run`) a schedule fires the moments of the run's span, up to the
stack's `until` (StackServices.until: the scenario's `until`, `--until`, or its last record or event),
inclusive, and none after, so run_until_idle ends and a day of moments costs no real time. Without a
span, only what is due now fires. In real time (`up`) it fires on the wall clock while the stack
runs. The moment a schedule was first seen and the last moment it fired are kept in the
DurableStore, so a restart on the same state folder neither fires a moment twice nor moves a rate's
origin. Each firing is a record of the report's `esm` row: delivered, retried, to the DLQ
(to_destination) or dropped (discarded, lost).

Not emulated: targets other than Lambda, SQS, SNS and event buses (warned at start, not sent);
deliveries still being retried when localfaas is killed (the asynchronous invocations they made are
kept by the async invoker); moments missed while `up` was stopped (they are not fired late).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from localfaas.bus import (
    DeliveryFailed,
    Target,
    backoff_delay,
    bus_name,
    dead_letter_attributes,
    target_input,
)
from localfaas.esm import PollReport
from localfaas.event_sources import register
from localfaas.report import source_summary
from localfaas.schedule_expressions import Expression, ScheduleExpressionError, next_moment, parse

if TYPE_CHECKING:
    from localfaas.event_sources import StackServices
    from localfaas.template import Resource

__all__ = [
    "Delivery",
    "ScheduleSource",
    "expression_for",
    "function_name_for",
    "iso_time",
    "moment_id",
    "scheduled_event",
    "service_of",
    "usable_target",
]

log = logging.getLogger(__name__)

_SERVICES = ("lambda", "sqs", "sns", "events")
_EARLIEST = 1e-6  # a moment equal to the creation time still counts


def scheduled_event(rule_arn: str, moment: float, account: str, region: str, event_id: str) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's targets."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso_time(moment),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class Delivery:
    target: Target
    moment: float  # the schedule's moment
    fired_at: float  # when it was sent first (the moment, or later inside a flexible window)
    payload: Callable[[int], Any]  # by attempt number (Scheduler's context attribute)
    dead_letter: Callable[[DeliveryFailed, int, str | None], tuple[str, dict[str, dict[str, str]]]]
    retries: int = 0


@dataclass
class ScheduleSource:
    """One schedule: fires its targets at its moments. Meets localfaas.event_sources.EventSource."""

    logical_id: str
    function_name: str
    arn: str
    expression_text: str
    expression: Expression
    targets: list[Target]
    services: StackServices
    build_deliveries: Callable[[ScheduleSource, float, float], list[Delivery]]
    enabled: bool = True
    rate_delay: float = 0.0  # a rule's rate first fires one period after creation
    start: float | None = None
    end: float | None = None
    window_s: int = 0
    unsent: tuple[str, ...] = ()  # the ARNs of targets localfaas does not send to
    stats: PollReport = field(default_factory=PollReport)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._armed = False
        self._in_flight = 0
        self._rng = random.Random(f"retries/{self.arn}")  # noqa: S311 -- jitter, not secrets
        store = self.services.store
        self._created = store.get(f"schedule-created:{self.logical_id}")
        self._last = store.get(f"schedule-fired:{self.logical_id}")
        self._unsent = store.get(f"schedule-unsent:{self.logical_id}", 0)
        # `up` restarted after a while: the moments it missed are not fired late, in a burst.
        self._skip_missed = self.services.real_time and self._last is not None

    # -- the EventSource contract -------------------------------------------------------------------

    def poll_once(self, *, flush: bool = False) -> PollReport:
        """Arms the next moment. Firings settle later, on the scheduler, and save the running counts
        themselves (esm-stats:<id>, the key the stack restores), so a poll reports nothing new."""
        self._arm()
        return PollReport()

    def caught_up(self) -> bool:
        with self._lock:
            if self._armed or self._in_flight:
                return False
            upcoming = self._next()
        return upcoming is None or upcoming > self._horizon()

    def idle_rounds(self) -> int:
        return 2

    def summary(self, function: str, lost: list[str], *, stopped: bool) -> dict[str, Any]:
        with self._lock:
            in_flight, unsent = self._in_flight, self._unsent
        records = self.stats.records_settled + in_flight
        row = source_summary(
            self.logical_id, function, self.expression_text, self.stats, records, lost, stopped=stopped
        )
        if unsent:  # fired, but to a target localfaas does not send to: not delivered, so lost
            lost.append(f"{self.logical_id}: {unsent} firing(s) not sent to {', '.join(self.unsent)}")
            row.update(records=row["records"] + unsent, lost=row["lost"] + unsent)
        return row

    def close(self) -> None:
        with self._lock:
            self.enabled = False  # a firing still queued on a real-time scheduler does nothing

    # -- firing -------------------------------------------------------------------------------------

    def _horizon(self) -> float:
        """The last moment this run fires: none in real time; the span's end in virtual time, or
        what is due now when the run has no span."""
        if self.services.real_time:
            return float("inf")
        until = self.services.until()
        return self.services.scheduler.now() if until is None else until

    def _next(self) -> float | None:
        if not self.enabled:
            return None
        if self._created is None:
            self._created = self.services.scheduler.now()
            self.services.store.put(f"schedule-created:{self.logical_id}", self._created)
        after = self._last if self._last is not None else self._created - _EARLIEST
        if self._skip_missed:
            after = max(after, self.services.scheduler.now())
        return next_moment(
            self.expression, after, origin=self._created + self.rate_delay, start=self.start, end=self.end
        )

    def _arm(self) -> None:
        with self._lock:
            if self._armed:
                return
            moment = self._next()
            if moment is None or moment > self._horizon():
                return
            self._armed, self._skip_missed = True, False
        offset = random.Random(f"{self.arn}/{moment}").randrange(self.window_s) if self.window_s else 0  # noqa: S311
        self.services.scheduler.schedule(moment + offset, lambda: self._fire(moment))

    def _fire(self, moment: float) -> None:
        with self._lock:
            self._armed = False
            if not self.enabled:
                return
            self._last = moment
            self._unsent += len(self.unsent)
            unsent = self._unsent
        deliveries = self.build_deliveries(self, moment, self.services.scheduler.now())
        with self._lock:
            self._in_flight += len(deliveries)
        for delivery in deliveries:
            self._attempt(delivery)
        # Kept once every target has had its first attempt: a kill before that fires the moment again
        # on restart, with the same event id (at least once, as AWS delivers).
        self.services.store.put(f"schedule-fired:{self.logical_id}", moment)
        if self.unsent:
            self.services.store.put(f"schedule-unsent:{self.logical_id}", unsent)
        # The next moment is armed by the next poll, not here: in virtual time the stack polls its
        # other sources between two moments, so the clock does not run a day ahead of a Kafka mapping.

    def _attempt(self, delivery: Delivery) -> None:
        try:
            send(self.services, delivery.target, delivery.payload(delivery.retries + 1))
        except DeliveryFailed as failure:
            self._after_failure(delivery, failure)
        else:
            self._settle(
                PollReport(
                    invocations=1 if service_of(delivery.target.arn) == "lambda" else 0, records_delivered=1
                )
            )

    def _after_failure(self, delivery: Delivery, failure: DeliveryFailed) -> None:
        policy = delivery.target.retry_policy
        if not failure.retryable:
            return self._dead_letter(delivery, failure, None)
        if delivery.retries >= policy.maximum_retry_attempts:
            return self._dead_letter(delivery, failure, "MaximumRetryAttempts")
        retry_at = self.services.scheduler.now() + backoff_delay(delivery.retries, self._rng)
        if retry_at - delivery.fired_at > policy.maximum_event_age_seconds:
            return self._dead_letter(delivery, failure, "MaximumEventAgeInSeconds")
        delivery.retries += 1
        with self._lock:
            self.stats.retries += 1
        self.services.scheduler.schedule(retry_at, lambda: self._attempt(delivery))
        return None

    def _dead_letter(self, delivery: Delivery, failure: DeliveryFailed, exhausted: str | None) -> None:
        arn = delivery.target.dead_letter_arn
        if arn is None:
            log.warning(
                "%s: dropped a firing for %s: %s", self.logical_id, delivery.target.arn, failure.reason
            )
            return self._settle(PollReport(records_discarded=1))
        body, attributes = delivery.dead_letter(failure, delivery.retries, exhausted)
        try:
            self.services.send_message(arn, body, attributes)
        except Exception as error:  # AWS drops what it cannot put in the DLQ
            log.warning("%s: could not send a firing to its DLQ %s: %s", self.logical_id, arn, error)
            return self._settle(PollReport(records_discarded=1, destination_errors=1))
        return self._settle(PollReport(records_to_destination=1))

    def _settle(self, report: PollReport) -> None:
        with self._lock:
            self._in_flight -= 1
            self.stats.add(report)
            saved = asdict(self.stats)
        self.services.store.put(f"esm-stats:{self.logical_id}", saved)


# -- EventBridge scheduled rules --------------------------------------------------------------------------


@register("AWS::Events::Rule")
def rule_source(resource: Resource, services: StackServices) -> ScheduleSource | None:
    """A rule with a ScheduleExpression (a rule with a pattern is the bus's)."""
    props = resource.properties
    if not props.get("ScheduleExpression"):
        return None
    name = props.get("Name") or resource.logical_id
    bus = bus_name(props.get("EventBusName") or "default")
    path = name if bus == "default" else f"{bus}/{name}"
    arn = f"arn:aws:events:{services.region}:{services.account_id}:rule/{path}"
    expression = expression_for(resource, services, props["ScheduleExpression"], None)
    if expression is None:
        return None
    every = [Target.from_properties(t) for t in props.get("Targets") or ()]
    targets = [t for t in every if usable_target(t, resource, services) is not None]

    def deliveries(source: ScheduleSource, moment: float, now: float) -> list[Delivery]:
        # One id per moment: a moment fired again after a crash is the same event, for idempotency.
        event = scheduled_event(arn, moment, services.account_id, services.region, moment_id(arn, moment))
        out = []
        for target in source.targets:
            payload = target_input(target, event, arn, name, iso_time(now))

            def dead_letter(failure, retries, exhausted, target=target):
                return json.dumps(event), dead_letter_attributes(arn, target.arn, failure, retries, exhausted)

            out.append(Delivery(target, moment, now, lambda _attempt, p=payload: p, dead_letter))
        return out

    return ScheduleSource(
        logical_id=resource.logical_id,
        function_name=function_name_for(targets, services),
        arn=arn,
        expression_text=props["ScheduleExpression"],
        expression=expression,
        targets=targets,
        unsent=tuple(t.arn for t in every if t not in targets),
        services=services,
        build_deliveries=deliveries,
        enabled=props.get("State", "ENABLED") != "DISABLED",
        rate_delay=getattr(expression, "seconds", 0),
    )


# -- helpers --------------------------------------------------------------------------------------


def send(services: StackServices, target: Target, payload: Any) -> None:
    """A payload to a target; DeliveryFailed when the target did not take it."""
    if service_of(target.arn) == "events":
        entry = {**payload, "EventBusName": target.arn}
        answer = services.put_events([entry])
        if answer.get("FailedEntryCount"):
            result = answer["Entries"][0]
            code = str(result.get("ErrorCode"))
            # Only the bus's own trouble passes; a missing bus or a malformed entry stays so.
            retryable = code in ("ThrottlingException", "InternalException")
            raise DeliveryFailed(retryable, str(result.get("ErrorMessage")), error_code=code)
        return
    assert services.deliver is not None, "a stack's services deliver to rule targets"
    services.deliver(target, payload)


def expression_for(
    resource: Resource, services: StackServices, text: str, timezone: str | None
) -> Expression | None:
    try:
        return parse(text, timezone)
    except ScheduleExpressionError as e:
        services.warn(f"{resource.logical_id}: {e}; not run")
        return None


def usable_target(target: Target, resource: Resource, services: StackServices) -> Target | None:
    if service_of(target.arn) in _SERVICES:
        return target
    services.warn(
        f"{resource.logical_id}: target {target.arn} is not one localfaas sends to (Lambda, SQS, SNS, "
        "event buses); its firings are not sent"
    )
    return None


def function_name_for(targets: list[Target | None], services: StackServices) -> str:
    for target in targets:
        if target is not None and service_of(target.arn) == "lambda":
            try:
                return services.template.function(target.arn).function_name
            except KeyError:
                return target.arn.rsplit(":", 1)[-1]
    return ""


def moment_id(arn: str, moment: float) -> str:
    draw = random.Random(f"{arn}/{moment}/id").getrandbits(128)  # noqa: S311 -- reproducible ids
    return str(uuid.UUID(int=draw, version=4))


def service_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def iso_time(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
