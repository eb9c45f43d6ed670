"""The front door's decisions: a request body becomes its event, or a one-line 400 reason; no AWS."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from storefront.events import AccountRequested, InventoryUpdated, parse_event
from storefront.front_door import (
    BadRequest,
    account_requested,
    customer_id_for,
    inventory_updated,
    password_hash,
    request_body,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SALT = bytes(range(16))
PASSWORD = "correct horse battery staple"


def application(**fields) -> dict:
    return {"email": "Grace@Example.com", "fullName": "Grace Hopper", "password": PASSWORD, **fields}


def count(**fields) -> dict:
    return {
        "sku": "MUG-BLUE-350",
        "warehouseId": "WH-LEEDS",
        "onHand": 4,
        "reorderPoint": 10,
        "reorderQuantity": 50,
        "countedAt": "2026-11-26T09:15:00Z",
        **fields,
    }


def test_an_account_request_becomes_account_requested_for_the_reactions():
    event = account_requested(application(marketingOptIn=True), now=NOW, salt=SALT)

    assert isinstance(event, AccountRequested)
    assert event.customer_id == customer_id_for("grace@example.com")
    assert event.aggregate_id == event.customer_id
    assert event.full_name == "Grace Hopper"
    assert event.marketing_opt_in is True
    assert event.occurred_at == NOW
    assert parse_event(event.to_json()) == event  # what CreateAccount reads back


def test_the_password_travels_only_as_its_scrypt_hash():
    event = account_requested(application(), now=NOW, salt=SALT)

    assert PASSWORD not in event.to_json()
    scheme, params, salt, digest = event.password_hash.split("$")[1:]
    assert (scheme, params) == ("scrypt", "ln=14,r=8,p=1")
    expected = hashlib.scrypt(PASSWORD.encode(), salt=SALT, n=2**14, r=8, p=1, dklen=32, maxmem=2**26)
    assert base64.b64decode(digest + "==") == expected
    assert base64.b64decode(salt + "==") == SALT


def test_asking_again_with_the_same_email_makes_the_same_event_id_and_customer():
    first = account_requested(application(), now=NOW, salt=SALT)
    again = account_requested(application(email="grace@example.COM"), now=NOW, salt=bytes(16))

    assert (again.event_id, again.customer_id) == (first.event_id, first.customer_id)
    assert again.password_hash != first.password_hash  # a fresh salt each time


def test_different_customers_get_different_ids():
    assert customer_id_for("a@example.com") != customer_id_for("b@example.com")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (application(email="not-an-email"), "email: string_pattern_mismatch"),
        (application(password="short"), "invalid account request: password: too_short"),
        (application(fullName=""), "fullName: string_too_short"),
        ({"email": "grace@example.com"}, "fullName: missing; password: missing"),
        (application(passwordHash="$argon2id$x"), "passwordHash: extra_forbidden"),
        (application(marketingOptIn="maybe"), "marketingOptIn: bool_parsing"),
    ],
)
def test_a_bad_account_request_is_refused_naming_the_fields_never_the_values(body, reason):
    with pytest.raises(BadRequest, match=reason) as caught:
        account_requested(body, now=NOW, salt=SALT)
    message = str(caught.value)
    assert "\n" not in message
    assert PASSWORD not in message and "short" not in message.split(":", 1)[0]
    assert "not-an-email" not in message


def test_an_inventory_count_becomes_inventory_updated_at_the_time_it_was_counted():
    event = inventory_updated(count())

    assert isinstance(event, InventoryUpdated)
    assert event.aggregate_id == "MUG-BLUE-350"
    assert event.occurred_at == datetime(2026, 11, 26, 9, 15, tzinfo=UTC)
    assert (event.on_hand, event.reorder_point, event.reorder_quantity) == (4, 10, 50)


def test_the_same_count_posted_twice_is_the_same_event_and_a_new_count_is_not():
    assert inventory_updated(count()).event_id == inventory_updated(count()).event_id
    assert (
        inventory_updated(count()).event_id
        != inventory_updated(count(countedAt="2026-11-26T10:15:00Z")).event_id
    )
    assert inventory_updated(count()).event_id != inventory_updated(count(warehouseId="WH-YORK")).event_id


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (count(sku="mug blue"), "invalid inventory count: sku: string_pattern_mismatch"),
        (count(onHand=-1), "onHand: greater_than_equal"),
        (count(reorderQuantity=0), "reorderQuantity: greater_than"),
        (count(countedAt="2026-11-26T09:15:00"), "countedAt: timezone_aware"),
        ({k: v for k, v in count().items() if k != "countedAt"}, "countedAt: missing"),
    ],
)
def test_a_bad_count_is_refused_naming_the_fields(body, reason):
    with pytest.raises(BadRequest, match=reason):
        inventory_updated(body)


def test_the_body_may_come_base64_encoded_as_api_gateway_sends_binary_bodies():
    raw = json.dumps(count())
    assert request_body(base64.b64encode(raw.encode()).decode(), is_base64_encoded=True) == count()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "no body"),
        ("", "no body"),
        ("{not json", "not JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|not JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(body, reason):
    with pytest.raises(BadRequest, match=reason):
        request_body(body)


def test_the_hash_is_deterministic_for_a_salt():
    assert password_hash(PASSWORD, SALT) == password_hash(PASSWORD, SALT)
    assert password_hash(PASSWORD, SALT) != password_hash(PASSWORD + "!", SALT)
