"""The state folder's store: what PutEvents and asynchronous Invoke accepted outlives the process."""

from __future__ import annotations

import stat
import threading
from collections import Counter

from localfaas.durable import STORE_FILE, DurableStore


def envelope(event_id: str, detail_type: str = "Hello") -> dict:
    return {"id": event_id, "source": "shop", "detail-type": detail_type, "detail": {"n": 1}}


def test_the_store_is_the_owners_alone(tmp_path):
    store = DurableStore(tmp_path / "state")
    store.accept_events("default", [envelope("e-1")])
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    for path in (tmp_path / "state").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert store.path.name == STORE_FILE


def test_an_accepted_entry_is_unsettled_after_reopening_until_it_is_settled(tmp_path):
    store = DurableStore(tmp_path)
    store.accept_events("default", [envelope("e-1")], archived=True)
    store.accept_events("default", [envelope("e-2")])
    store.close()  # as good as a kill: every write was committed when it returned

    again = DurableStore(tmp_path)
    assert again.unsettled_events("default") == [(envelope("e-1"), True), (envelope("e-2"), False)]
    assert again.unsettled_events("orders") == []
    again.settle_event("e-1")
    assert [event["id"] for event, _ in again.unsettled_events("default")] == ["e-2"]


def test_an_entry_accepted_twice_counts_once(tmp_path):
    store = DurableStore(tmp_path)
    store.accept_events("default", [envelope("e-1")])
    store.accept_events("default", [envelope("e-1")])
    assert store.event_counts() == {"shop/Hello": 1}


def test_a_redelivery_replaces_the_outcome_of_its_target_and_a_replay_adds_its_own(tmp_path):
    store = DurableStore(tmp_path)
    store.record_delivery("e-1", None, "Rule", "T1", "delivered", 1, None)
    store.record_delivery("e-1", None, "Rule", "T1", "delivered", 2, None)
    store.record_delivery("e-1", "replay-1", "Rule", "T1", "delivered", 1, None)
    assert store.delivered_targets("e-1") == {("Rule", "T1")}
    assert [row[4] for row in store.delivery_outcomes()] == [2, 1]


def test_a_queued_invocation_keeps_its_retry_state_until_it_is_settled(tmp_path):
    store = DurableStore(tmp_path)
    store.accept_invocation("r-1", "fn", {"a": 1}, 100.0)
    store.accept_invocation("r-2", "fn", {"a": 2}, 101.0)
    store.record_attempt("r-1", 1, {"errorMessage": "boom"})
    store.settle_invocation("r-2", "Success", 1)
    store.close()

    again = DurableStore(tmp_path)
    [pending] = again.unsettled_invocations()
    assert (pending.request_id, pending.payload, pending.enqueued_at) == ("r-1", {"a": 1}, 100.0)
    assert (pending.attempts, pending.last_error) == (1, {"errorMessage": "boom"})
    again.settle_invocation("r-1", "RetriesExhausted", 3)
    again.mark_record_delivered("r-1")
    assert again.invocation_outcomes() == [
        ("r-1", "fn", "RetriesExhausted", 3, True),
        ("r-2", "fn", "Success", 1, False),
    ]


def test_each_run_on_a_state_gets_the_next_number_and_progress_values_persist(tmp_path):
    assert DurableStore(tmp_path).begin_run() == 1
    store = DurableStore(tmp_path)
    assert store.begin_run() == 2
    store.put("fed:day", {"records": 3})
    assert DurableStore(tmp_path).get("fed:day") == {"records": 3}
    assert store.get("missing", 0) == 0


def test_threads_writing_at_once_lose_nothing(tmp_path):
    store = DurableStore(tmp_path)

    def accept(worker: int) -> None:
        for n in range(50):
            store.accept_events("default", [envelope(f"e-{worker}-{n}")])

    threads = [threading.Thread(target=accept, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.unsettled_events("default")) == 200


def test_a_store_in_memory_keeps_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = DurableStore(None)
    store.accept_events("default", [envelope("e-1")])
    assert [event["id"] for event, _ in store.unsettled_events("default")] == ["e-1"]
    assert list(tmp_path.iterdir()) == []


def test_what_was_sent_to_failure_destinations_is_counted_by_reason_across_reopening(tmp_path):
    topic = "arn:aws:sns:us-east-1:123456789012:parked"
    store = DurableStore(tmp_path)
    store.note_parked(topic, "RetryAttemptsExhausted")
    store.note_parked(topic, "RetryAttemptsExhausted")
    store.close()
    store = DurableStore(tmp_path)
    store.note_parked(topic, "RecordAgeExceeded")
    store.note_parked("arn:aws:sqs:us-east-1:123456789012:q", "NO_RESOURCE")
    assert store.parked_sent() == {
        topic: Counter({"RetryAttemptsExhausted": 2, "RecordAgeExceeded": 1}),
        "arn:aws:sqs:us-east-1:123456789012:q": Counter({"NO_RESOURCE": 1}),
    }
