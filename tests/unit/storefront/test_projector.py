"""The projector, pure: events in, read-model changes out, over the in-memory state."""

from __future__ import annotations

import json
from itertools import count, permutations

import pytest

from storefront.events import AccountCreated, DomainEvent
from storefront.read_model import Insert, SourceRecord, UnprojectableRecord, project_record
from storefront.read_model.memory import MemoryState
from storefront.security import LockPolicy
from tests.support.factories import (
    access_denied,
    account_requested,
    account_requested_v1,
    arrival,
    at,
    inventory,
    login,
    payment,
    source_record,
)

POLICY = LockPolicy(threshold=3, window_seconds=900)
_offsets = count()


def record(event: DomainEvent | bytes, topic: str | None = None) -> SourceRecord:
    return source_record(topic or event.TOPIC, event, next(_offsets))


def applied(*events: DomainEvent | SourceRecord, state: MemoryState | None = None) -> MemoryState:
    state = state or MemoryState()
    for event in events:
        state.apply(
            project_record(state, event if isinstance(event, SourceRecord) else record(event), POLICY)
        )
    return state


def dump(state: MemoryState) -> str:
    return json.dumps({table: state.rows(table) for table in state.tables}, default=str)


def refusal(state: MemoryState, rec: SourceRecord) -> str:
    with pytest.raises(UnprojectableRecord) as caught:
        project_record(state, rec, POLICY)
    assert (caught.value.topic, caught.value.partition, caught.value.offset) == (rec.topic, 0, rec.offset)
    return str(caught.value)


# --- accounts and locks -------------------------------------------------------------------------


def test_requested_account_is_an_active_customer_without_its_password_hash():
    state = applied(account_requested("c-1", at(9)))

    [customer] = state.rows("customers")
    assert customer["status"] == "ACTIVE"
    assert customer["email"] == "c-1@example.com"
    assert customer["requested_at"] == at(9)
    assert "$argon2id" not in dump(state)


def test_version_1_request_is_upcast_before_it_is_applied():
    state = applied(record(account_requested_v1("c-7", at(9)), topic="customer-accounts"))

    [customer] = state.rows("customers")
    assert customer["full_name"] == "Customer c-7"
    assert customer["marketing_opt_in"] is False


def test_second_request_for_a_taken_customer_id_is_refused_by_coordinates_without_values():
    state = applied(account_requested("c-1", at(9)))
    other = account_requested("c-1", at(9, 5), event_id="req-other")

    message = refusal(state, rec := record(other))

    assert message.startswith(f"customer-accounts-0@{rec.offset}: ")
    assert "already has an account" in message
    assert "@example.com" not in message


def test_same_request_produced_twice_changes_nothing_but_its_offset():
    state = applied(account_requested("c-1", at(9)))

    changes = project_record(state, record(account_requested("c-1", at(9))), POLICY)

    assert [type(c) for c in changes] == [Insert]
    assert changes[0].table == "applied_offsets"


def test_three_denied_attempts_within_the_window_lock_the_account_at_the_third():
    state = applied(
        account_requested("c-1", at(9)),
        access_denied("c-1", at(9, 1), 1),
        access_denied("c-1", at(9, 5), 2),
        access_denied("c-1", at(9, 16), 3),
    )

    [customer] = state.rows("customers")
    assert customer["status"] == "LOCKED"
    assert (customer["locked_at"], customer["locked_by_event_id"]) == (at(9, 16), "denied-c-1-3")
    assert len(state.rows("security_incidents")) == 3


def test_attempts_spread_wider_than_the_window_do_not_lock():
    state = applied(
        account_requested("c-1", at(9)),
        access_denied("c-1", at(9, 1), 1),
        access_denied("c-1", at(9, 10), 2),
        access_denied("c-1", at(9, 17), 3),
    )

    assert state.rows("customers")[0]["status"] == "ACTIVE"


def test_the_same_attempt_produced_twice_counts_once():
    denied = access_denied("c-1", at(9, 1), 1)
    state = applied(account_requested("c-1", at(9)), denied, denied, access_denied("c-1", at(9, 2), 2))

    assert state.rows("customers")[0]["status"] == "ACTIVE"
    assert len(state.rows("security_incidents")) == 2


def test_attempts_on_an_unknown_id_are_recorded_and_create_no_customer():
    state = applied(*(access_denied("ghost", at(9, n), n) for n in range(4)))

    assert state.rows("customers") == []
    assert len(state.rows("security_incidents")) == 4


def test_lock_ends_the_same_whichever_topic_is_read_first():
    request = account_requested("c-1", at(9))
    attempts = [access_denied("c-1", at(9, n), n) for n in (2, 4, 6)]
    logins = [login("c-1", at(9, 3))]

    states = [
        applied(*order)
        for order in (
            [request, *attempts, *logins],
            [*attempts, *logins, request],
            [attempts[0], request, *attempts[1:], *logins],
        )
    ]

    for table in ("customers", "security_incidents"):
        assert states[1].rows(table) == states[0].rows(table) == states[2].rows(table)
    assert states[0].rows("customers")[0]["status"] == "LOCKED"


def test_attempts_before_the_account_existed_only_count_toward_a_window_closing_after_it():
    early = [access_denied("c-1", at(8, 50 + n), n) for n in range(3)]

    state = applied(*early, account_requested("c-1", at(9)))

    assert state.rows("customers")[0]["status"] == "ACTIVE"


