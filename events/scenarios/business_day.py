"""A simulated business day for the storefront, written as a localfaas scenario.

    python events/scenarios/business_day.py > events/scenarios/business-day.json

Deterministic (seeded): a few hundred customers sign up and log in, some mistype their
password, a few are attacked until their account locks, warehouses recount stock as orders
drain it below reorder points, payments complete, shipments arrive, a producer retries a few
sends (duplicates), and a few malformed records slip in. `expected` states what the storefront
must have done by the end of the day; the end-to-end tests and `make demo` check it.
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from storefront.events import (
    AccessDenied,
    AccountRequested,
    Address,
    DomainEvent,
    InventoryUpdated,
    LoginSucceeded,
    OrderLine,
    PaymentCompleted,
    ShipmentArrived,
)

DAY = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LOCK_THRESHOLD, LOCK_WINDOW = 3, timedelta(minutes=15)
CONSUMERS_PER_TOPIC = 3  # the topic's reaction, AuditLog and ProjectSql (see template.yaml)
PARTITIONS = {"customer-accounts": 3, "inventory": 2, "payments": 3, "security": 3, "shipments": 2}
FIRST_NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena"]
LAST_NAMES = ["Costa", "Okafor", "Wei", "Novak", "Haddad", "Silva", "Meyer", "Tanaka", "Ortiz", "Berg"]
CITIES = [
    ("Lisbon", "PT", "1100-148"),
    ("Lyon", "FR", "69002"),
    ("Leeds", "GB", "LS1 4DY"),
    ("Graz", "AT", "8010"),
]


@dataclass
class Scenario:
    rng: random.Random
    records: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=lambda: defaultdict(int))

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(self, event: DomainEvent, *, duplicate: bool = False) -> None:
        record = {
            "topic": event.TOPIC,
            "key": event.aggregate_id,
            "value": event.to_wire(),
            "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
            "headers": {"content-type": "application/json", "producer": "storefront-web"},
        }
        self.records.append(record)
        if duplicate:  # a producer retry after a lost acknowledgement: same event, sent twice
            self.records.append({**record, "headers": {**record["headers"], "retry": "1"}})
            self.expected["duplicate_records"] += 1

    def malformed(self, topic: str, key: str, text: str, at: datetime) -> None:
        self.records.append(
            {
                "topic": topic,
                "key": key,
                "valueText": text,
                "timestamp": at.isoformat().replace("+00:00", "Z"),
            }
        )
        self.expected["malformed_records"] += 1


def customers(s: Scenario, count: int) -> list[tuple[str, datetime]]:
    signed_up = []
    for n in range(count):
        at = DAY + timedelta(seconds=s.rng.randrange(0, 9 * 3600))
        customer_id = f"cust-{10_000 + n}"
        first, last = s.rng.choice(FIRST_NAMES), s.rng.choice(LAST_NAMES)
        s.emit(
            AccountRequested(
                event_id=s.event_id(),
                occurred_at=at,
                customer_id=customer_id,
                email=f"{first}.{last}.{n}@example.com".lower(),
                full_name=f"{first} {last}",
                password_hash=f"$argon2id$v=19$m=65536,t=3,p=4${s.rng.getrandbits(64):016x}",
                marketing_opt_in=s.rng.random() < 0.3,
            ),
            duplicate=n % 97 == 5,
        )
        signed_up.append((customer_id, at))
    s.expected["accounts_created"] = count
    s.expected["confirmation_emails"] = count
    return signed_up


def logins(s: Scenario, signed_up: list[tuple[str, datetime]]) -> None:
    attacked = s.rng.sample(range(len(signed_up)), 24)
    for index, (customer_id, created) in enumerate(signed_up):
        ip = f"203.0.113.{s.rng.randrange(1, 255)}"
        at = created + timedelta(minutes=s.rng.randrange(1, 60))
        for _ in range(s.rng.randrange(1, 4)):
            s.emit(
                LoginSucceeded(event_id=s.event_id(), occurred_at=at, customer_id=customer_id, source_ip=ip)
            )
            at += timedelta(minutes=s.rng.randrange(5, 90))
        if index in attacked[:12]:  # an attack: 3 to 5 denials within a few minutes -> locked once
            attempts = s.rng.randrange(LOCK_THRESHOLD, LOCK_THRESHOLD + 3)
            for i in range(attempts):
                denied(s, customer_id, at + timedelta(seconds=40 * i), "198.51.100.7", duplicate=i == 1)
            s.expected["accounts_locked"] += 1
        elif index in attacked[12:18]:  # typos: fewer denials than the threshold
            for i in range(LOCK_THRESHOLD - 1):
                denied(s, customer_id, at + timedelta(minutes=2 * i), ip)
        elif index in attacked[18:]:  # threshold reached, but spread wider than the window
            for i in range(LOCK_THRESHOLD):
                denied(s, customer_id, at + (LOCK_WINDOW + timedelta(minutes=1)) * i, ip)
    s.expected["security_alerts"] = s.expected["accounts_locked"]


def denied(s: Scenario, customer_id: str, at: datetime, ip: str, *, duplicate: bool = False) -> None:
    event = AccessDenied(event_id=s.event_id(), occurred_at=at, customer_id=customer_id, source_ip=ip)
    s.emit(event, duplicate=duplicate)


@dataclass
class Stock:
    sku: str
    warehouse_id: str
    on_hand: int
    reorder_point: int
    reorder_quantity: int
    reordered: bool = False


def orders(s: Scenario, signed_up: list[tuple[str, datetime]], order_count: int) -> None:
    stock = [Stock(f"SKU-{100 + n}", f"wh-{n % 3 + 1}", s.rng.randrange(25, 60), 20, 100) for n in range(30)]
    for item in stock:
        s.emit(inventory_count(s, item, DAY - timedelta(hours=1)))
    # Orders are simulated in the order they are paid, so each recount follows the last one in time.
    paid = [
        (c, created + timedelta(minutes=s.rng.randrange(10, 120)))
        for c, created in s.rng.sample(signed_up, order_count)
    ]
    for n, (customer_id, at) in enumerate(sorted(paid, key=lambda order: order[1])):
        chosen = s.rng.sample(stock[:12] if n % 2 else stock, s.rng.randrange(1, 4))
        lines = tuple(
            OrderLine(sku=i.sku, quantity=s.rng.randrange(1, 4), unit_price_cents=1999) for i in chosen
        )
        order_id = f"order-{50_000 + n}"
        city, country, postal = s.rng.choice(CITIES)
        s.emit(
            PaymentCompleted(
                event_id=s.event_id(),
                occurred_at=at,
                order_id=order_id,
                customer_id=customer_id,
                payment_id=f"pay-{s.rng.getrandbits(40):010x}",
                amount_cents=sum(line.quantity * line.unit_price_cents for line in lines),
                currency="EUR",
                lines=lines,
                shipping_address=Address(
                    name="Customer",
                    line1=f"{s.rng.randrange(1, 200)} Main Street",
                    city=city,
                    postal_code=postal,
                    country=country,
                ),
            ),
            duplicate=n % 53 == 7,
        )
        s.expected["orders_assembled"] += 1
        for line, item in zip(lines, chosen, strict=True):  # the warehouse recounts what was picked
            item.on_hand = max(0, item.on_hand - line.quantity)
            s.emit(inventory_count(s, item, at + timedelta(minutes=5)))
            if item.on_hand < item.reorder_point and not item.reordered:
                item.reordered = True
                s.expected["supply_orders"] += 1
        if n % 3 != 0:
            arrival = at + timedelta(hours=s.rng.randrange(2, 8))
            s.emit(
                ShipmentArrived(
                    event_id=s.event_id(),
                    occurred_at=arrival,
                    order_id=order_id,
                    shipment_id=f"shp-{n:05d}",
                    carrier=s.rng.choice(["DHL", "UPS", "PostNL"]),
                )
            )
            s.expected["tickets_closed"] += 1


def inventory_count(s: Scenario, item: Stock, at: datetime) -> InventoryUpdated:
    return InventoryUpdated(
        event_id=s.event_id(),
        occurred_at=at,
        sku=item.sku,
        warehouse_id=item.warehouse_id,
        on_hand=item.on_hand,
        reorder_point=item.reorder_point,
        reorder_quantity=item.reorder_quantity,
    )


def malformed(s: Scenario) -> None:
    noon = DAY + timedelta(hours=4)
    s.malformed("customer-accounts", "cust-99999", '{"eventType": "AccountRequested", "customerId": ', noon)
    s.malformed(
        "payments",
        "order-99999",
        json.dumps(
            {
                "eventType": "PaymentCompleted",
                "schemaVersion": 1,
                "eventId": "bad-payment-1",
                "occurredAt": "2026-11-25T12:00:00Z",
                "orderId": "order-99999",
            }
        ),
        noon,
    )
    s.malformed(
        "inventory",
        "SKU-999",
        json.dumps(
            {
                "eventType": "InventoryUpdated",
                "schemaVersion": 1,
                "eventId": "bad-count-1",
                "occurredAt": "2026-11-25T12:01:00Z",
                "sku": "SKU-999",
                "warehouseId": "wh-1",
                "onHand": -4,
                "reorderPoint": 20,
                "reorderQuantity": 100,
            }
        ),
        noon,
    )
    s.malformed("shipments", "order-99998", "\u0000\u0001 binary garbage", noon)
    s.malformed(
        "security",
        "cust-99998",
        json.dumps(
            {
                "eventType": "AccessDenied",
                "schemaVersion": 9,
                "eventId": "future-1",
                "occurredAt": "2026-11-25T12:02:00Z",
                "customerId": "cust-99998",
                "sourceIp": "192.0.2.1",
            }
        ),
        noon,
    )


def business_day(seed: int = 20261125, customer_count: int = 300, order_count: int = 160) -> dict[str, Any]:
    s = Scenario(random.Random(seed))  # noqa: S311 - a reproducible simulation, not a secret
    signed_up = customers(s, customer_count)
    logins(s, signed_up)
    orders(s, signed_up, order_count)
    malformed(s)
    s.records.sort(key=lambda r: r["timestamp"])  # produced in the order things happened
    return {
        "name": "business-day",
        "description": __doc__.strip().splitlines()[0],
        "template": "../../template.yaml",
        "topics": {topic: {"partitions": n} for topic, n in PARTITIONS.items()},
        # The read model lives in memory for the run (ProjectSql reads DATABASE_URL only locally).
        "environment": {"ProjectSql": {"DATABASE_URL": "sqlite://"}},
        # Replay the day an hour at a time: what happened hours apart on different topics (an account
        # opened, then attacked) is processed in that order, as it is live. All at once, consumers of
        # different topics race, like consumers that lag.
        "windowSeconds": 3600,
        "records": s.records,
        "events": [],
        "expected": {**s.expected, "records_given_up": s.expected["malformed_records"] * CONSUMERS_PER_TOPIC},
        "checks": CHECKS,
    }


# What `localfaas run` (and so `make demo`) checks at the end of the day: report metrics against
# the expected block. See localfaas.report for the metrics.
CHECKS = [
    {"name": "accounts created", "metric": "dynamodb.items[AccountsTable]", "expected": "accounts_created"},
    {"name": "confirmation emails sent", "metric": "ses.sent", "expected": "confirmation_emails"},
    {
        "name": "accounts locked",
        "metric": "bus.events[storefront.security/AccountLocked]",
        "expected": "accounts_locked",
    },
    {
        "name": "security alerts",
        "metric": "sns.published[SecurityAlertsTopic]",
        "expected": "security_alerts",
    },
    {
        "name": "supply orders placed",
        "metric": "bus.events[storefront.warehouse/SupplyOrderPlaced]",
        "expected": "supply_orders",
    },
    {"name": "orders assembled", "metric": "dynamodb.items[OrdersTable]", "expected": "orders_assembled"},
    {
        # Every fulfilment request taken by the fulfilment centre (FulfilOrder, on its SQS queue) once.
        "name": "orders taken by the fulfilment centre",
        "metric": "dynamodb.items[AssembliesTable]",
        "expected": "orders_assembled",
    },
    {
        "name": "orders assembled announced",
        "metric": "bus.events[storefront.fulfilment/OrderAssembled]",
        "expected": "orders_assembled",
    },
    {
        "name": "fulfilment requests left waiting",
        "metric": "sqs.messages[FulfilmentRequestsQueue]",
        "equals": 0,
    },
    {
        "name": "bus events left waiting for the audit",
        "metric": "sqs.messages[AuditEventsQueue]",
        "equals": 0,
    },
    {
        "name": "tickets closed",
        "metric": "bus.events[storefront.sales/TicketClosed]",
        "expected": "tickets_closed",
    },
    {
        # Each malformed record is given up on by every consumer of its topic, and nothing else is.
        "name": "records in on-failure destinations",
        "metric": "esm.to_destination",
        "expected": "records_given_up",
    },
    {
        # What the failure destinations hold when the day is over (read back, events too): the malformed
        # records and nothing else, so no valid record or event is waiting for `localfaas redrive`.
        "name": "parked in failure destinations",
        "metric": "parked.total",
        "expected": "records_given_up",
    },
    {"name": "events dead-lettered", "metric": "bus.dead_lettered", "equals": 0},
    {"name": "events not delivered", "metric": "sqs.messages[FailedEventsQueue]", "equals": 0},
    {"name": "nothing lost", "metric": "lost.total", "equals": 0},
]


if __name__ == "__main__":
    json.dump(business_day(), sys.stdout, indent=1)
    sys.stdout.write("\n")
