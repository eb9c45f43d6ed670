"""Decisions about stock: when a warehouse count calls for a supply order, and when it ends one.

The rule, per sku (one supply order per sku at a time, kept in a table keyed by sku):

- a count below the reorder point places a supply order for the reorder quantity, unless one
  is open already;
- a count at or above the reorder point means the supply arrived (or the stock recovered some
  other way): the open order is marked RECEIVED, so the next drop below the point re-orders.

InventoryUpdated carries the counts (event-carried state transfer), so no other service is asked,
and the latest count wins: a count no later than the one that last changed the sku's order changes
nothing (ReorderLowStock's table writes hold that in their conditions, storefront.adapters.supply_orders).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from storefront.events import InventoryUpdated, SupplyOrderPlaced

OPEN = "OPEN"
RECEIVED = "RECEIVED"


@dataclass(frozen=True)
class SupplyOrder:
    supply_order_id: str
    sku: str
    warehouse_id: str
    quantity: int
    status: str  # OPEN or RECEIVED
    placed_at: datetime
    placed_by_event_id: str
    received_at: datetime | None = None
    received_by_event_id: str | None = None


@dataclass(frozen=True)
class Restock:
    """What to do about one count; all None when the count changes nothing."""

    place: SupplyOrder | None = None  # a new open order to store (only where none is open)
    receive: SupplyOrder | None = None  # the open order, now RECEIVED, to store over it
    announcement: SupplyOrderPlaced | None = None


def supply_order_id(update: InventoryUpdated) -> str:
    """The supply order's id, derived from the count that placed it: a redelivery names the same order."""
    return "SO-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"storefront:{update.event_id}:supply-order")).upper()


def is_low(update: InventoryUpdated) -> bool:
    return update.on_hand < update.reorder_point


def restock(update: InventoryUpdated, current: SupplyOrder | None, now: datetime) -> Restock:
    """Decide what the count `update` does, given the sku's latest supply order (None: never ordered).

    A redelivered count that placed the current order announces the same SupplyOrderPlaced again
    (same id, same time) and stores nothing, so a crash between storing and announcing loses nothing.
    """
    if current is not None and (again := announced_again(update, current)) is not None:
        return Restock(announcement=again)
    if not is_low(update):
        if current is not None and current.status == OPEN:
            return Restock(
                receive=replace(
                    current, status=RECEIVED, received_at=now, received_by_event_id=update.event_id
                )
            )
        return Restock()
    if current is not None and current.status == OPEN:
        return Restock()  # one open order per sku: it is on its way
    order = SupplyOrder(
        supply_order_id=supply_order_id(update),
        sku=update.sku,
        warehouse_id=update.warehouse_id,
        quantity=update.reorder_quantity,
        status=OPEN,
        placed_at=now,
        placed_by_event_id=update.event_id,
    )
    return Restock(place=order, announcement=_placed(update, order))


def announced_again(update: InventoryUpdated, current: SupplyOrder) -> SupplyOrderPlaced | None:
    """What a count announces that finds the sku's order standing in its way: the same SupplyOrderPlaced
    again when it placed that order itself (a redelivery; same id, same time), else nothing."""
    return _placed(update, current) if current.placed_by_event_id == update.event_id else None


def _placed(update: InventoryUpdated, order: SupplyOrder) -> SupplyOrderPlaced:
    # Stamped with the order's placing time, so a re-announcement is the identical event.
    return SupplyOrderPlaced.caused_by(
        update,
        at=order.placed_at,
        supply_order_id=order.supply_order_id,
        sku=order.sku,
        warehouse_id=order.warehouse_id,
        quantity=order.quantity,
    )
