"""Time for the emulator: a clock and a scheduler of delayed work, in virtual or real time.

EventBridge retries a failed target with backoffs of up to minutes, and Lambda retries a failed
asynchronous invocation after one and then two minutes. `VirtualScheduler` keeps virtual time:
`run_until_idle()` jumps the clock to the next due task, so those waits cost no real time in tests and
in `localfaas run`. `RealTimeScheduler` runs the same tasks on a worker thread at wall-clock time, for
`localfaas up`. In both, tasks due at the same moment run in the order they were scheduled, so a run
is deterministic given the same inputs (randomness, such as jitter, comes from seeded generators).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

Task = Callable[[], None]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""


class Scheduler(Clock, Protocol):
    def schedule(self, at: float, fn: Task) -> None:
        """Run `fn` at time `at` (or as soon as possible if `at` has passed)."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class VirtualScheduler:
    """A clock that only moves when tasks run: each task runs at its own due time."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._queue: list[tuple[float, int, Task]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    def begin_at(self, start: float) -> None:
        """Set the clock to `start` (a scenario's first record): virtual time is then the scenario's
        own, so a record's age (MaximumRecordAgeInSeconds) and the stamps of what the run writes are
        measured against the records' own timestamps, not the machine's clock. Work already queued
        (what a resumed run took over from a killed one) moves with the clock: what was due in N
        seconds is still due in N seconds."""
        shift = float(start) - self._now
        # A uniform shift keeps the heap's order, so the list needs no heapify.
        self._queue = [(at + shift, sequence, fn) for at, sequence, fn in self._queue]
        self._now = float(start)

    def advance_to(self, moment: float) -> int:
        """Move the clock forward to `moment` (never back), running the tasks due on the way."""
        return self.run_until_idle(until=moment) if moment > self._now else 0

    def schedule(self, at: float, fn: Task) -> None:
        heapq.heappush(self._queue, (max(at, self._now), next(self._sequence), fn))

    def call_later(self, delay: float, fn: Task) -> None:
        self.schedule(self._now + delay, fn)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def run_until_idle(self, *, until: float | None = None, max_tasks: int = 1_000_000) -> int:
        """Run due tasks in time order, jumping the clock forward, until none is left (or the next one
        is after `until`, where the clock then stops). Returns how many tasks ran."""
        ran = 0
        while self._queue and (until is None or self._queue[0][0] <= until):
            if ran >= max_tasks:
                raise RuntimeError(
                    f"scheduler still busy after {max_tasks} tasks; is a task rescheduling itself?"
                )
            at, _, fn = heapq.heappop(self._queue)
            self._now = max(self._now, at)
            fn()
            ran += 1
        if until is not None:
            self._now = max(self._now, until)
        return ran

    def advance(self, seconds: float) -> int:
        """Move the clock `seconds` forward, running the tasks due on the way."""
        return self.run_until_idle(until=self._now + seconds)


class RealTimeScheduler:
    """Runs tasks on one worker thread at wall-clock time. A failing task is logged, not fatal."""

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, Task]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._running = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="localfaas-scheduler", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.time()

    def schedule(self, at: float, fn: Task) -> None:
        with self._condition:
            heapq.heappush(self._queue, (at, next(self._sequence), fn))
            self._condition.notify_all()

    def call_later(self, delay: float, fn: Task) -> None:
        self.schedule(self.now() + delay, fn)

    def run_until_idle(self, timeout: float | None = None) -> bool:
        """Wait until no task is queued or running; False if `timeout` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._queue or self._running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._condition:
                fn = self._next_due()
                if fn is None:
                    return
                self._running += 1
            try:
                fn()
            except Exception:
                log.exception("scheduled task failed")
            finally:
                with self._condition:
                    self._running -= 1
                    self._condition.notify_all()

    def _next_due(self) -> Task | None:
        """Wait (holding the condition) for the next due task; None once stopped."""
        while not self._stopped:
            if self._queue and self._queue[0][0] <= self.now():
                return heapq.heappop(self._queue)[2]
            self._condition.wait(None if not self._queue else self._queue[0][0] - self.now())
        return None
