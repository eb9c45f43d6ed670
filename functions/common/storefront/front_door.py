"""The front door's decisions: what an HTTP request to the storefront's API becomes on its topic.

A customer asks for an account (POST /accounts) and a warehouse posts an inventory count
(POST /inventory-counts). Each body is validated against a request model built from the event's own
field types, then made the event the reactions consume (AccountRequested, InventoryUpdated), keyed
by its aggregate id. A bad body is a BadRequest whose one-line reason names the fields and what was
wrong with them, never their values (an email, a password).

Ids are derived, so a client that sends the same request again (its answer was lost) produces the
same event, which the reactions' idempotency drops:
- a customer is identified by their email address (case-folded): the customer id and the request's
  event id are UUIDs version 5 of it (RFC 9562, section 5.5), so asking twice opens one account;
- a count is identified by its warehouse, sku and `countedAt`, the time the warehouse counted.

The password never leaves the front door: the event carries its scrypt hash (RFC 7914), in the
PHC string format, with a random salt per request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field, SecretStr, ValidationError

from storefront.events import (
    AccountRequested,
    Email,
    InventoryUpdated,
    Sku,
    WireModel,
    validation_problems,
)

__all__ = [
    "AccountApplication",
    "BadRequest",
    "InventoryCount",
    "account_requested",
    "customer_id_for",
    "inventory_updated",
    "password_hash",
    "request_body",
]

# scrypt's cost: N = 2**14, r = 8, p = 1, the parameters RFC 7914 section 2 calls interactive use
# (16 MiB of memory, well inside the function's 256 MB).
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, SCRYPT_LENGTH = 14, 8, 1, 32


class BadRequest(ValueError):
    """The request is not one the storefront takes; str() is the one-line reason the client gets."""


class AccountApplication(WireModel):
    """What a customer sends to ask for an account."""

    NAME: ClassVar[str] = "account request"

    email: Email
    full_name: str = Field(min_length=1, max_length=200)
    password: SecretStr = Field(min_length=12, max_length=1024)
    marketing_opt_in: bool = False


class InventoryCount(WireModel):
    """What a warehouse sends after counting a sku."""

    NAME: ClassVar[str] = "inventory count"

    sku: Sku
    warehouse_id: str = Field(min_length=1, max_length=64)
    on_hand: int = Field(ge=0)
    reorder_point: int = Field(ge=0)
    reorder_quantity: int = Field(gt=0)
    counted_at: AwareDatetime


def request_body(body: str | None, *, is_base64_encoded: bool = False) -> dict[str, Any]:
    """The JSON object an API Gateway proxy event carries (base64 when the gateway encoded it)."""
    if not body:
        raise BadRequest("the request has no body; send a JSON object")
    try:
        text = base64.b64decode(body, validate=True).decode() if is_base64_encoded else body
        parsed = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    if not isinstance(parsed, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(parsed).__name__}")
    return parsed


def _validated(model: type[WireModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise BadRequest(f"invalid {model.NAME}: {validation_problems(error)}") from None


def customer_id_for(email: str) -> str:
    return "cust-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"storefront:customer:{email.casefold()}"))


def password_hash(password: str, salt: bytes) -> str:
    """The scrypt hash of `password` in the PHC string format: $scrypt$ln=..,r=..,p=..$salt$hash."""
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=2**SCRYPT_LOG2_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=SCRYPT_LENGTH,
        maxmem=64 * 1024 * 1024,
    )

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode().rstrip("=")

    return f"$scrypt$ln={SCRYPT_LOG2_N},r={SCRYPT_R},p={SCRYPT_P}${b64(salt)}${b64(digest)}"


def account_requested(body: dict[str, Any], *, now: datetime, salt: bytes) -> AccountRequested:
    """The AccountRequested a customer's request body makes; BadRequest when it is not one."""
    application: AccountApplication = _validated(AccountApplication, body)
    customer_id = customer_id_for(application.email)
    return _event(
        AccountRequested,
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"storefront:{customer_id}:AccountRequested")),
        occurred_at=now,
        customer_id=customer_id,
        email=application.email,
        full_name=application.full_name,
        password_hash=password_hash(application.password.get_secret_value(), salt),
        marketing_opt_in=application.marketing_opt_in,
    )


def inventory_updated(body: dict[str, Any]) -> InventoryUpdated:
    """The InventoryUpdated a warehouse's count makes; BadRequest when it is not one."""
    count: InventoryCount = _validated(InventoryCount, body)
    identity = f"{count.warehouse_id}:{count.sku}:{count.counted_at.isoformat()}"
    return _event(
        InventoryUpdated,
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"storefront:count:{identity}")),
        occurred_at=count.counted_at,
        sku=count.sku,
        warehouse_id=count.warehouse_id,
        on_hand=count.on_hand,
        reorder_point=count.reorder_point,
        reorder_quantity=count.reorder_quantity,
    )


def _event(cls: type, **fields: Any) -> Any:
    # The request models hold the event's own field types, so this validation only fails on a rule
    # the event has and the request model lacks: still the client's request, still a 400.
    try:
        return cls(**fields)
    except ValidationError as error:
        raise BadRequest(f"invalid {cls.__name__}: {validation_problems(error)}") from None
