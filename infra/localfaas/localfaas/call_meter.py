"""The functions' AWS calls counted: one per API request a service served, by function and operation.

One request is the unit CloudTrail records (one event per API request, `eventName` the operation,
for data-plane operations when data events are logged: "CloudTrail concepts",
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html) and the unit
the services that charge per request bill (SQS: a SendMessageBatch of ten is one request per 64 KB,
https://aws.amazon.com/sqs/pricing/; SNS and S3 likewise); an SDK retry is one more request.
EventBridge bills per entry and DynamoDB per capacity unit: not what this counts. A request is also
one round trip a deployed function waits on, so a function that batches makes fewer calls, which is
what issue 15's figure (AWS calls per business record) measures.

A call is counted once, where it is served: in this process at botocore's before-send (the
in-process runtime; the request is then marked with METERED_HEADER, so the events endpoint or a
moto server of this process that it reaches does not count it again), at a moto server of this
process (worker processes), at the events endpoint (localfaas.events_api) and at Lambda's Invoke API
(localfaas.lambda_api). It observes, it never
refuses: it runs after the roles and the throttle (localfaas.sdk_hooks ORDER), so a request
localfaas refused in IAM's or a throttle's place is not counted, and the SDK's retry of it is. The
calling function is known by the access key id of its SigV4 scope (localfaas.execution_roles gives
each function its own); localfaas's own calls (its User-Agent) and calls signed with other keys are
not the functions' and are not counted. Only on moto backends (localfaas.local_stack): on LocalStack
and AWS the functions sign with the backend's one key. Not seen: with a moto server of another
process, the worker processes' calls other than PutEvents and Invoke. The counts are saved with the
functions' invocation counts (localfaas.local_stack), so a run resumed after a kill goes on from them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from localfaas import sdk_hooks
from localfaas.events_api import METERED_HEADER
from localfaas.execution_roles import ExecutionRole, execution_roles
from localfaas.iam_requests import operation
from localfaas.sdk_hooks import Answer, SdkCall

__all__ = ["METERED_HEADER", "CallMeter"]


class CallMeter:
    """Counts the calls of the functions whose access key ids `load` gives it."""

    def __init__(self) -> None:
        self._by_key: dict[str, ExecutionRole] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def load(self, roles: Mapping[str, ExecutionRole]) -> None:
        self._by_key = {role.access_key_id: role for role in roles.values()}

    def load_stack(self, stack: Any) -> None:
        """The functions of a loaded template (localfaas.template.Stack), known by their roles' keys."""
        self.load(execution_roles(stack)[0])

    def resume(self, saved: Mapping[str, Mapping[str, int]]) -> None:
        """Go on from what `counts()` returned before (a run resumed on its state folder)."""
        with self._lock:
            for function, operations in saved.items():
                for name, n in operations.items():
                    self._counts[(function, name)] += int(n)

    def credentials_env(self, function: Any) -> dict[str, str]:
        """A function's own credentials, by which its calls are told apart (nothing without a role)."""
        role = next((r for r in self._by_key.values() if r.function_logical_id == function.logical_id), None)
        return role.credentials_env() if role is not None else {}

    def observe(self, call: SdkCall) -> Answer | None:
        """Count `call` if it is a function's and not counted yet; never refuses (returns None)."""
        if call.header(METERED_HEADER):
            return None
        role = self._by_key.get(call.access_key_id or "")
        if role is None or call.from_localfaas:
            return None
        name = operation(call) or f"{call.api or '?'}:?"
        with self._lock:
            self._counts[(role.function_logical_id, name)] += 1
        # In this process these are the request's own headers: whatever serves it sees the mark.
        call.headers[METERED_HEADER] = "1"
        return None

    def decide(self, headers: Any, path: str, body: bytes = b"") -> Answer | None:
        """The events endpoint's guard, as localfaas.role_enforcement's: the call counted, never refused."""
        return self.observe(SdkCall("POST", f"http://localhost{path}", dict(headers.items()), body))

    def install_in_process(self) -> Callable[[], None]:
        """Count the calls made in this process too, and those a moto server here gets; returns the undo."""
        return sdk_hooks.install_in_process(self.observe, "meter")

    def counts(self) -> dict[str, dict[str, int]]:
        """{function logical id: {"service:Operation": calls}}, both sorted."""
        with self._lock:
            items = sorted(self._counts.items())
        counted: dict[str, dict[str, int]] = {}
        for (function, name), n in items:
            counted.setdefault(function, {})[name] = n
        return counted
