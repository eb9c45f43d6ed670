"""The projector: what one event does to the SQL read model, as a list of changes. Pure.

`project(state, event)` reads the current rows through `ReadModelState` and returns the changes
to make; it writes nothing. ProjectSql (one record per transaction) and `storefront replay` (many
records per transaction) share it, and an adapter applies its changes together with the record's
`applied_offsets` row (`project_record` adds that row).

The decisions are the reactions' own (`storefront.inventory.restock`, `storefront.fulfilment.assemble`,
`storefront.sales.close_ticket`, `storefront.security.decide_lock`), with each event's own time
as "now", so a replay decides exactly as the live stream did.

Order across topics is not guaranteed live (each topic has its own event source mapping): an
arrival may be read before its payment, a denied attempt before the account request. So where
two topics meet in one row they write different columns, and the lock is derived from the
recorded attempts whenever the account or an attempt comes in: the rows end the same whichever
consumer runs first, which is what lets a replay in event-time order reproduce the live tables.

An event that cannot be applied raises `UnprojectableEvent` (or the decision's own conflict);
`project_record` turns any of them, and unreadable records, into `UnprojectableRecord` naming the
record's topic, partition and offset (never its values: they may be personal data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from storefront.accounts import AccountConflict
from storefront.events import (
    AccessDenied,
    AccountRequested,
    DomainEvent,
    InventoryUpdated,
    LoginSucceeded,
    MalformedEvent,
    PaymentCompleted,
    ShipmentArrived,
    parse_event,
)
from storefront.fulfilment import ASSEMBLY_REQUESTED, OrderConflict, assemble
from storefront.inventory import SupplyOrder, restock
from storefront.sales import SalesTicket, close_ticket
from storefront.security import DeniedAttempt, LockDecision, LockPolicy, decide_lock, utc

__all__ = [
    "ACTIVE",
    "DELIVERED",
    "LOCKED",
    "Change",
    "Insert",
    "ReadModelState",
    "Reads",
    "SourceRecord",
    "UnprojectableEvent",
    "UnprojectableRecord",
    "Upsert",
    "project",
    "project_record",
    "read_event",
]

ACTIVE = "ACTIVE"
LOCKED = "LOCKED"
DELIVERED = "DELIVERED"

Row = Mapping[str, Any]


@dataclass(frozen=True)
class SourceRecord:
    """One Kafka record as the read model needs it: coordinates, timestamp (ms) and value."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None

    @property
    def coordinates(self) -> str:
        return f"{self.topic}-{self.partition}@{self.offset}"


@dataclass(frozen=True)
class Insert:
    """Add a row that does not exist yet."""

    table: str
    row: Row


@dataclass(frozen=True)
class Upsert:
    """Set `values` on the row with `key`; a missing row is created with `insert_defaults` too."""

    table: str
    key: Row
    values: Row
    insert_defaults: Row = field(default_factory=dict)


Change = Insert | Upsert


class ReadModelState(Protocol):
    """The reads the projector needs, answered from the rows as they are (changes included)."""

    def row(self, table: str, key: Row) -> dict[str, Any] | None: ...

    def denied_attempts(self, customer_id: str, since: datetime) -> list[DeniedAttempt]:
        """The customer's recorded attempts that happened at or after `since`."""

    def latest_supply_order(self, sku: str) -> dict[str, Any] | None:
        """The sku's most recently placed supply order (ties broken by id), or None."""


class UnprojectableEvent(ValueError):
    """A valid event that the read model cannot take (an announcement, an unknown kind)."""


class UnprojectableRecord(ValueError):
    """A record that cannot be applied, named by its coordinates; the reason never quotes values."""

    def __init__(self, record: SourceRecord, reason: str) -> None:
        super().__init__(f"{record.coordinates}: {reason}")
        self.topic, self.partition, self.offset = record.topic, record.partition, record.offset
        self.reason = reason


# The decisions' own refusals, besides unreadable events: the record goes to the failure queue.
_REFUSALS = (MalformedEvent, UnprojectableEvent, AccountConflict, OrderConflict)


def read_event(record: SourceRecord) -> DomainEvent:
    """The record's event; UnprojectableRecord when its value is missing or unreadable."""
    try:
        if record.value is None:
            raise MalformedEvent("the record has no value")
        return parse_event(record.value)
    except MalformedEvent as error:
        raise UnprojectableRecord(record, str(error)) from None


def project_record(
    state: ReadModelState, record: SourceRecord, policy: LockPolicy, event: DomainEvent | None = None
) -> list[Change]:
    """The record's changes, ending with its `applied_offsets` row; UnprojectableRecord when it has none.

    `event` is the record's event when the caller has read it already (`read_event`)."""
    if event is None:
        event = read_event(record)
    try:
        changes = project(state, event, policy)
    except _REFUSALS as error:
        raise UnprojectableRecord(record, str(error)) from None
    applied = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "event_time": utc(event.occurred_at),
    }
    return [*changes, Insert("applied_offsets", applied)]


