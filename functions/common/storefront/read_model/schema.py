"""The SQL read model's schema: one SQLAlchemy Core `MetaData`, the same on SQLite and PostgreSQL.

Only portable types are used (strings, integers, booleans, timestamps); every timestamp goes in
and comes out as an aware UTC datetime (`UtcDateTime`), so rows compare and checksum alike on
both databases. Column names of `supply_orders` and `sales_tickets` are the fields of the
decision modules' dataclasses (`storefront.inventory.SupplyOrder`, `storefront.sales.SalesTicket`),
so a row converts to one and back without a mapping table.

No personal secret is stored: the password hash never leaves CreateAccount; of a shipping
address only city, postal code and country are kept (what the back office reports on).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "TABLES",
    "UtcDateTime",
    "applied_offsets",
    "customers",
    "inventory_levels",
    "metadata",
    "order_lines",
    "orders",
    "sales_tickets",
    "security_incidents",
    "supply_orders",
]


class UtcDateTime(TypeDecorator):
    """A timestamp stored in UTC: `timestamptz` on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite keeps text; an offset in it would break comparisons between rows.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()
_ID = 64


def _id(name: str, **kwargs: Any) -> Column:
    return Column(name, String(_ID), **kwargs)


# Customers and their accounts. Two topics write here, each its own columns: customer-accounts
# the profile (null until the request is read), security the lock and logins. So the row ends the
# same whichever topic's consumer runs first.
customers = Table(
    "customers",
    metadata,
    _id("customer_id", primary_key=True),
    Column("email", String(254)),
    Column("full_name", String(200)),
    Column("marketing_opt_in", Boolean),
    Column("requested_at", UtcDateTime),
    _id("opened_by_event_id"),
    Column("status", String(16), nullable=False),  # ACTIVE or LOCKED
    Column("locked_at", UtcDateTime),
    _id("locked_by_event_id"),
    Column("last_login_at", UtcDateTime),
)

# Every denied access attempt, on a known account or not (probing unknown ids is recorded too).
security_incidents = Table(
    "security_incidents",
    metadata,
    _id("event_id", primary_key=True),
    _id("customer_id", nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("source_ip", String(64), nullable=False),
    Column("reason", String(32), nullable=False),
    Index("ix_security_incidents_customer_time", "customer_id", "occurred_at"),
)

# The latest count per sku and warehouse (event-carried state transfer: the event has it all).
inventory_levels = Table(
    "inventory_levels",
    metadata,
    _id("sku", primary_key=True),
    _id("warehouse_id", primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("reorder_point", Integer, nullable=False),
    Column("reorder_quantity", Integer, nullable=False),
    Column("below_reorder_point", Boolean, nullable=False),
    Column("counted_at", UtcDateTime, nullable=False),
    _id("counted_by_event_id", nullable=False),
)

supply_orders = Table(
    "supply_orders",
    metadata,
    Column("supply_order_id", String(80), primary_key=True),
    _id("sku", nullable=False),
    _id("warehouse_id", nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # OPEN or RECEIVED
    Column("placed_at", UtcDateTime, nullable=False),
    _id("placed_by_event_id", nullable=False),
    Column("received_at", UtcDateTime),
    _id("received_by_event_id"),
    Index("ix_supply_orders_sku_placed", "sku", "placed_at"),
)

# Orders and their fulfilment. The payment fills the payment columns, the arrival the delivery
# columns: like customers, the row ends the same whichever topic is read first.
orders = Table(
    "orders",
    metadata,
    _id("order_id", primary_key=True),
    _id("customer_id"),
    _id("payment_id"),
    Column("amount_cents", BigInteger),
    Column("currency", String(3)),
    Column("status", String(24), nullable=False),  # ASSEMBLY_REQUESTED or DELIVERED
    Column("paid_at", UtcDateTime),
    _id("paid_by_event_id"),
    Column("fulfilment_request_id", String(80)),
    Column("ship_to_city", String(100)),
    Column("ship_to_postal_code", String(20)),
    Column("ship_to_country", String(2)),
    Column("delivered_at", UtcDateTime),
    _id("shipment_id"),
    Column("carrier", String(64)),
    _id("delivered_by_event_id"),
)

order_lines = Table(
    "order_lines",
    metadata,
    _id("order_id", primary_key=True),
    Column("line_number", Integer, primary_key=True),
    _id("sku", nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
)

sales_tickets = Table(
    "sales_tickets",
    metadata,
    _id("order_id", primary_key=True),
    Column("status", String(16), nullable=False),  # OPEN or CLOSED
    _id("customer_id"),
    Column("opened_at", UtcDateTime),
    _id("opened_by_event_id"),
    Column("closed_at", UtcDateTime),
    _id("closed_by_event_id"),
    _id("shipment_id"),
)

# One row per event applied, written in the record's own transaction, keyed by the record that
# carried it. One row per record rather than a high-water mark per partition: with
# ReportBatchItemFailures Lambda retries only the failed records, so a record can be retried after
# later offsets of its partition were applied
# (https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html). The event id is
# unique too: a producer that retries a send writes the same event at a new offset, and only the
# first is applied; two consumers racing on one event make one transaction fail at its commit.
applied_offsets = Table(
    "applied_offsets",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("offset", BigInteger, primary_key=True, autoincrement=False),
    _id("event_id", nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("event_time", UtcDateTime, nullable=False),
    Index("ux_applied_offsets_event_id", "event_id", unique=True),
)

TABLES: dict[str, Table] = dict(metadata.tables)
