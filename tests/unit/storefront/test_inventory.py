"""Reordering low stock: pure decisions, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storefront.events import InventoryUpdated
from storefront.inventory import OPEN, RECEIVED, announced_again, restock, supply_order_id

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def count(on_hand: int, event_id: str = "inv-1", reorder_point: int = 10) -> InventoryUpdated:
    return InventoryUpdated(
        event_id=event_id,
        occurred_at=NOW,
        sku="MUG-BLUE-350",
        warehouse_id="wh-leeds",
        on_hand=on_hand,
        reorder_point=reorder_point,
        reorder_quantity=48,
    )


def placed_by(event_id: str):
    return restock(count(2, event_id), current=None, now=NOW).place


def test_count_below_reorder_point_places_an_open_order_for_the_reorder_quantity():
    decision = restock(count(9), current=None, now=NOW)
    assert decision.place.status == OPEN
    assert decision.place.quantity == 48
    assert decision.place.warehouse_id == "wh-leeds"
    assert decision.announcement.supply_order_id == decision.place.supply_order_id
    assert decision.announcement.quantity == 48


def test_count_at_reorder_point_is_not_low():
    decision = restock(count(10), current=None, now=NOW)
    assert decision.place is None
    assert decision.announcement is None


def test_supply_order_id_is_derived_from_the_triggering_event():
    assert supply_order_id(count(2, "inv-1")) == supply_order_id(count(5, "inv-1"))
    assert supply_order_id(count(2, "inv-1")) != supply_order_id(count(2, "inv-2"))


def test_low_count_while_an_order_is_open_places_nothing():
    decision = restock(count(3, "inv-2"), current=placed_by("inv-1"), now=NOW)
    assert decision.place is None
    assert decision.announcement is None
    assert decision.receive is None


def test_redelivered_count_stores_nothing_and_announces_the_same_event():
    order = placed_by("inv-1")
    first = restock(count(2, "inv-1"), current=None, now=NOW)
    again = restock(count(2, "inv-1"), current=order, now=NOW + timedelta(minutes=5))
    assert again.place is None
    assert again.announcement == first.announcement


def test_count_back_at_reorder_point_receives_the_open_order():
    decision = restock(count(10, "inv-2"), current=placed_by("inv-1"), now=NOW)
    assert decision.receive.status == RECEIVED
    assert decision.receive.received_by_event_id == "inv-2"
    assert decision.announcement is None


def test_drop_after_the_order_was_received_places_a_new_order():
    received = restock(count(60, "inv-2"), current=placed_by("inv-1"), now=NOW).receive
    decision = restock(count(4, "inv-3"), current=received, now=NOW)
    assert decision.place.status == OPEN
    assert decision.place.supply_order_id != received.supply_order_id


def test_redelivered_count_after_its_order_was_received_places_nothing_new():
    received = restock(count(60, "inv-2"), current=placed_by("inv-1"), now=NOW).receive
    decision = restock(count(2, "inv-1"), current=received, now=NOW)
    assert decision.place is None


def test_high_count_with_no_open_order_changes_nothing():
    received = restock(count(60, "inv-2"), current=placed_by("inv-1"), now=NOW).receive
    assert restock(count(70, "inv-3"), current=received, now=NOW).receive is None


def test_a_count_refused_by_its_own_order_announces_it_again_and_by_another_nothing():
    first = restock(count(2, "inv-1"), current=None, now=NOW)
    received = restock(count(60, "inv-2"), current=first.place, now=NOW).receive
    assert announced_again(count(2, "inv-1"), first.place) == first.announcement
    assert announced_again(count(2, "inv-1"), received) == first.announcement  # received since
    assert announced_again(count(2, "inv-3"), first.place) is None
