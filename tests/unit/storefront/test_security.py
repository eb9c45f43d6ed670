"""Locking accounts on denied attempts in an event-time window, and the security alert: no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from storefront.events import AccessDenied, AccountLocked
from storefront.security import (
    DeniedAttempt,
    LockDecision,
    LockOutcome,
    LockPolicy,
    announcement,
    decide_lock,
    range_to_query,
    security_alert,
    time_key,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
POLICY = LockPolicy(threshold=3, window_seconds=900)


def denied(n: int, *, minutes: float, customer_id: str = "c-1") -> AccessDenied:
    return AccessDenied(
        event_id=f"deny-{n}",
        occurred_at=T0 + timedelta(minutes=minutes),
        customer_id=customer_id,
        source_ip="203.0.113.7",
    )


def attempt(n: int, *, minutes: float, customer_id: str = "c-1") -> DeniedAttempt:
    return DeniedAttempt.of(denied(n, minutes=minutes, customer_id=customer_id))


def test_policy_defaults_to_three_attempts_in_fifteen_minutes():
    assert LockPolicy.from_environment({}) == LockPolicy(threshold=3, window_seconds=900)


def test_policy_reads_threshold_and_window_from_the_environment():
    policy = LockPolicy.from_environment({"LOCK_THRESHOLD": "5", "LOCK_WINDOW_SECONDS": "60"})
    assert (policy.threshold, policy.window_seconds) == (5, 60)


def test_policy_rejects_a_zero_threshold():
    with pytest.raises(ValueError, match="at least 1"):
        LockPolicy(threshold=0)


def test_attempt_key_sorts_by_event_time_then_id():
    keys = [attempt(2, minutes=0.5).key, attempt(1, minutes=10).key, attempt(3, minutes=0).key]
    assert sorted(keys) == [
        attempt(3, minutes=0).key,
        attempt(2, minutes=0.5).key,
        attempt(1, minutes=10).key,
    ]
    assert attempt(1, minutes=0).key == "2026-11-26T09:00:00.000000Z#deny-1"


def test_naive_event_time_is_read_as_utc():
    naive = DeniedAttempt(customer_id="c-1", occurred_at=datetime(2026, 11, 26, 9, 0), event_id="x")
    assert naive.key == "2026-11-26T09:00:00.000000Z#x"


def test_attempt_expires_one_window_after_it_happened():
    first = attempt(1, minutes=0)
    assert first.expires_at(POLICY, processed_at=T0) == int((T0 + timedelta(seconds=900)).timestamp())


def test_replayed_attempt_expires_one_window_after_processing():
    old = attempt(1, minutes=0)
    later = T0 + timedelta(days=30)
    assert old.expires_at(POLICY, processed_at=later) == int((later + timedelta(seconds=900)).timestamp())


def test_query_range_spans_one_window_either_side():
    assert range_to_query(attempt(1, minutes=0), POLICY) == (
        T0 - timedelta(minutes=15),
        T0 + timedelta(minutes=15),
    )


def test_third_attempt_in_the_window_locks():
    third = attempt(3, minutes=14)
    decision = decide_lock(third, [attempt(1, minutes=0), attempt(2, minutes=5), third], POLICY)
    assert decision == LockDecision(lock=True, denied_attempts=3, decided_at=third.occurred_at)


def test_second_attempt_does_not_lock():
    decision = decide_lock(attempt(2, minutes=5), [attempt(1, minutes=0)], POLICY)
    assert decision.lock is False
    assert decision.denied_attempts == 2


def test_attempt_just_outside_the_window_does_not_count():
    third = attempt(3, minutes=15.01)
    decision = decide_lock(third, [attempt(1, minutes=0), attempt(2, minutes=5)], POLICY)
    assert decision.lock is False


def test_window_bounds_are_inclusive():
    third = attempt(3, minutes=15)
    assert decide_lock(third, [attempt(1, minutes=0), attempt(2, minutes=5)], POLICY).lock is True


def test_a_redelivered_attempt_counts_once():
    second = attempt(2, minutes=5)
    decision = decide_lock(second, [attempt(1, minutes=0), second, second], POLICY)
    assert decision.lock is False


def test_other_customers_attempts_do_not_count():
    mine = attempt(3, minutes=2)
    others = [attempt(1, minutes=0, customer_id="c-2"), attempt(2, minutes=1, customer_id="c-2")]
    assert decide_lock(mine, others, POLICY).lock is False


def test_late_attempt_completes_the_window_of_a_later_one():
    # Processed 1, 3, 2: the in-order stream locked at attempt 3; the late attempt 2 decides so too.
    first, late, third = attempt(1, minutes=0), attempt(2, minutes=5), attempt(3, minutes=10)
    decision = decide_lock(late, [first, third], POLICY)
    assert decision == LockDecision(lock=True, denied_attempts=3, decided_at=third.occurred_at)


def test_replay_decides_as_the_live_stream_whatever_the_processing_time():
    stream = [attempt(n, minutes=m) for n, m in [(1, 0), (2, 7), (3, 14), (4, 40)]]
    decisions = [decide_lock(a, stream[: i + 1], POLICY).lock for i, a in enumerate(stream)]
    assert decisions == [False, False, True, False]


def test_threshold_of_one_locks_on_the_first_attempt():
    assert decide_lock(attempt(1, minutes=0), [], LockPolicy(threshold=1)).lock is True


def locking_decision() -> LockDecision:
    return LockDecision(lock=True, denied_attempts=3, decided_at=T0 + timedelta(minutes=14))


def test_locking_announces_account_locked_at_event_time():
    locked = announcement(denied(3, minutes=14), locking_decision(), LockOutcome.LOCKED, POLICY)
    assert isinstance(locked, AccountLocked)
    assert (locked.customer_id, locked.denied_attempts, locked.window_seconds) == ("c-1", 3, 900)
    assert locked.occurred_at == T0 + timedelta(minutes=14)


def test_redelivered_lock_announces_the_same_event():
    one = announcement(denied(3, minutes=14), locking_decision(), LockOutcome.LOCKED, POLICY)
    two = announcement(denied(3, minutes=14), locking_decision(), LockOutcome.LOCKED, POLICY)
    assert one == two


@pytest.mark.parametrize("outcome", [LockOutcome.ALREADY_LOCKED, None])
def test_nothing_is_announced_unless_this_attempt_locked(outcome):
    assert announcement(denied(3, minutes=14), locking_decision(), outcome, POLICY) is None


def test_no_lock_decision_announces_nothing_even_if_locked():
    quiet = LockDecision(lock=False, denied_attempts=1, decided_at=T0)
    assert announcement(denied(1, minutes=0), quiet, LockOutcome.LOCKED, POLICY) is None


def account_locked(customer_id: str = "c-1") -> AccountLocked:
    return AccountLocked(
        event_id="lock-1", occurred_at=T0, customer_id=customer_id, denied_attempts=3, window_seconds=900
    )


def test_alert_names_customer_attempts_window_and_time():
    alert = security_alert(account_locked())
    assert alert.subject == "Storefront account locked: c-1"
    for expected in ["customerId: c-1", "deniedAttempts: 3", "windowSeconds: 900", "15 minutes"]:
        assert expected in alert.message
    assert "lockedAt: 2026-11-26T09:00:00.000000Z" in alert.message


def test_alert_subject_is_one_ascii_line_under_100_characters():
    subject = security_alert(account_locked("ç\n" + "x" * 62)).subject
    assert subject.isascii() and "\n" not in subject and len(subject) < 100


def test_time_keys_are_fixed_width_utc_and_sort_as_the_times_do():
    moments = [
        datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 9, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 25, 10, 30, 5, 250000, tzinfo=timezone(timedelta(hours=2))),  # 08:30:05.25Z
        datetime(2026, 11, 25, 9, 0, 59),  # naive: read as UTC
    ]
    keys = [time_key(m) for m in moments]
    assert keys == [
        "2026-11-25T09:00:00.000000Z",
        "2026-11-25T09:00:00.000001Z",
        "2026-11-25T08:30:05.250000Z",
        "2026-11-25T09:00:59.000000Z",
    ]
    assert sorted(keys) == [
        time_key(m) for m in sorted(moments, key=lambda m: m.replace(tzinfo=m.tzinfo or UTC))
    ]
