"""ReorderLowStock: InventoryUpdated on Kafka -> one open supply order per sku and SupplyOrderPlaced."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest

from storefront.events import InventoryUpdated
from tests.support.aws_faults import FAULTS, aws_calls, copies, each_call_failing
from tests.support.kafka import failed_offsets, msk_event, record
from tests.support.refusals import refusing_the_last
from tests.support.stack import sample_event

TOPIC = "inventory"


def counted(n: int, on_hand: int, sku: str = "MUG-BLUE-350") -> InventoryUpdated:
    return InventoryUpdated(
        event_id=f"inv-{n}",
        occurred_at=datetime(2026, 11, 26, 9, n, tzinfo=UTC),
        sku=sku,
        warehouse_id="wh-leeds",
        on_hand=on_hand,
        reorder_point=10,
        reorder_quantity=48,
    )


@pytest.fixture
def app(handler):
    return handler("ReorderLowStock")


@pytest.fixture
def supply_orders(provisioned):
    return boto3.resource("dynamodb").Table(provisioned.physical_names["SupplyOrdersTable"])


def test_low_count_places_a_supply_order_and_announces_it(app, supply_orders, bus_spy, lambda_context):
    response = app.lambda_handler(msk_event(record(TOPIC, counted(1, on_hand=3))), lambda_context)

    assert response == {"batchItemFailures": []}
    item = supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"]
    assert item["status"] == "OPEN"
    assert item["quantity"] == 48
    announced = bus_spy.events()
    assert [e["detail-type"] for e in announced] == ["SupplyOrderPlaced"]
    assert announced[0]["source"] == "storefront.warehouse"
    assert announced[0]["detail"]["supplyOrderId"] == item["supplyOrderId"]
    assert announced[0]["detail"]["quantity"] == 48


def test_count_at_the_reorder_point_places_nothing(app, supply_orders, bus_spy, lambda_context):
    app.lambda_handler(msk_event(record(TOPIC, counted(1, on_hand=10))), lambda_context)

    assert supply_orders.scan()["Count"] == 0
    assert bus_spy.events() == []


def test_further_low_counts_while_an_order_is_open_place_no_second(
    app, supply_orders, bus_spy, lambda_context
):
    batch = msk_event(*(record(TOPIC, counted(n, on_hand=5 - n)) for n in range(1, 4)))

    app.lambda_handler(batch, lambda_context)

    assert supply_orders.scan()["Count"] == 1
    assert bus_spy.detail_types() == ["SupplyOrderPlaced"]


def test_redelivered_batch_adds_nothing_and_announces_the_same_events_again(
    app, supply_orders, bus_spy, lambda_context
):
    batch = msk_event(record(TOPIC, counted(1, on_hand=3)), record(TOPIC, counted(2, 1, sku="TEA-EARL-GREY")))
    app.lambda_handler(batch, lambda_context)
    stored, first = supply_orders.scan()["Items"], bus_spy.events()

    response = app.lambda_handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert supply_orders.scan()["Items"] == stored
    assert len(stored) == 2
    # The same ids (subscribers dedupe on them), stamped with the orders' placing time again.
    assert [e["detail"] for e in bus_spy.events()] == [e["detail"] for e in first]
    assert len(first) == 2


def test_count_meeting_an_order_stored_by_a_concurrent_count_is_refused_and_announces_nothing(
    app, supply_orders, bus_spy, lambda_context
):
    # Another invocation stored its open order for the sku: no read comes first, the put's
    # condition alone stands between this count and a second open order.
    app.lambda_handler(msk_event(record(TOPIC, counted(1, on_hand=3))), lambda_context)
    first = supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"]
    bus_spy.events()

    response = app.lambda_handler(msk_event(record(TOPIC, counted(2, on_hand=2))), lambda_context)

    assert response == {"batchItemFailures": []}
    assert supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"] == first
    assert bus_spy.events() == []


def test_restocked_sku_is_reordered_on_the_next_drop(app, supply_orders, bus_spy, lambda_context):
    batch = msk_event(
        record(TOPIC, counted(1, on_hand=3)),
        record(TOPIC, counted(2, on_hand=51)),
        record(TOPIC, counted(3, 4)),
    )

    app.lambda_handler(batch, lambda_context)

    announced = bus_spy.events()
    assert [e["detail-type"] for e in announced] == ["SupplyOrderPlaced", "SupplyOrderPlaced"]
    item = supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"]
    assert item["status"] == "OPEN"
    assert item["placedByEventId"] == "inv-3"
    assert (
        announced[1]["detail"]["supplyOrderId"]
        == item["supplyOrderId"]
        != announced[0]["detail"]["supplyOrderId"]
    )


def test_count_back_above_the_reorder_point_receives_the_open_order(app, supply_orders, lambda_context):
    batch = msk_event(record(TOPIC, counted(1, on_hand=3)), record(TOPIC, counted(2, on_hand=51)))

    app.lambda_handler(batch, lambda_context)

    item = supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"]
    assert item["status"] == "RECEIVED"
    assert item["receivedByEventId"] == "inv-2"


def test_malformed_record_is_reported_and_the_rest_applied(app, supply_orders, bus_spy, lambda_context):
    good, bad = (
        record(TOPIC, counted(1, on_hand=3)),
        record(TOPIC, b'{"eventType": "InventoryUpdated"}', key="X"),
    )

    response = app.lambda_handler(msk_event(bad, good), lambda_context)

    assert failed_offsets(response) == [bad.offset]
    assert supply_orders.get_item(Key={"sku": "MUG-BLUE-350"}).get("Item") is not None
    assert bus_spy.detail_types() == ["SupplyOrderPlaced"]


def test_record_values_never_reach_the_logs(app, lambda_context, debug_logs):
    secret = b'{"eventType": "InventoryUpdated", "warehouseId": "wh-secret-vault", "onHand": -1}'

    app.lambda_handler(
        msk_event(record(TOPIC, counted(1, 3)), record(TOPIC, secret, key="MUG-BLUE-350")), lambda_context
    )

    written = debug_logs.getvalue()
    assert "supply order placed" in written  # the per-record DEBUG lines were caught
    assert "record failed" in written
    assert "wh-secret-vault" not in written


def test_sample_mixed_batch_fails_only_its_malformed_records(app, supply_orders, bus_spy, lambda_context):
    response = app.lambda_handler(
        sample_event("reorder_low_stock/inventory-updated-mixed-batch.json"), lambda_context
    )

    assert failed_offsets(response) == [871, 4212]
    assert supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"]["status"] == "OPEN"
    assert supply_orders.get_item(Key={"sku": "TEA-EARL-GREY-250"}).get("Item") is None  # stock is fine
    assert bus_spy.detail_types() == ["SupplyOrderPlaced"]


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_places_one_order_and_announces_one_event(
    app, supply_orders, bus_spy, lambda_context, monkeypatch, fault
):
    def batch(n: int) -> dict:
        return msk_event(record(TOPIC, counted(n, on_hand=3, sku=f"SKU-{n}")))

    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, batch, lambda_context):
        n, failed, response = trial.n, trial.failed, trial.answer
        tried.add(failed)
        assert response == {"batchItemFailures": []}, failed
        order = supply_orders.get_item(Key={"sku": f"SKU-{n}"})["Item"]
        assert (order["status"], order["placedByEventId"]) == ("OPEN", f"inv-{n}"), failed
        announced = [e for e in bus_spy.events() if e["detail"]["sku"] == f"SKU-{n}"]
        # The retry announces again (a third copy when PutEvents itself was resent): the same event.
        assert 1 <= copies(announced) <= 2 + trial.repeats(("events", "PutEvents")), failed
        assert announced[0]["detail"]["supplyOrderId"] == order["supplyOrderId"]
    assert {("dynamodb", "PutItem"), ("events", "PutEvents")} <= tried


def test_older_counts_redelivered_after_newer_ones_change_nothing(
    app, supply_orders, bus_spy, lambda_context
):
    low, restocked, low_again = (
        record(TOPIC, counted(1, on_hand=3)),
        record(TOPIC, counted(2, on_hand=51)),
        record(TOPIC, counted(3, on_hand=4)),
    )
    app.lambda_handler(msk_event(low, restocked, low_again), lambda_context)
    stored = supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"]
    bus_spy.events()

    # The first two again (a batch retried whole): the restocking count must not receive the
    # order the newer low count placed, nor the first low count place one.
    response = app.lambda_handler(msk_event(low, restocked), lambda_context)

    assert response == {"batchItemFailures": []}
    assert supply_orders.get_item(Key={"sku": "MUG-BLUE-350"})["Item"] == stored
    assert (stored["status"], stored["placedByEventId"]) == ("OPEN", "inv-3")
    assert bus_spy.events() == []


def test_record_whose_announcement_was_refused_is_retried_and_ends_with_one_order_announced(
    app, supply_orders, bus_spy, lambda_context, monkeypatch
):
    batch = msk_event(
        record(TOPIC, counted(1, 3, sku="SKU-1")), refused := record(TOPIC, counted(2, 1, sku="SKU-2"))
    )
    with monkeypatch.context() as patch:
        patch.setattr(app.bus._client, "put_events", refusing_the_last(app.bus._client.put_events))
        assert failed_offsets(app.lambda_handler(batch, lambda_context)) == [refused.offset]
    placed = supply_orders.get_item(Key={"sku": "SKU-2"})["Item"]

    assert app.lambda_handler(msk_event(refused), lambda_context) == {"batchItemFailures": []}

    assert supply_orders.get_item(Key={"sku": "SKU-2"})["Item"] == placed
    announced = bus_spy.events()
    assert sorted(e["detail"]["sku"] for e in announced) == ["SKU-1", "SKU-2"]
    assert announced[-1]["detail"]["supplyOrderId"] == placed["supplyOrderId"]


def test_a_batch_costs_one_write_a_record_and_one_put_events_per_ten(app, lambda_context, monkeypatch):
    # Ten low skus (ten orders to announce), then a count of each, low again and back up: each
    # count is one conditional write, whatever it comes to.
    low = msk_event(*(record(TOPIC, counted(1, on_hand=3, sku=f"SKU-{n}")) for n in range(10)))
    later = msk_event(
        *(record(TOPIC, counted(2 + n % 2, on_hand=2 if n % 2 else 60, sku=f"SKU-{n}")) for n in range(10))
    )
    with aws_calls(monkeypatch) as calls:
        app.lambda_handler(low, lambda_context)
        placing = Counter(calls.made)
        app.lambda_handler(later, lambda_context)

    assert placing == {("dynamodb", "PutItem"): 10, ("events", "PutEvents"): 1}
    assert Counter(calls.made) - placing == {("dynamodb", "PutItem"): 5, ("dynamodb", "UpdateItem"): 5}