# --- inventory ----------------------------------------------------------------------------------


def test_low_count_places_one_supply_order_and_recovery_receives_it():
    state = applied(inventory("MUG-BLUE", at(9), on_hand=4), inventory("MUG-BLUE", at(10), on_hand=3))
    [order] = state.rows("supply_orders")
    assert (order["status"], order["quantity"], order["placed_at"]) == ("OPEN", 50, at(9))

    applied(inventory("MUG-BLUE", at(15), on_hand=53), state=state)

    [order] = state.rows("supply_orders")
    assert (order["status"], order["received_at"]) == ("RECEIVED", at(15))
    [level] = state.rows("inventory_levels")
    assert (level["on_hand"], level["below_reorder_point"]) == (53, False)


def test_next_drop_after_a_received_order_places_a_new_one():
    state = applied(
        inventory("MUG-BLUE", at(9), on_hand=4),
        inventory("MUG-BLUE", at(12), on_hand=60),
        inventory("MUG-BLUE", at(16), on_hand=2),
    )

    assert sorted(o["status"] for o in state.rows("supply_orders")) == ["OPEN", "RECEIVED"]


def test_an_older_count_read_late_never_hides_the_newer_one():
    state = applied(inventory("MUG-BLUE", at(12), on_hand=40), inventory("MUG-BLUE", at(11), on_hand=45))

    [level] = state.rows("inventory_levels")
    assert (level["on_hand"], level["counted_at"]) == (40, at(12))


def test_the_same_count_produced_twice_changes_nothing_but_its_offset():
    count_event = inventory("MUG-BLUE", at(9), on_hand=4)
    state = applied(count_event)

    changes = project_record(state, record(count_event), POLICY)

    assert [c.table for c in changes] == ["applied_offsets"]


# --- orders and tickets -------------------------------------------------------------------------


def test_payment_records_the_order_its_lines_and_an_open_ticket():
    state = applied(payment("O-1", "c-1", at(10)))

    [order] = state.rows("orders")
    assert (order["status"], order["amount_cents"], order["ship_to_city"]) == (
        "ASSEMBLY_REQUESTED",
        4_598,
        "London",
    )
    assert [line["sku"] for line in state.rows("order_lines")] == ["MUG-BLUE", "TEA-EARL-GREY"]
    assert state.rows("sales_tickets")[0]["status"] == "OPEN"
    assert "Lovelace" not in dump(state)  # no name or street kept


def test_arrival_delivers_the_order_and_closes_its_ticket():
    state = applied(payment("O-1", "c-1", at(10)), arrival("O-1", at(16)))

    assert state.rows("orders")[0]["status"] == "DELIVERED"
    ticket = state.rows("sales_tickets")[0]
    assert (ticket["status"], ticket["closed_at"], ticket["opened_at"]) == ("CLOSED", at(16), at(10))


@pytest.mark.parametrize("order", list(permutations(["pay", "arrive"])))
def test_order_and_ticket_end_the_same_whichever_topic_is_read_first(order):
    events = {"pay": payment("O-1", "c-1", at(10)), "arrive": arrival("O-1", at(16))}
    reference = applied(events["pay"], events["arrive"])

    state = applied(*(events[name] for name in order))

    for table in ("orders", "order_lines", "sales_tickets"):
        assert state.rows(table) == reference.rows(table)


def test_payment_for_an_order_paid_by_another_payment_is_refused():
    state = applied(payment("O-1", "c-1", at(10)))

    message = refusal(state, record(payment("O-1", "c-1", at(11), payment_id="P-other")))

    assert "paid already by another payment" in message


# --- records that cannot be applied -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"eventType": "GiftCardRedeemed", "schemaVersion": 1}', "invalid GiftCardRedeemed"),
        (
            json.dumps(
                {**json.loads(account_requested("c-1", at(9)).to_json()), "schemaVersion": 0}
            ).encode(),
            "AccountRequested v0 has no upcaster",
        ),
        (
            json.dumps(
                {**json.loads(account_requested("c-1", at(9)).to_json()), "schemaVersion": 3}
            ).encode(),
            "newer than this code",
        ),
        (None, "no value"),
    ],
)
def test_unreadable_record_is_refused_naming_topic_partition_offset(value, reason):
    rec = SourceRecord("customer-accounts", 0, 41, 0, value)

    message = refusal(MemoryState(), rec)

    assert message.startswith("customer-accounts-0@41: ")
    assert reason in message
    assert "c-1@example.com" not in message


def test_an_announcement_on_a_topic_is_refused():
    created = AccountCreated(
        event_id="created-1", occurred_at=at(9), customer_id="c-1", email="c-1@example.com", full_name="C"
    )

    message = refusal(MemoryState(), record(created, topic="customer-accounts"))

    assert "AccountCreated is not read from a topic" in message


def test_every_applied_record_ends_with_its_offset_row():
    rec = source_record("payments", payment("O-1", "c-1", at(10)), 17, partition=2)

    changes = project_record(MemoryState(), rec, POLICY)

    assert changes[-1] == Insert(
        "applied_offsets",
        {
            "topic": "payments",
            "partition": 2,
            "offset": 17,
            "event_id": "pay-O-1-1",
            "event_type": "PaymentCompleted",
            "event_time": at(10),
        },
    )
