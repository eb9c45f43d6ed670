"""One AWS call of a handler made to fail, to prove what the retry after it does.

Every call of every botocore client (the handler's own, Powertools' idempotency store, those behind
boto3 resources) passes through `BaseClient._make_api_call`, which runs botocore's retries inside
it; a fault raised there is a call that failed after all its attempts. Four kinds:

- refused: the request never took effect, as a throttled one (`ThrottlingException`, HTTP 400);
- lost: the request took effect and its answer was lost (a read timeout), the ambiguous failure
  after which nobody knows whether the effect happened;
- resent: the same, but botocore's standard mode retried it (a read timeout is a transient error,
  https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html): the request is
  made twice and the caller gets the second answer, a conditional write's failed condition say;
- crash: the process dies just before the call (killed, out of memory, timed out): no code runs
  after it, so Powertools' in-progress record stays, and Lambda retries once its deadline passed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.support.lambda_context import FakeLambdaContext

Call = tuple[str, str]  # (service, operation), e.g. ("ses", "SendEmail")
Fault = Literal["refused", "lost", "resent", "crash"]
FAULTS = ("refused", "lost", "resent", "crash")
# The failed try's context: Lambda retries after that invocation ended, so the in-progress record
# Powertools may have left (when saving the result failed, or the process died) has expired by then.
EXPIRED = FakeLambdaContext(remaining_ms=-1)


class ProcessDied(BaseException):
    """Not an Exception: neither the handler nor Powertools gets to clean up after it."""


class AwsCalls:
    """The calls made while active, in order; `fail_call(n, kind)` fails the n-th call from now."""

    def __init__(self) -> None:
        self.made: list[Call] = []
        self._countdown: int | None = None
        self._kind: Fault = "refused"
        self.failed: Call | None = None

    def fail_call(self, n: int, kind: Fault) -> None:
        self._countdown, self._kind, self.failed = n, kind, None

    def _call(self, original: Callable[..., Any], client: BaseClient, operation: str, params: dict) -> Any:
        call = (client.meta.service_model.service_name, operation)
        self.made.append(call)
        if self._countdown is not None:
            self._countdown -= 1
            if self._countdown == 0:
                self._countdown, self.failed = None, call
                return self._fail(original, client, operation, params)
        return original(client, operation, params)

    def _fail(self, original: Callable[..., Any], client: BaseClient, operation: str, params: dict) -> Any:
        if self._kind == "crash":
            raise ProcessDied(operation)
        if self._kind == "refused":
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                operation,
            )
        original(client, operation, params)
        if self._kind == "resent":
            return original(client, operation, params)
        raise ReadTimeoutError(endpoint_url=f"https://{self.failed[0]}.us-east-1.amazonaws.com/")


@contextmanager
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsCalls]:
    calls = AwsCalls()
    original = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict) -> Any:
        return calls._call(original, client, operation, params)

    with monkeypatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", make_api_call)
        yield calls


def clean_run_calls(calls: AwsCalls, handler: Callable[..., Any], *args: Any) -> list[Call]:
    """The calls one fault-free `handler(*args)` makes, in order (its effects stay: give it its own event)."""
    start = len(calls.made)
    handler(*args)
    return calls.made[start:]


def failing(
    calls: AwsCalls, n: int, kind: Fault, handler: Callable[..., Any], *args: Any
) -> tuple[Call, bool]:
    """`handler(*args)` with its n-th call failing; that call, and whether the handler then failed."""
    calls.fail_call(n, kind)
    try:
        handler(*args)
    except (Exception, ProcessDied):  # a Kafka batch raises BatchProcessingError, the others the fault
        raised = True
    else:
        raised = False
    assert calls.failed is not None, f"call {n} was never made"
    return calls.failed, raised


class Trial(NamedTuple):
    n: int
    failed: Call  # the call that failed
    before: Call | None  # the call made just before it (None: it was the first)
    fault: Fault
    answer: Any  # what the retry answered

    def repeats(self, effect: Call) -> bool:
        """Whether this trial may do `effect` twice, as the README says: the effect's own request
        taken while its answer was lost, or the process dead right after the effect, before its mark."""
        return (self.fault in ("lost", "resent") and self.failed == effect) or (
            self.fault == "crash" and self.before == effect
        )


def each_call_failing(
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    handler: Callable[[Any, Any], Any],
    event_of: Callable[[int], Any],
    context: Any,
) -> Iterator[Trial]:
    """For each call n of a clean run of `event_of(0)`: `event_of(n)` with call n failing, then the
    same event again (the retry), whose answer the Trial holds. `event_of(n)` is called once per n,
    before call n is armed, so it may prepare what the event needs.

    A resent call must not fail the handler: every write is one its own resend cannot refuse.
    """
    with aws_calls(monkeypatch) as calls:
        clean = clean_run_calls(calls, handler, event_of(0), context)
        for n in range(1, len(clean) + 1):
            event = event_of(n)  # once: the retry is the same batch or event, the same offsets
            failed, raised = failing(calls, n, fault, handler, event, EXPIRED)
            assert not (fault == "resent" and raised), f"{failed} resent failed the handler"
            before = clean[n - 2] if n > 1 else None
            yield Trial(n, failed, before, fault, handler(event, context))


def copies(announced: list[dict]) -> int:
    """How many copies of one announcement the bus carried; fails unless they are one event."""
    assert len({json.dumps(event["detail"], sort_keys=True) for event in announced}) == 1, announced
    return len(announced)
