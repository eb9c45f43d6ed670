"""Decisions about account security: when denied access attempts lock an account, and the alert.

Attempts are counted per customer in a sliding window of *event time* (each attempt's
`occurredAt`), never processing time, so a replay of the security topic or a batch that arrives
late decides exactly as the live stream did. Plain data in, decisions out: no AWS here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from storefront.events import AccessDenied, AccountLocked

DEFAULT_THRESHOLD = 3
DEFAULT_WINDOW_SECONDS = 900


@dataclass(frozen=True)
class LockPolicy:
    """`threshold` denied attempts within `window_seconds` lock the account."""

    threshold: int = DEFAULT_THRESHOLD
    window_seconds: int = DEFAULT_WINDOW_SECONDS

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.window_seconds < 1:
            raise ValueError("lock threshold and window must both be at least 1")

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> LockPolicy:
        """LOCK_THRESHOLD and LOCK_WINDOW_SECONDS, as template.yaml sets them; defaults when unset."""
        return cls(
            threshold=int(environ.get("LOCK_THRESHOLD") or DEFAULT_THRESHOLD),
            window_seconds=int(environ.get("LOCK_WINDOW_SECONDS") or DEFAULT_WINDOW_SECONDS),
        )


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is read as UTC (the catalogue's convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def time_key(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so keys sort by string exactly as they sort by time."""
    # isoformat, not strftime("%Y-%m-%dT%H:%M:%S.%fZ"): the same text at a fifth of the cost, and
    # LockAccount makes one per denied attempt (strftime was a tenth of its time per record).
    return utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class DeniedAttempt:
    customer_id: str
    occurred_at: datetime
    event_id: str

    @classmethod
    def of(cls, denied: AccessDenied) -> DeniedAttempt:
        return cls(
            customer_id=denied.customer_id, occurred_at=utc(denied.occurred_at), event_id=denied.event_id
        )

    @property
    def key(self) -> str:
        """The attempt's sort key: time first (range queries), then id (a redelivery overwrites itself)."""
        return f"{time_key(self.occurred_at)}#{self.event_id}"

    def expires_at(self, policy: LockPolicy, processed_at: datetime) -> int:
        """Epoch seconds after which the attempt can no longer count (the TTL).

        An attempt only matters for one window after it happened; but an attempt replayed or
        arriving late is kept one window past its processing too, because DynamoDB TTL may delete
        an item already expired at write time before the next attempt's query reads it ("typically
        within two days", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html).
        """
        return int((max(utc(self.occurred_at), utc(processed_at)) + policy.window).timestamp())


def range_to_query(attempt: DeniedAttempt, policy: LockPolicy) -> tuple[datetime, datetime]:
    """The event-time span of stored attempts the decision needs: one window either side.

    Before: the window that ends at this attempt. After: attempts of later event time that were
    processed first (out of order) whose windows this attempt may complete.
    """
    return attempt.occurred_at - policy.window, attempt.occurred_at + policy.window


@dataclass(frozen=True)
class LockDecision:
    lock: bool
    denied_attempts: int  # attempts in the window that reached the threshold (or in this one's window)
    decided_at: datetime  # event time of the window's end: when, in event time, the lock applies


def decide_lock(attempt: DeniedAttempt, stored: Iterable[DeniedAttempt], policy: LockPolicy) -> LockDecision:
    """Does this attempt bring some window of `policy.window` to `policy.threshold` attempts?

    Windows are closed intervals [end - window, end] ending at an attempt. In order, only the
    window ending at this attempt can be new; an attempt that arrives after later ones may also
    complete a window ending at one of those, which the in-order stream would have locked on.
    `stored` may or may not already hold this attempt; duplicates (same key) count once.
    """
    attempts = {a.key: a for a in stored if a.customer_id == attempt.customer_id}
    attempts[attempt.key] = attempt
    times = sorted(utc(a.occurred_at) for a in attempts.values())
    ends = [t for t in times if attempt.occurred_at <= t <= attempt.occurred_at + policy.window]
    for end in ends:
        count = sum(1 for t in times if end - policy.window <= t <= end)
        if count >= policy.threshold:
            return LockDecision(lock=True, denied_attempts=count, decided_at=end)
    own = sum(1 for t in times if attempt.occurred_at - policy.window <= t <= attempt.occurred_at)
    return LockDecision(lock=False, denied_attempts=own, decided_at=attempt.occurred_at)


class LockOutcome(StrEnum):
    """What locking did to the stored account."""

    LOCKED = "locked"  # locked now, or by this very attempt on an earlier (interrupted) delivery
    ALREADY_LOCKED = "already-locked"  # locked before by another attempt: nothing changes


def announcement(
    attempt: AccessDenied, decision: LockDecision, outcome: LockOutcome | None, policy: LockPolicy
) -> AccountLocked | None:
    """AccountLocked when this attempt locked the account; None otherwise.

    An already locked account announces nothing again. A customer whose account request this
    consumer has not seen yet is locked all the same: topics are not ordered against each other,
    and the login service only denies customers it knows, so the lock waits for the account.
    A redelivered attempt that had locked the account announces the *same* event (same id), so a
    crash between locking and announcing loses nothing and consumers drop the duplicate.
    """
    if not decision.lock or outcome is not LockOutcome.LOCKED:  # None: locking was not attempted
        return None
    return AccountLocked.caused_by(
        attempt,
        at=decision.decided_at,
        customer_id=attempt.customer_id,
        denied_attempts=decision.denied_attempts,
        window_seconds=policy.window_seconds,
    )


@dataclass(frozen=True)
class SecurityAlert:
    """An SNS message: subject (one ASCII line, under 100 characters) and plain-text body."""

    subject: str
    message: str


def security_alert(locked: AccountLocked) -> SecurityAlert:
    """The alert security personnel get: ids, counts and times only, never personal data."""
    window_minutes = locked.window_seconds / 60
    window = (
        f"{window_minutes:g} minutes" if locked.window_seconds % 60 == 0 else f"{locked.window_seconds} s"
    )
    at = time_key(locked.occurred_at)
    return SecurityAlert(
        # SNS: "no line breaks or control characters, and less than 100 characters long"
        # (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html); ASCII, as it becomes an email subject.
        subject=_ascii_line(f"Storefront account locked: {locked.customer_id}")[:99],
        message="\n".join(
            [
                f"Account {locked.customer_id} was locked after {locked.denied_attempts} denied access "
                f"attempts within {window}.",
                "",
                f"customerId: {locked.customer_id}",
                f"deniedAttempts: {locked.denied_attempts}",
                f"windowSeconds: {locked.window_seconds}",
                f"lockedAt: {at}",
                f"eventId: {locked.event_id}",
            ]
        ),
    )


def _ascii_line(text: str) -> str:
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())
