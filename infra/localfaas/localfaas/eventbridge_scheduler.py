"""EventBridge Scheduler schedules (AWS::Scheduler::Schedule; SAM's `Type: ScheduleV2`), fired by
localfaas.schedules' ScheduleSource with what Scheduler adds to a scheduled rule:

- ScheduleExpressionTimezone (cron and at are wall-clock time there, with Scheduler's daylight-saving
  rules: localfaas.schedule_expressions); a rate starts at StartDate or, without one, "starts invoking
  the target immediately"; StartDate and EndDate bound recurring schedules and one-time ones ignore
  them ("Schedule types in EventBridge Scheduler",
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html; CreateSchedule,
  https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html).
- FlexibleTimeWindow FLEXIBLE: the target is invoked within MaximumWindowInMinutes after the moment
  ("Configuring flexible time windows in EventBridge Scheduler",
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-flexible-time-windows.html).
  AWS does not say where in the window; localfaas draws a whole second in [0, window) from a
  generator seeded with the schedule's ARN and the moment, so a run is reproducible.
- The target's Input is sent as it is, with its context attributes filled
  (<aws.scheduler.schedule-arn>, <aws.scheduler.scheduled-time>, <aws.scheduler.execution-id>,
  <aws.scheduler.attempt-number>; "Adding context attributes to your target",
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html):
  to a Lambda function as its event, to SQS and SNS as the message, to an event bus as the Detail of
  an entry with EventBridgeParameters' DetailType and Source.
- A firing given up on goes to DeadLetterConfig's queue: the payload, with X-Amz-Scheduler-Attempt,
  -Error-Code, -Error-Message, -Schedule-Arn and -Target-Arn ("Configuring a dead-letter queue for
  EventBridge Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).

Not emulated: universal targets (arn:aws:scheduler:::aws-sdk:...), ActionAfterCompletion, KMS keys,
schedule groups' own state, and the "default notification" Scheduler sends a target without Input
(localfaas sends {}).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from localfaas.bus import RetryPolicy, Target
from localfaas.event_sources import register
from localfaas.schedules import (
    Delivery,
    ScheduleSource,
    expression_for,
    function_name_for,
    iso_time,
    moment_id,
    service_of,
    usable_target,
)

if TYPE_CHECKING:
    from localfaas.event_sources import StackServices
    from localfaas.template import Resource

__all__ = ["scheduler_source"]


@register("AWS::Scheduler::Schedule")
def scheduler_source(resource: Resource, services: StackServices) -> ScheduleSource | None:
    """The schedule's source, or None (with a warning at start) when it cannot be read."""
    props = resource.properties
    name = props.get("Name") or resource.logical_id
    group = props.get("GroupName") or "default"
    arn = f"arn:aws:scheduler:{services.region}:{services.account_id}:schedule/{group}/{name}"
    expression = expression_for(
        resource, services, props.get("ScheduleExpression", ""), props.get("ScheduleExpressionTimezone")
    )
    if expression is None:
        return None
    spec = props.get("Target") or {}
    target = Target(
        id=name,
        arn=str(spec.get("Arn", "")),
        input=spec.get("Input"),
        retry_policy=RetryPolicy.from_properties(spec.get("RetryPolicy")),
        dead_letter_arn=(spec.get("DeadLetterConfig") or {}).get("Arn"),
    )
    bus_parameters = spec.get("EventBridgeParameters") or {}
    window = props.get("FlexibleTimeWindow") or {}
    minutes = window.get("MaximumWindowInMinutes")
    if isinstance(minutes, str) and minutes.isdigit():  # a template parameter resolves to text
        minutes = int(minutes)
    if window.get("Mode") == "FLEXIBLE" and not (isinstance(minutes, int) and 1 <= minutes <= 1440):
        services.warn(
            f"{resource.logical_id}: a FLEXIBLE window needs MaximumWindowInMinutes from 1 to 1440, "
            f"not {minutes!r}; not run"
        )
        return None
    window_s = minutes * 60 if window.get("Mode") == "FLEXIBLE" else 0

    def deliveries(source: ScheduleSource, moment: float, now: float) -> list[Delivery]:
        execution_id = moment_id(arn, moment)

        def payload(attempt: int) -> Any:
            text = target.input if target.input is not None else "{}"
            for key, value in (
                ("schedule-arn", arn),
                ("scheduled-time", iso_time(moment)),
                ("execution-id", execution_id),
                ("attempt-number", str(attempt)),
            ):
                text = text.replace(f"<aws.scheduler.{key}>", value)
            if service_of(target.arn) == "events":
                return {
                    "Source": bus_parameters.get("Source"),
                    "DetailType": bus_parameters.get("DetailType"),
                    "Detail": text,
                }
            return _json_or_text(text) if service_of(target.arn) == "lambda" else text

        def dead_letter(failure, retries, exhausted):
            attributes = {
                "X-Amz-Scheduler-Attempt": str(retries + 1),
                "X-Amz-Scheduler-Error-Code": failure.error_code,
                "X-Amz-Scheduler-Error-Message": failure.reason,
                "X-Amz-Scheduler-Schedule-Arn": arn,
                "X-Amz-Scheduler-Target-Arn": target.arn,
            }
            body = payload(retries + 1)
            text = body if isinstance(body, str) else json.dumps(body)
            return text, {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}

        return [Delivery(target, moment, now, payload, dead_letter)] if source.targets else []

    try:
        start, end = _date(props.get("StartDate")), _date(props.get("EndDate"))
    except ValueError as error:
        services.warn(f"{resource.logical_id}: {error}; not run")
        return None
    usable = usable_target(target, resource, services)
    return ScheduleSource(
        logical_id=resource.logical_id,
        function_name=function_name_for([usable], services),
        arn=arn,
        expression_text=str(props.get("ScheduleExpression")),
        expression=expression,
        targets=[usable] if usable is not None else [],
        unsent=() if usable is not None else (target.arn,),
        services=services,
        build_deliveries=deliveries,
        enabled=props.get("State", "ENABLED") != "DISABLED",
        start=start,
        end=end,
        window_s=window_s,
    )


def _date(value: Any) -> float | None:
    """StartDate/EndDate: an ISO 8601 time, in UTC unless it says otherwise."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"StartDate/EndDate {value!r} is not an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