def project(state: ReadModelState, event: DomainEvent, policy: LockPolicy) -> list[Change]:
    """What `event` changes in the read model, given the rows as they are."""
    projection = _PROJECTIONS.get(type(event))
    if projection is None:
        # Announcements (AccountCreated, AccountLocked, ...) travel on the bus, not on a topic:
        # the read model derives their facts from the topics' events, so one here is a mistake.
        raise UnprojectableEvent(f"{event.event_type} is not read from a topic; nothing projects it")
    return projection(state, event, policy)


@dataclass
class Reads:
    """What projecting some events will read: rows by key per table, the customers whose attempts
    are counted, the skus whose latest supply order is looked at. An adapter may load them in a
    few queries beforehand; a read it was not told of is still answered, one query at a time."""

    rows: dict[str, set[tuple]] = field(default_factory=dict)
    attempts_of: set[str] = field(default_factory=set)
    supply_orders_of: set[str] = field(default_factory=set)

    def add(self, event: DomainEvent) -> None:
        if isinstance(event, AccountRequested):
            self.rows.setdefault("customers", set()).add((event.customer_id,))
            self.attempts_of.add(event.customer_id)
        elif isinstance(event, AccessDenied):
            self.rows.setdefault("security_incidents", set()).add((event.event_id,))
            self.rows.setdefault("customers", set()).add((event.customer_id,))
            self.attempts_of.add(event.customer_id)
        elif isinstance(event, InventoryUpdated):
            self.rows.setdefault("inventory_levels", set()).add((event.sku, event.warehouse_id))
            self.supply_orders_of.add(event.sku)
        elif isinstance(event, PaymentCompleted | ShipmentArrived):
            self.rows.setdefault("orders", set()).add((event.order_id,))
            self.rows.setdefault("sales_tickets", set()).add((event.order_id,))


def _columns(decided: Any) -> dict[str, Any]:
    """A decision's dataclass as a row. Not dataclasses.asdict: its deep copy of every value was a
    tenth of a replay, and the values (strings, numbers, datetimes) are immutable."""
    return {f.name: getattr(decided, f.name) for f in fields(decided)}


# --- customer-accounts and security ------------------------------------------------------------


def _account_requested(state: ReadModelState, event: AccountRequested, policy: LockPolicy) -> list[Change]:
    key = {"customer_id": event.customer_id}
    current = state.row("customers", key)
    if current is not None:
        if current["opened_by_event_id"] != event.event_id:
            raise AccountConflict(f"customer {event.customer_id} already has an account")
        return []  # the same request, produced twice
    requested_at = utc(event.occurred_at)
    profile = {
        "email": event.email,
        "full_name": event.full_name,
        "marketing_opt_in": event.marketing_opt_in,
        "requested_at": requested_at,
        "opened_by_event_id": event.event_id,
    }
    # Attempts read before the request (another topic) may already lock the new account.
    attempts = state.denied_attempts(event.customer_id, requested_at - policy.window)
    return [
        Upsert("customers", key, {**profile, **_lock_columns(_first_lock(attempts, requested_at, policy))})
    ]


def _access_denied(state: ReadModelState, event: AccessDenied, policy: LockPolicy) -> list[Change]:
    if state.row("security_incidents", {"event_id": event.event_id}) is not None:
        return []  # the same attempt, produced twice: it counts once
    attempt = DeniedAttempt.of(event)
    changes: list[Change] = [
        Insert(
            "security_incidents",
            {
                "event_id": event.event_id,
                "customer_id": event.customer_id,
                "occurred_at": attempt.occurred_at,
                "source_ip": event.source_ip,
                "reason": event.reason,
            },
        )
    ]
    customer = state.row("customers", {"customer_id": event.customer_id})
    if customer is None or customer["status"] == LOCKED:
        return changes  # no account to lock (yet: its request will look at this attempt), or locked
    since = customer["requested_at"]
    attempts = [*state.denied_attempts(event.customer_id, since - policy.window), attempt]
    decision = _first_lock(attempts, since, policy)
    if decision is not None:
        changes.append(Upsert("customers", {"customer_id": event.customer_id}, _lock_columns(decision)))
    return changes


def _login_succeeded(state: ReadModelState, event: LoginSucceeded, policy: LockPolicy) -> list[Change]:
    return []  # logins change no table (the audit archive keeps them); the offset is still recorded


@dataclass(frozen=True)
class _Lock:
    decision: LockDecision
    by_event_id: str


def _first_lock(attempts: Sequence[DeniedAttempt], since: datetime, policy: LockPolicy) -> _Lock | None:
    """The earliest window (LockAccount's rule, `decide_lock`) that reaches the threshold and ends at
    or after `since`, the account's request: attempts on an id before it had an account only count
    toward a window that closes once it has one, whichever topic was read first."""
    ordered = sorted({a.key: a for a in attempts}.values(), key=lambda a: a.key)
    for candidate in (a for a in ordered if a.occurred_at >= since):
        decision = decide_lock(candidate, ordered, policy)
        if decision.lock:
            closing = next(a for a in ordered if a.occurred_at == decision.decided_at)
            return _Lock(decision, closing.event_id)
    return None


