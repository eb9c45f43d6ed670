"""Lambda asynchronous invocation: the event queue, retries on function errors, and the function's
dead-letter queue and destinations.

Emulates "Asynchronous invocation" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html)
and "Capturing records of Lambda asynchronous invocations"
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
- an invocation is queued and returns a request id at once; the function runs from the queue;
- when the function returns an error, Lambda runs it up to two more times (MaximumRetryAttempts 0-2),
  waiting one minute before the first retry and two minutes before the second;
- an event older than MaximumEventAgeInSeconds (60-21600, default 6 hours) is discarded unprocessed;
- a discarded event goes to the on-failure destination as an invocation record (version, timestamp,
  requestContext{requestId, functionArn, condition, approximateInvokeCount}, requestPayload,
  responseContext, responsePayload) with condition RetriesExhausted or EventAgeExceeded, and to the
  function's dead-letter queue as the event itself with the RequestID, ErrorCode and ErrorMessage
  attributes; a success goes to the on-success destination as a record with condition Success.
EventBridge invokes its Lambda targets this way, so this, not the bus, retries a function's errors.

With a DurableStore the queue is durable, as Lambda's is ("Lambda places the event in a queue and
returns a success response"): an invocation is kept before its request id is returned, its failed
attempts are counted there, and it leaves the store on success or when given up on. `resume()` queues
again what a killed process left, with its request id and the attempts it had used; it runs at once,
since the backoff it was waiting out belonged to the dead process's clock.

Destinations are reached through the injected `send_to_destination(arn, body, attributes)`, which decides
what an SQS, SNS, Lambda or EventBridge ARN means. Not emulated: throttling and its longer retries,
reserved concurrency, the 256 KB payload limit, versions and aliases (every ARN names $LATEST).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from localfaas.scheduler import Clock, Scheduler

if TYPE_CHECKING:
    from localfaas.durable import DurableStore

RETRY_DELAYS_SECONDS = (60.0, 120.0)
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21_600
ERROR_MESSAGE_LIMIT = 1024  # the DLQ's ErrorMessage attribute carries the first 1 KB of the message


class InvocationOutcome(Protocol):
    """What `invoke` returns; localfaas.runtime.InvocationResult fits."""

    @property
    def ok(self) -> bool: ...

    error: dict[str, Any] | None
    payload: Any


SendToDestination = Callable[[str, str, dict[str, dict[str, str]]], None]


@dataclass(frozen=True)
class AsyncInvokeConfig:
    """A function's asynchronous-invocation settings: AWS::Lambda::EventInvokeConfig plus the function's
    DeadLetterConfig."""

    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_seconds: int = DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
    on_success: str | None = None
    on_failure: str | None = None
    dead_letter_arn: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.maximum_retry_attempts <= 2:
            raise ValueError("MaximumRetryAttempts must be between 0 and 2")
        if not 60 <= self.maximum_event_age_seconds <= 21_600:
            raise ValueError("MaximumEventAgeInSeconds must be between 60 and 21600")

    @classmethod
    def from_properties(
        cls,
        event_invoke_config: Mapping[str, Any] | None = None,
        function_properties: Mapping[str, Any] | None = None,
    ) -> AsyncInvokeConfig:
        """From an AWS::Lambda::EventInvokeConfig's Properties and an AWS::Lambda::Function's Properties
        (its DeadLetterConfig.TargetArn), as they are after SAM translation."""
        config = event_invoke_config or {}
        destinations = config.get("DestinationConfig") or {}
        return cls(
            maximum_retry_attempts=int(config.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS)),
            maximum_event_age_seconds=int(
                config.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_SECONDS)
            ),
            on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
            on_failure=(destinations.get("OnFailure") or {}).get("Destination"),
            dead_letter_arn=((function_properties or {}).get("DeadLetterConfig") or {}).get("TargetArn"),
        )


@dataclass(frozen=True)
class _KeptOutcome:
    """A failed attempt as the store kept it: enough for the record sent when the invocation is given up."""

    error: dict[str, Any] | None
    payload: Any = None
    ok: bool = False


@dataclass
class _Request:
    function_name: str
    event: Any
    request_id: str
    enqueued_at: float
    config: AsyncInvokeConfig
    attempts: int = 0
    last: InvocationOutcome | None = None


@dataclass(frozen=True)
class AsyncOutcome:
    """What became of one asynchronous invocation."""

    request_id: str
    function_name: str
    condition: str  # Success | RetriesExhausted | EventAgeExceeded
    attempts: int


@dataclass
class AsyncInvoker:
    """Queues asynchronous invocations and works them off on `scheduler`, retrying function errors
    after the delays AWS documents. `invoke(function_name, event)` runs the function synchronously."""

    invoke: Callable[[str, Any], InvocationOutcome]
    send_to_destination: SendToDestination | None
    clock: Clock
    scheduler: Scheduler
    account_id: str = "123456789012"
    region: str = "us-east-1"
    configs: dict[str, AsyncInvokeConfig] = field(default_factory=dict)
    seed: int | str | None = 0
    outcomes: list[AsyncOutcome] = field(default_factory=list)
    store: DurableStore | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 -- reproducible request ids, not secrets

    def configure(self, function_name: str, config: AsyncInvokeConfig) -> None:
        self.configs[function_name] = config

    def invoke_async(self, function_name: str, event: Any) -> str:
        """Invoke with InvocationType Event: queue the event and return its request id."""
        request_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        config = self.configs.get(function_name) or AsyncInvokeConfig()
        request = _Request(function_name, event, request_id, self.clock.now(), config)
        if self.store is not None:
            self.store.accept_invocation(request_id, function_name, event, request.enqueued_at)
        self.scheduler.schedule(request.enqueued_at, lambda: self._attempt(request))
        return request_id

    def resume(self) -> int:
        """Queue again the invocations a previous process accepted and never settled. Returns how many."""
        if self.store is None:
            return 0
        kept = self.store.unsettled_invocations()
        for invocation in kept:
            config = self.configs.get(invocation.function) or AsyncInvokeConfig()
            request = _Request(
                invocation.function,
                invocation.payload,
                invocation.request_id,
                invocation.enqueued_at,
                config,
                attempts=invocation.attempts,
                last=_KeptOutcome(invocation.last_error) if invocation.attempts else None,
            )
            self.scheduler.schedule(self.clock.now(), lambda r=request: self._attempt(r))
        return len(kept)

    def function_arn(self, function_name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{function_name}"

    def _attempt(self, request: _Request) -> None:
        if self._too_old(request, self.clock.now()):
            return self._give_up(request, "EventAgeExceeded")
        request.attempts += 1
        request.last = self.invoke(request.function_name, request.event)
        if request.last.ok:
            return self._succeed(request)
        if request.attempts > request.config.maximum_retry_attempts:
            return self._give_up(request, "RetriesExhausted")
        if self.store is not None:
            self.store.record_attempt(request.request_id, request.attempts, request.last.error)
        retry_at = self.clock.now() + RETRY_DELAYS_SECONDS[min(request.attempts, 2) - 1]
        if self._too_old(request, retry_at):
            return self._give_up(request, "EventAgeExceeded")
        self.scheduler.schedule(retry_at, lambda: self._attempt(request))
        return None

    @staticmethod
    def _too_old(request: _Request, at: float) -> bool:
        return at - request.enqueued_at > request.config.maximum_event_age_seconds

    def _settle(self, request: _Request, condition: str) -> None:
        self.outcomes.append(
            AsyncOutcome(request.request_id, request.function_name, condition, request.attempts)
        )
        if self.store is not None:
            self.store.settle_invocation(request.request_id, condition, request.attempts)

    def _succeed(self, request: _Request) -> None:
        self._settle(request, "Success")
        if request.config.on_success:
            self._send(request.config.on_success, json.dumps(self.invocation_record(request, "Success")), {})

    def _give_up(self, request: _Request, condition: str) -> None:
        self._settle(request, condition)
        if request.config.on_failure:
            self._send(request.config.on_failure, json.dumps(self.invocation_record(request, condition)), {})
        if request.config.dead_letter_arn:
            self._send(
                request.config.dead_letter_arn, json.dumps(request.event), self._dlq_attributes(request)
            )

    def _send(self, arn: str, body: str, attributes: dict[str, dict[str, str]]) -> None:
        if self.send_to_destination is not None:
            self.send_to_destination(arn, body, attributes)

    def invocation_record(self, request: _Request, condition: str) -> dict[str, Any]:
        """The record AWS sends to a destination ("Capturing records of Lambda asynchronous invocations")."""
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": _timestamp(self.clock.now()),
            "requestContext": {
                "requestId": request.request_id,
                "functionArn": f"{self.function_arn(request.function_name)}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": request.attempts,
            },
            "requestPayload": request.event,
        }
        if request.last is not None:  # an event that aged out before any attempt has no response
            response = {"statusCode": 200, "executedVersion": "$LATEST"}
            if not request.last.ok:
                response["functionError"] = "Unhandled"
            record["responseContext"] = response
            record["responsePayload"] = request.last.payload if request.last.ok else request.last.error
        return record

    @staticmethod
    def _dlq_attributes(request: _Request) -> dict[str, dict[str, str]]:
        error = (request.last.error or {}) if request.last is not None else {}
        message = str(error.get("errorMessage", "Event age exceeded" if request.last is None else ""))
        return {
            "RequestID": {"DataType": "String", "StringValue": request.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": message.encode()[:ERROR_MESSAGE_LIMIT].decode(errors="ignore"),
            },
        }


def _timestamp(epoch: float) -> str:
    """``2019-11-14T18:16:05.568Z``, as the records show it."""
    return (
        dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
