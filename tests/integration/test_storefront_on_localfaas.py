"""The storefront end to end on localfaas: template.yaml as deployed, Kafka topics, the bus, and
the AWS services on moto or on LocalStack (tests/support/localstack.py).

One short day is produced and run to the end; each test then checks one promise of the topology.
It runs on the embedded log with both runtimes on both backends, and on a real Kafka broker (Tansu)
on moto. A second stack on the same backend and log then resets every consumer group to the start
of its topics, so every batch is delivered again: nothing may change. On moto each function's calls
are checked against its own execution role (localfaas.role_enforcement): a call its role does not
allow would fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localfaas.embedded_log import EmbeddedLog
from localfaas.kafka_log import KafkaLog
from localfaas.local_stack import LocalStack
from localfaas.report import MetricError
from storefront.events import (
    AccessDenied,
    AccountRequested,
    Address,
    DomainEvent,
    InventoryUpdated,
    OrderLine,
    PaymentCompleted,
    ShipmentArrived,
)
from tests.support.localstack import backend_on
from tests.support.stack import TEMPLATE

pytestmark = pytest.mark.slow
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TOPICS = {"customer-accounts": 2, "inventory": 2, "payments": 1, "security": 2, "shipments": 1}
POISON = b'{"eventType": "PaymentCompleted", "orderId": "order-poison"'


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def a_day() -> list[DomainEvent | tuple[str, str, bytes]]:
    """What the producers send, in order; a (topic, key, bytes) tuple is a raw (poison) record."""
    address = Address(
        name="Ana Costa", line1="1 Rua Augusta", city="Lisbon", postal_code="1100-048", country="PT"
    )

    def paid(order: str, minutes: int) -> PaymentCompleted:
        return PaymentCompleted(
            event_id=f"pay-{order}",
            occurred_at=at(minutes),
            order_id=order,
            customer_id="c-1",
            payment_id=f"p-{order}",
            amount_cents=3998,
            currency="EUR",
            lines=(OrderLine(sku="SKU-1", quantity=2, unit_price_cents=1999),),
            shipping_address=address,
        )

    def counted(n: int, on_hand: int) -> InventoryUpdated:
        return InventoryUpdated(
            event_id=f"count-{n}",
            occurred_at=at(n),
            sku="SKU-1",
            warehouse_id="wh-1",
            on_hand=on_hand,
            reorder_point=10,
            reorder_quantity=50,
        )

    return [
        AccountRequested(
            event_id="req-1",
            occurred_at=at(0),
            customer_id="c-1",
            email="ana@example.com",
            full_name="Ana Costa",
            password_hash="$argon2id$v=19$secret",
        ),
        counted(1, 12),
        paid("order-1", 10),
        counted(11, 8),  # below the reorder point: one supply order
        counted(12, 6),  # still below, the order is open: no second one
        *[
            AccessDenied(
                event_id=f"denied-{n}", occurred_at=at(20 + n), customer_id="c-1", source_ip="198.51.100.7"
            )
            for n in range(3)
        ],
        paid("order-2", 30),
        ("payments", "order-poison", POISON),
        paid("order-3", 31),
        ShipmentArrived(
            event_id="arrived-1", occurred_at=at(60), order_id="order-1", shipment_id="s-1", carrier="DHL"
        ),
    ]


@dataclass
class Outcome:
    """What the stack held after the day (and again after every batch was delivered twice)."""

    items: dict[str, list[dict[str, Any]]]
    fulfilment_order_ids: list[str]
    fulfilment_requests_waiting: int
    failed_records: list[dict[str, Any]]
    emails_sent: int
    alerts: list[str]
    events: dict[str, int]


def produce_day(stack: LocalStack) -> None:
    for item in a_day():
        if isinstance(item, tuple):
            topic, key, value = item
            stack.produce(topic, value, key=key, timestamp_ms=int(at(30).timestamp() * 1000))
        else:
            stack.produce(
                item.TOPIC,
                item.to_json(),
                key=item.aggregate_id,
                timestamp_ms=int(item.occurred_at.timestamp() * 1000),
            )


def outcome_of(stack: LocalStack, alerts_queue_url: str) -> Outcome:
    dynamodb, sqs = stack.client("dynamodb"), stack.client("sqs")
    items = {}
    for table in (
        "AccountsTable",
        "OrdersTable",
        "SalesTicketsTable",
        "SupplyOrdersTable",
        "AssembliesTable",
    ):
        scanned = dynamodb.scan(TableName=stack.physical_name(table), ConsistentRead=True)["Items"]
        items[table] = sorted(scanned, key=json.dumps)
    report = stack.report()
    return Outcome(
        items=items,
        # The fulfilment centre (FulfilOrder, on FulfilmentRequestsQueue) takes each order once.
        fulfilment_order_ids=sorted(item["orderId"]["S"] for item in items["AssembliesTable"]),
        fulfilment_requests_waiting=len(peek(sqs, stack, "FulfilmentRequestsQueue")),
        failed_records=[json.loads(body) for body in peek(sqs, stack, "FailedRecordsQueue")],
        emails_sent=int(report.metric("ses.sent")),
        alerts=[json.loads(body)["MessageId"] for body in peek_url(sqs, alerts_queue_url)],
        events={name: announced(report, name) for name in ANNOUNCEMENTS},
    )


ANNOUNCEMENTS = [
    "storefront.accounts/AccountCreated",
    "storefront.security/AccountLocked",
    "storefront.warehouse/SupplyOrderPlaced",
    "storefront.fulfilment/OrderAssemblyRequested",
    "storefront.fulfilment/OrderAssembled",
    "storefront.sales/TicketClosed",
]


def announced(report, name: str) -> int:
    try:
        return int(report.metric(f"bus.events[{name}]"))
    except MetricError:  # none of them
        return 0


def peek(sqs, stack: LocalStack, logical_id: str) -> list[str]:
    return peek_url(sqs, sqs.get_queue_url(QueueName=stack.physical_name(logical_id))["QueueUrl"])


def peek_url(sqs, url: str) -> list[str]:
    """Every message body, in order, left in the queue for the next look."""
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages"
    ):
        messages.extend(batch)
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [message["Body"] for message in messages]


def subscribe_alerts(stack: LocalStack) -> str:
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName="security-team-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.list_topics()["Topics"]
    [alerts] = [t["TopicArn"] for t in topic if stack.physical_name("SecurityAlertsTopic") in t["TopicArn"]]
    sns.subscribe(TopicArn=alerts, Protocol="sqs", Endpoint=arn)
    return url


def run_day(
    tmp_path_factory, backend, *, runtime: str, log_kind: str, bootstrap: str | None
) -> tuple[Outcome, Outcome]:
    workdir = tmp_path_factory.mktemp(f"day-{runtime}-{log_kind}-{backend.kind}")
    environment = {"ProjectSql": {"DATABASE_URL": f"sqlite:///{workdir / 'read-model.db'}"}}
    backend.start()
    log = EmbeddedLog(workdir / "log") if log_kind == "embedded" else KafkaLog(bootstrap)
    try:
        options = {
            "runtime": runtime,
            "log": log,
            "backend": backend,
            "topics": TOPICS,
            "environment": environment,
            "account_id": backend.account_id,
            # S3 bucket names are global, across accounts: a stack name of its own keeps them apart.
            "stack_name": f"day-{runtime}-{log_kind}",
            "enforce_roles": True,  # issue 14: every call under the function's own role
        }
        with LocalStack(TEMPLATE, **options) as stack:
            alerts_queue = subscribe_alerts(stack)
            produce_day(stack)
            assert stack.run_until_idle(), "the day did not settle"
            if stack.enforcer is not None:  # LocalStack's backend is not enforced (localfaas says so once)
                assert [d.message for d in stack.enforcer.denied] == []  # every role allows its calls
            first = outcome_of(stack, alerts_queue)
            groups = {(m.config.consumer_group_id, m.config.topics[0]) for m in stack.mappings}
        for group, topic in groups:  # every consumer group back to the start of its topic
            for partition in range(log.partitions(topic)):
                log.commit(group, topic, partition, log.beginning_offset(topic, partition))
        with LocalStack(TEMPLATE, **options) as stack:
            assert stack.run_until_idle(), "the redelivery did not settle"
            again = outcome_of(stack, alerts_queue)
        return first, again
    finally:
        log.close()
        backend.stop()


CONFIGURATIONS = [
    pytest.param(("in-process", "embedded", "moto"), id="in-process-embedded-moto"),
    pytest.param(("worker", "embedded", "moto"), id="worker-embedded-moto"),
    pytest.param(("in-process", "kafka", "moto"), id="in-process-tansu-moto", marks=pytest.mark.kafka),
    pytest.param(
        ("in-process", "embedded", "localstack"),
        id="in-process-embedded-localstack",
        marks=pytest.mark.localstack,
    ),
    pytest.param(
        ("worker", "embedded", "localstack"), id="worker-embedded-localstack", marks=pytest.mark.localstack
    ),
]


@pytest.fixture(scope="module", params=CONFIGURATIONS)
def day(request, tmp_path_factory):
    runtime, log_kind, kind = request.param
    bootstrap = request.getfixturevalue("tansu_bootstrap") if log_kind == "kafka" else None
    # Each configuration in an account of its own on the session's LocalStack: no day sees another's.
    backend = backend_on(kind, request, f"{__name__}/{runtime}-{log_kind}")
    return run_day(tmp_path_factory, backend, runtime=runtime, log_kind=log_kind, bootstrap=bootstrap)


def by_key(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item[key]["S"]: item for item in items}


def test_a_payment_ends_in_an_assembled_order_and_a_closed_ticket(day):
    first, _ = day
    orders = by_key(first.items["OrdersTable"], "orderId")
    assert set(orders) == {"order-1", "order-2", "order-3"}
    assert by_key(first.items["SalesTicketsTable"], "orderId")["order-1"]["status"]["S"] == "CLOSED"
    assert first.events["storefront.fulfilment/OrderAssemblyRequested"] == 3
    assert first.events["storefront.fulfilment/OrderAssembled"] == 3
    assert first.fulfilment_requests_waiting == 0
    assert first.events["storefront.sales/TicketClosed"] == 1


def test_a_new_account_is_confirmed_by_email_once(day):
    first, _ = day
    assert first.emails_sent == 1
    assert first.events["storefront.accounts/AccountCreated"] == 1


def test_three_denied_attempts_lock_the_account_and_alert_security_once(day):
    first, _ = day
    assert by_key(first.items["AccountsTable"], "customerId")["c-1"]["status"]["S"] == "LOCKED"
    assert first.events["storefront.security/AccountLocked"] == 1
    assert len(first.alerts) == 1


def test_low_stock_places_exactly_one_supply_order(day):
    first, _ = day
    [order] = first.items["SupplyOrdersTable"]
    assert (order["sku"]["S"], order["status"]["S"]) == ("SKU-1", "OPEN")
    assert first.events["storefront.warehouse/SupplyOrderPlaced"] == 1


def test_a_poison_record_goes_to_the_on_failure_destination_and_the_records_behind_it_are_processed(day):
    first, _ = day
    assert first.fulfilment_order_ids == ["order-1", "order-2", "order-3"]
    failed = [r["KafkaBatchInfo"]["recordsInfo"] for r in first.failed_records]
    # Every consumer of the topic gave up on it (AssembleOrder, AuditLog, ProjectSql), and on it alone.
    assert len(failed) == 3
    assert all(list(info) == ["payments-0"] for info in failed)
    assert {(i["payments-0"]["firstRecordOffset"], i["payments-0"]["lastRecordOffset"]) for i in failed} == {
        ("2", "2")
    }
    assert {r["requestContext"]["condition"] for r in first.failed_records} == {"RetryAttemptsExhausted"}


def test_delivering_every_batch_again_changes_nothing(day):
    first, again = day
    assert again.items == first.items
    assert again.fulfilment_order_ids == first.fulfilment_order_ids
    assert again.emails_sent == 0  # since the second stack started: no confirmation goes out twice
    assert again.alerts == first.alerts
