"""Event sources other than Kafka: the contract each kind meets, and the registry that finds them.

Lambda reads some sources itself through an event source mapping (SQS, Kinesis, DynamoDB Streams;
"Lambda event source mappings", https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html)
and others push to it (SNS subscriptions, EventBridge and EventBridge Scheduler schedules; "Invoking
Lambda with events from other AWS services", https://docs.aws.amazon.com/lambda/latest/dg/lambda-services.html).
Each kind is one module; this one holds what they share with the stack, so local_stack.py runs all
of them alike: it polls each source in turn with the Kafka mappings, waits for each to catch up,
and puts each one's summary in the report's `esm` section beside the mappings'.

A kind registers a factory for the CloudFormation resources it runs (after SAM's translation:
`Type: SQS` becomes an AWS::Lambda::EventSourceMapping, `Type: SNS` an AWS::SNS::Subscription,
`Type: Schedule` an AWS::Events::Rule...). A resource no factory accepts is named once, at start,
with the AWS page of what is not run (`not_run_warning`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from localfaas.bus import Target
    from localfaas.destinations import Destinations
    from localfaas.durable import DurableStore
    from localfaas.esm import PollReport
    from localfaas.runtime import InvocationResult
    from localfaas.scheduler import RealTimeScheduler, VirtualScheduler
    from localfaas.template import Resource, Stack

__all__ = ["EventSource", "SourceFactory", "StackServices", "factories", "not_run_warning", "register"]


@dataclass(frozen=True)
class StackServices:
    """What a source may use of the running stack, and nothing else of it."""

    template: Stack
    client: Callable[[str], Any]  # a boto3 client on the stack's backend, by service name
    invoke: Callable[[str, Any], InvocationResult]  # synchronous, by function name, counted in the report
    invoke_async: Callable[[str, Any], str]  # Lambda's asynchronous invocation (retries, DLQ); a request id
    put_events: Callable[[list[dict[str, Any]]], dict[str, Any]]  # onto the stack's buses
    send_message: Callable[[str, str, dict[str, dict[str, str]]], None]  # to an SQS queue or SNS topic ARN
    destinations: Destinations  # on-failure destinations, as the Kafka mappings send to them
    scheduler: VirtualScheduler | RealTimeScheduler  # now(), schedule(at, fn), call_later(delay, fn)
    store: DurableStore  # get/put of JSON values that survive a crash of localfaas
    real_time: bool
    account_id: str
    region: str
    warn: Callable[[str], None]  # a line of the start-up warnings
    # A payload to a rule target's ARN (Lambda asynchronously, SQS, SNS) as the buses deliver it;
    # raises bus.DeliveryFailed when the target did not take it (retryable or not).
    deliver: Callable[[Target, Any], None] | None = None
    # The end of the run's span in virtual time (epoch seconds): schedules fire up to it. None: no span.
    until: Callable[[], float | None] = lambda: None


class EventSource(Protocol):
    """One source feeding one function. `poll_once` does what is due now and says what it did, with
    the counts of esm.PollReport; in virtual time the stack polls until every source is caught up."""

    logical_id: str
    function_name: str
    stats: PollReport  # running totals; the stack saves them after each poll that did something

    def poll_once(self, *, flush: bool = False) -> PollReport:
        """Deliver what is due. `flush`: in virtual time, do not wait out a batching window."""
        ...

    def caught_up(self) -> bool:
        """Nothing left that this source will deliver without more input."""
        ...

    def idle_rounds(self) -> int:
        """Polls without progress after which this source counts as stuck (its longest retry chain)."""
        ...

    def summary(self, function: str, lost: list[str], *, stopped: bool) -> dict[str, Any]:
        """Its row of the report's `esm` section (report.mapping_summary's keys, `topic` naming what it
        reads); what it lost is appended to `lost` as one line each."""
        ...

    def close(self) -> None: ...


SourceFactory = Callable[["Resource", StackServices], "EventSource | None"]
"""Builds the source for one resource, or None when the resource is not one it runs."""

_FACTORIES: dict[str, list[SourceFactory]] = {}


def register(resource_type: str) -> Callable[[SourceFactory], SourceFactory]:
    """Decorator: `factory` runs resources of `resource_type` (it may still decline one)."""

    def add(factory: SourceFactory) -> SourceFactory:
        _FACTORIES.setdefault(resource_type, []).append(factory)
        return factory

    return add


def factories(resource_type: str) -> list[SourceFactory]:
    """The factories for a resource type, once every kind's module has registered its own."""
    _import_kinds()
    return list(_FACTORIES.get(resource_type, ()))


def build_sources(resources: Iterable[Resource], services: StackServices) -> list[EventSource]:
    """A source for each resource some kind runs, in template order."""
    sources = []
    for resource in resources:
        for factory in factories(resource.type):
            source = factory(resource, services)
            if source is not None:
                sources.append(source)
                break
    return sources


# What each kind's AWS page is, for the warning about a source that is not run.
_PAGES: Mapping[str, str] = {
    "sqs": "https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html",
    "kinesis": "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html",
    "dynamodb": "https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html",
    "mq": "https://docs.aws.amazon.com/lambda/latest/dg/with-mq.html",
    "docdb": "https://docs.aws.amazon.com/lambda/latest/dg/with-documentdb.html",
}


def not_run_warning(logical_id: str, service: str) -> str:
    page = _PAGES.get(
        service, "https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html"
    )
    return f"{logical_id}: {service or 'this'} event source mapping is not run by localfaas ({page}); skipped"


def _import_kinds() -> None:
    """Each kind's module registers its factories when imported; they are listed here, once."""
    # One line per kind of source, e.g. "import localfaas.sqs_source" with noqa F401.
    import localfaas.eventbridge_scheduler
    import localfaas.schedules
    import localfaas.sns_source
    import localfaas.sqs_source
    import localfaas.stream_source  # noqa: F401