def _lock_columns(lock: _Lock | None) -> dict[str, Any]:
    if lock is None:
        return {"status": ACTIVE}
    return {"status": LOCKED, "locked_at": lock.decision.decided_at, "locked_by_event_id": lock.by_event_id}


# --- inventory ----------------------------------------------------------------------------------


def _inventory_updated(state: ReadModelState, event: InventoryUpdated, policy: LockPolicy) -> list[Change]:
    counted_at = utc(event.occurred_at)
    key = {"sku": event.sku, "warehouse_id": event.warehouse_id}
    level = state.row("inventory_levels", key)
    if level is not None and level["counted_by_event_id"] == event.event_id:
        return []  # the same count, produced twice
    changes: list[Change] = []
    if level is None or level["counted_at"] <= counted_at:  # an older count never hides a newer one
        changes.append(_level(key, event, counted_at))
    latest = state.latest_supply_order(event.sku)
    decision = restock(event, SupplyOrder(**latest) if latest else None, now=counted_at)
    if decision.place is not None:
        changes.append(Insert("supply_orders", _columns(decision.place)))
    if decision.receive is not None:
        received = decision.receive
        changes.append(
            Upsert(
                "supply_orders",
                {"supply_order_id": received.supply_order_id},
                {
                    "status": received.status,
                    "received_at": received.received_at,
                    "received_by_event_id": received.received_by_event_id,
                },
            )
        )
    return changes


def _level(key: Row, event: InventoryUpdated, counted_at: datetime) -> Upsert:
    return Upsert(
        "inventory_levels",
        key,
        {
            "on_hand": event.on_hand,
            "reorder_point": event.reorder_point,
            "reorder_quantity": event.reorder_quantity,
            "below_reorder_point": event.on_hand < event.reorder_point,
            "counted_at": counted_at,
            "counted_by_event_id": event.event_id,
        },
    )


# --- payments and shipments ---------------------------------------------------------------------


def _payment_completed(state: ReadModelState, event: PaymentCompleted, policy: LockPolicy) -> list[Change]:
    key = {"order_id": event.order_id}
    current = state.row("orders", key)
    if current is not None and current["payment_id"] is not None:
        if current["payment_id"] != event.payment_id:
            raise OrderConflict(f"order {event.order_id} is paid already by another payment")
        return []  # the same payment, produced twice
    assembly = assemble(event, None, now=utc(event.occurred_at))
    order, ticket = assembly.order, assembly.ticket
    address = order.shipping_address
    payment = {
        "customer_id": order.customer_id,
        "payment_id": order.payment_id,
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "paid_at": utc(order.paid_at),
        "paid_by_event_id": order.recorded_by_event_id,
        "fulfilment_request_id": order.fulfilment_request_id,
        "ship_to_city": address.city,
        "ship_to_postal_code": address.postal_code,
        "ship_to_country": address.country,
    }
    # An order delivered already (its arrival was read first) keeps its DELIVERED status.
    changes: list[Change] = [Upsert("orders", key, payment, insert_defaults={"status": ASSEMBLY_REQUESTED})]
    changes += [
        Insert("order_lines", {"order_id": order.order_id, "line_number": number, **line.model_dump()})
        for number, line in enumerate(order.lines, start=1)
    ]
    existing_ticket = state.row("sales_tickets", key)
    if existing_ticket is None:
        changes.append(Insert("sales_tickets", _columns(ticket)))
    elif existing_ticket["opened_by_event_id"] is None:  # closed before it opened: fill in, never reopen
        opening = {
            k: v
            for k, v in _columns(ticket).items()
            if k in ("customer_id", "opened_at", "opened_by_event_id")
        }
        changes.append(Upsert("sales_tickets", key, opening))
    return changes


def _shipment_arrived(state: ReadModelState, event: ShipmentArrived, policy: LockPolicy) -> list[Change]:
    key = {"order_id": event.order_id}
    arrived_at = utc(event.occurred_at)
    changes: list[Change] = []
    order = state.row("orders", key)
    if order is None or order["delivered_by_event_id"] is None:  # the first arrival is the delivery
        delivery = {
            "status": DELIVERED,
            "delivered_at": arrived_at,
            "shipment_id": event.shipment_id,
            "carrier": event.carrier,
            "delivered_by_event_id": event.event_id,
        }
        changes.append(Upsert("orders", key, delivery))
    ticket = state.row("sales_tickets", key)
    closing = close_ticket(event, SalesTicket(**ticket) if ticket else None, now=arrived_at)
    if closing.ticket is not None:
        closed = {k: v for k, v in _columns(closing.ticket).items() if k != "order_id"}
        changes.append(Upsert("sales_tickets", key, closed))
    return changes


_PROJECTIONS: dict[type[DomainEvent], Callable[[ReadModelState, Any, LockPolicy], list[Change]]] = {
    AccountRequested: _account_requested,
    AccessDenied: _access_denied,
    LoginSucceeded: _login_succeeded,
    InventoryUpdated: _inventory_updated,
    PaymentCompleted: _payment_completed,
    ShipmentArrived: _shipment_arrived,
}
