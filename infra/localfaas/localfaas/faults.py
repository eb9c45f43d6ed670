"""Fault plans: what goes wrong on purpose during a run, and the dice that decide when.

A plan is `throttle=0.2,crash=0.05,timeout=0.05,kill-after=N,seed=S` (the `--faults` flag of `run`
and `up`) or the same keys in a scenario's `"faults"` object:

- `throttle`: the share of the functions' AWS calls answered with the service's own throttling
  error (localfaas.throttling), so the SDK's retry modes take part;
- `crash`, `timeout`: the share of invocations reported as failed after the handler has run, its
  effects done, as when Lambda loses a function's answer (FaultyRuntime);
- `kill-after`: the run's process SIGKILLs itself right after its Nth invocation (0: never), and
  `localfaas run` resumes it (localfaas.commands.run);
- `seed`: the dice's seed, so a run with the same plan and scenario draws the same faults.

Each kind of fault has its own stream of draws, so throttling more does not move the crashes.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "Dice",
    "FaultPlan",
    "FaultPlanError",
    "FaultyRuntime",
    "fault_plan_from_mapping",
    "parse_fault_plan",
]

_SHARES = ("throttle", "crash", "timeout")
_KEYS = (*_SHARES, "kill-after", "seed")


class FaultPlanError(ValueError):
    """A fault plan that cannot be used; the message is one line that names the key."""


@dataclass(frozen=True)
class FaultPlan:
    throttle: float = 0.0
    crash: float = 0.0
    timeout: float = 0.0
    kill_after: int = 0  # 0: never
    seed: int | None = None  # None: drawn when the run starts (and printed, to run it again)

    @property
    def active(self) -> bool:
        return bool(self.throttle or self.crash or self.timeout or self.kill_after)

    def over(self, base: FaultPlan, given: frozenset[str]) -> FaultPlan:
        """This plan's `given` keys on top of `base` (a flag over a scenario's plan)."""
        return replace(base, **{_attribute(key): getattr(self, _attribute(key)) for key in given})

    def seeded(self) -> FaultPlan:
        return self if self.seed is not None else replace(self, seed=random.SystemRandom().randrange(2**31))

    def without_kill(self) -> FaultPlan:
        return replace(self, kill_after=0)

    def text(self) -> str:
        """The plan as the flag spells it (every key, so it overrides a scenario's plan whole)."""
        parts = [f"{key}={getattr(self, key):g}" for key in _SHARES]
        parts.append(f"kill-after={self.kill_after}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)


def parse_fault_plan(text: str) -> tuple[FaultPlan, frozenset[str]]:
    """`throttle=0.2,kill-after=40,seed=7` -> the plan and the keys it names."""
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise FaultPlanError(f"fault {item!r} is not key=value ({_expected()})")
        values[key.strip()] = value.strip()
    return fault_plan_from_mapping(values), frozenset(values)


def fault_plan_from_mapping(values: Mapping[str, Any], *, where: str = "") -> FaultPlan:
    """A plan from {key: value} (a scenario's "faults", or the flag's pairs); `where` prefixes errors."""
    fields: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _KEYS:
            raise FaultPlanError(f"{where}{key}: unknown fault ({_expected()})")
        if key in _SHARES:
            share = _number(key, value, where)
            if not 0 <= share <= 1:
                raise FaultPlanError(f"{where}{key}={value} is not a share between 0 and 1")
            fields[key] = share
        else:
            fields[_attribute(key)] = _count(key, value, where)
    if sum(fields.get(key, 0.0) for key in ("crash", "timeout")) > 1:
        raise FaultPlanError(f"{where}crash and timeout together exceed every invocation (their sum is > 1)")
    return FaultPlan(**fields)


def _number(key: str, value: Any, where: str) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise FaultPlanError(f"{where}{key}={value!r} is not a number") from None


def _count(key: str, value: Any, where: str) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        count = int(value)
    except (TypeError, ValueError):
        raise FaultPlanError(f"{where}{key}={value!r} is not a whole number") from None
    if count < 0:
        raise FaultPlanError(f"{where}{key}={value} is negative")
    return count


def _attribute(key: str) -> str:
    return key.replace("-", "_")


def _expected() -> str:
    return "expected " + ", ".join(f"{key}=" for key in _KEYS)


class Dice:
    """Seeded draws, one independent stream per kind of fault; thread-safe. Counts what it decided."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def roll(self, kind: str, share: float, *, label: str | None = None) -> bool:
        """True with probability `share`; a draw is taken even for a share of 0 or 1, so a stream's
        later draws do not depend on the shares asked before."""
        with self._lock:
            stream = self._streams.get(kind)
            if stream is None:
                stream = self._streams[kind] = random.Random(f"{self.seed}/{kind}")  # noqa: S311 - not crypto
            hit = stream.random() < share
            if hit:
                self.counts[label or kind] += 1
            return hit


# -- crashes, timeouts and the kill -------------------------------------------------------------------


class FaultyRuntime:
    """A Runtime whose invocations fail, on a share of them, after the handler ran to its end.

    The handler's effects happened; only its answer is lost, as when the runtime process dies while
    returning or the invocation runs out of time: `crash` is reported as Lambda reports a killed
    runtime process ("Runtime.ExitError", "Runtime exited with error: signal: killed"), `timeout` as
    "Sandbox.Timedout", "Task timed out after N.00 seconds" with the function's Timeout. Whatever
    invoked it (a mapping, Lambda's async retries, a bus) then retries it as it would a real failure:
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html
    With `kill_after`, the process SIGKILLs itself right after that many invocations returned.
    """

    def __init__(
        self,
        runtime: Any,
        plan: FaultPlan,
        dice: Dice,
        *,
        kill: Callable[[], None] | None = None,
    ) -> None:
        self.inner = runtime
        self.plan = plan
        self.dice = dice
        self.invocations = 0
        self._kill = kill or _kill_this_process
        self._lock = threading.Lock()

    def invoke(self, function: Any, event: Any, *, request_id: str | None = None) -> Any:
        from localfaas.runtime import exit_error, timeout_error

        result = self.inner.invoke(function, event, request_id=request_id)
        crashed = self.dice.roll("crash", self.plan.crash)
        timed_out = self.dice.roll("timeout", self.plan.timeout)
        if result.ok and (crashed or timed_out):
            if crashed:
                result.error = exit_error(result.request_id, -signal.SIGKILL)
                result.logs += (
                    f"RequestId: {result.request_id} Error: Runtime exited with error: signal: killed\n"
                )
            else:
                result.error = timeout_error(result.request_id, function.timeout)
                result.logs += f"{result.request_id} Task timed out after {function.timeout:.2f} seconds\n"
            result.payload = None
        with self._lock:
            self.invocations += 1
            due = self.plan.kill_after and self.invocations == self.plan.kill_after
        if due:
            self._kill()
        return result

    def close(self) -> None:
        self.inner.close()


def _kill_this_process() -> None:
    # What was written so far reaches the terminal; SIGKILL itself gives nothing a chance to clean up.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)
