"""The event catalogue: every business event of the storefront, as versioned plain data.

An event travels as one flat JSON object, camelCase on the wire: the envelope
(`eventType`, `schemaVersion`, `eventId`, `occurredAt`) beside the event's own fields.
Events that arrive on Kafka are keyed by their aggregate id, so one customer's, one sku's
or one order's events stay in order. Events the reactions announce go on the EventBridge bus,
with `source` naming the part of the business that did it and `detail-type` the event type.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

__all__ = [
    "AccessDenied",
    "AccountCreated",
    "AccountLocked",
    "AccountRequested",
    "Address",
    "DomainEvent",
    "InventoryUpdated",
    "LoginSucceeded",
    "MalformedEvent",
    "OrderAssembled",
    "OrderAssemblyRequested",
    "OrderLine",
    "PaymentCompleted",
    "ShipmentArrived",
    "SupplyOrderPlaced",
    "TicketClosed",
    "WireModel",
    "announcement_id",
    "event_classes",
    "parse_event",
    "validation_problems",
]

# Fields that are personal data or secrets: never logged, emailed or archived unmasked.
SENSITIVE_FIELDS = ("passwordHash",)
PERSONAL_FIELDS = ("email", "fullName", "shippingAddress", "sourceIp")


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        # Each model's validator and serializer are built on its first use, not at import: a handler
        # uses two or three of the catalogue's models, and building them all is most of the cost of
        # importing this module in every cold start (BENCHMARKS.md, cold start).
        defer_build=True,
    )


# The base of every wire shape beside the events (an HTTP request's body, a queue message's).
WireModel = _Model


class DomainEvent(_Model):
    """What every event carries. Subclasses pin `event_type` and `schema_version`."""

    TOPIC: ClassVar[str | None] = None  # the Kafka topic it is produced to, if any
    BUS_SOURCE: ClassVar[str | None] = None  # the EventBridge source it is announced with, if any

    event_type: str
    schema_version: int
    event_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime

    @classmethod
    def caused_by(cls, cause: DomainEvent, *, at: datetime | None = None, **fields: Any) -> DomainEvent:
        """The event a reaction announces in answer to `cause`, its id `announcement_id(cause, ...)`.

        A reaction retried after a failure announces the very same event (pass `at` from what it
        stored, not the clock), and consumers drop the duplicate by id.
        """
        return cls(
            event_id=announcement_id(cause.event_id, _type_of(cls)),
            occurred_at=at or datetime.now(UTC),
            **fields,
        )

    @property
    def aggregate_id(self) -> str:
        """The Kafka key: the id of the customer, sku or order the event is about."""
        raise NotImplementedError

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict, camelCase, as it travels on Kafka and in EventBridge `detail`."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        """The wire form as compact JSON (UTF-8 text, not \\u-escaped), written by pydantic-core."""
        return self.model_dump_json(by_alias=True)


def announcement_id(cause_event_id: str, event_type: str) -> str:
    """The id of the `event_type` announced in answer to the event `cause_event_id`: the same for
    every retry of the reaction (a UUID version 5, RFC 9562 section 5.5, of both), so EventBridge,
    which keeps no memory of entries it accepted, may carry a retry's copy and consumers drop it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"storefront:{cause_event_id}:{event_type}"))


@functools.cache
def _type_of(cls: type[DomainEvent]) -> str:
    return cls.model_fields["event_type"].default


CustomerId = Annotated[str, Field(min_length=1, max_length=64)]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9-]*$")]
OrderId = Annotated[str, Field(min_length=1, max_length=64)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class OrderLine(_Model):
    sku: Sku
    quantity: int = Field(gt=0)
    unit_price_cents: int = Field(ge=0)


class Address(_Model):
    name: str = Field(min_length=1)
    line1: str = Field(min_length=1)
    line2: str | None = None
    city: str = Field(min_length=1)
    postal_code: str = Field(min_length=1)
    country: str = Field(min_length=2, max_length=2)


# --- customer-accounts -------------------------------------------------------------------------


class AccountRequested(DomainEvent):
    """A new customer asked for an account (from the web shop)."""

    TOPIC: ClassVar[str] = "customer-accounts"
    event_type: Literal["AccountRequested"] = "AccountRequested"
    schema_version: Literal[2] = 2
    customer_id: CustomerId
    email: Email
    full_name: str = Field(min_length=1, max_length=200)
    password_hash: str = Field(min_length=1, repr=False)
    marketing_opt_in: bool = False

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


class AccountCreated(DomainEvent):
    """The account exists; the customer can be welcomed."""

    BUS_SOURCE: ClassVar[str] = "storefront.accounts"
    event_type: Literal["AccountCreated"] = "AccountCreated"
    schema_version: Literal[1] = 1
    customer_id: CustomerId
    email: Email
    full_name: str = Field(min_length=1, max_length=200)

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


# --- security -----------------------------------------------------------------------------------


class LoginSucceeded(DomainEvent):
    TOPIC: ClassVar[str] = "security"
    event_type: Literal["LoginSucceeded"] = "LoginSucceeded"
    schema_version: Literal[1] = 1
    customer_id: CustomerId
    source_ip: str

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


class AccessDenied(DomainEvent):
    """An unauthorized access attempt on a customer's account was denied."""

    TOPIC: ClassVar[str] = "security"
    event_type: Literal["AccessDenied"] = "AccessDenied"
    schema_version: Literal[1] = 1
    customer_id: CustomerId
    source_ip: str
    reason: Literal["bad-password", "unknown-device", "mfa-failed"] = "bad-password"

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


class AccountLocked(DomainEvent):
    BUS_SOURCE: ClassVar[str] = "storefront.security"
    event_type: Literal["AccountLocked"] = "AccountLocked"
    schema_version: Literal[1] = 1
    customer_id: CustomerId
    denied_attempts: int = Field(gt=0)
    window_seconds: int = Field(gt=0)

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


# --- inventory ----------------------------------------------------------------------------------


class InventoryUpdated(DomainEvent):
    """A warehouse counted a sku. Carries the state the reaction needs (event-carried state transfer)."""

    TOPIC: ClassVar[str] = "inventory"
    event_type: Literal["InventoryUpdated"] = "InventoryUpdated"
    schema_version: Literal[1] = 1
    sku: Sku
    warehouse_id: str = Field(min_length=1)
    on_hand: int = Field(ge=0)
    reorder_point: int = Field(ge=0)
    reorder_quantity: int = Field(gt=0)

    @property
    def aggregate_id(self) -> str:
        return self.sku


class SupplyOrderPlaced(DomainEvent):
    BUS_SOURCE: ClassVar[str] = "storefront.warehouse"
    event_type: Literal["SupplyOrderPlaced"] = "SupplyOrderPlaced"
    schema_version: Literal[1] = 1
    supply_order_id: str
    sku: Sku
    warehouse_id: str
    quantity: int = Field(gt=0)

    @property
    def aggregate_id(self) -> str:
        return self.sku


# --- payments and fulfilment --------------------------------------------------------------------


class PaymentCompleted(DomainEvent):
    """A payment went through. Carries what fulfilment needs to assemble the order."""

    TOPIC: ClassVar[str] = "payments"
    event_type: Literal["PaymentCompleted"] = "PaymentCompleted"
    schema_version: Literal[1] = 1
    order_id: OrderId
    customer_id: CustomerId
    payment_id: str = Field(min_length=1)
    amount_cents: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    shipping_address: Address

    @property
    def aggregate_id(self) -> str:
        return self.order_id


class OrderAssemblyRequested(DomainEvent):
    BUS_SOURCE: ClassVar[str] = "storefront.fulfilment"
    event_type: Literal["OrderAssemblyRequested"] = "OrderAssemblyRequested"
    schema_version: Literal[1] = 1
    order_id: OrderId
    customer_id: CustomerId
    lines: tuple[OrderLine, ...] = Field(min_length=1)

    @property
    def aggregate_id(self) -> str:
        return self.order_id


class OrderAssembled(DomainEvent):
    """The fulfilment centre took the order's assembly request and assembled it, once per order."""

    BUS_SOURCE: ClassVar[str] = "storefront.fulfilment"
    event_type: Literal["OrderAssembled"] = "OrderAssembled"
    schema_version: Literal[1] = 1
    order_id: OrderId
    customer_id: CustomerId
    request_id: str = Field(min_length=1, max_length=64)
    lines: tuple[OrderLine, ...] = Field(min_length=1)

    @property
    def aggregate_id(self) -> str:
        return self.order_id


# --- shipping and sales -------------------------------------------------------------------------


class ShipmentArrived(DomainEvent):
    TOPIC: ClassVar[str] = "shipments"
    event_type: Literal["ShipmentArrived"] = "ShipmentArrived"
    schema_version: Literal[1] = 1
    order_id: OrderId
    shipment_id: str = Field(min_length=1)
    carrier: str = Field(min_length=1)

    @property
    def aggregate_id(self) -> str:
        return self.order_id


class TicketClosed(DomainEvent):
    BUS_SOURCE: ClassVar[str] = "storefront.sales"
    event_type: Literal["TicketClosed"] = "TicketClosed"
    schema_version: Literal[1] = 1
    order_id: OrderId
    shipment_id: str

    @property
    def aggregate_id(self) -> str:
        return self.order_id


# --- parsing ------------------------------------------------------------------------------------

AnyEvent = Annotated[
    AccountRequested
    | AccountCreated
    | LoginSucceeded
    | AccessDenied
    | AccountLocked
    | InventoryUpdated
    | SupplyOrderPlaced
    | PaymentCompleted
    | OrderAssemblyRequested
    | OrderAssembled
    | ShipmentArrived
    | TicketClosed,
    Field(discriminator="event_type"),
]
_BY_TYPE: dict[str, type[DomainEvent]] = {_type_of(c): c for c in get_args(get_args(AnyEvent)[0])}


@functools.cache
def _any_event() -> TypeAdapter[DomainEvent]:
    # Built when first needed: parse_event validates a known type with its class (building that model
    # only) and leaves the rest to the union (no or unknown type, invalid fields), as it reports them.
    return TypeAdapter(AnyEvent)


def event_classes() -> tuple[type[DomainEvent], ...]:
    return tuple(DomainEvent.__subclasses__())


class MalformedEvent(ValueError):
    """The bytes are not a storefront event this code can read. The message never echoes values."""


def parse_event(raw: bytes | str | dict[str, Any]) -> DomainEvent:
    """Decode and validate one event from its wire form, upcasting older schema versions first."""
    from storefront.upcasting import upcast

    if isinstance(raw, bytes | str):
        try:
            raw = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedEvent(
                f"not JSON: {error.__class__.__name__} at position {getattr(error, 'pos', 0)}"
            ) from None
        except RecursionError:  # json's decoder refuses nesting deeper than the recursion limit
            raise MalformedEvent("not an event: nested too deeply to decode") from None
    if not isinstance(raw, dict):
        raise MalformedEvent(f"expected a JSON object, got {type(raw).__name__}")
    wire = upcast(raw)
    event_type = wire.get("eventType")
    if isinstance(event_type, str) and (event_class := _BY_TYPE.get(event_type)) is not None:
        try:
            return event_class.model_validate(wire)
        except ValidationError:
            pass  # reported below as the union reports it, the type in each location
    try:
        return _any_event().validate_python(wire)
    except ValidationError as error:
        raise MalformedEvent(
            f"invalid {_type_name(raw.get('eventType'))}: {validation_problems(error)}"
        ) from None


def validation_problems(error: ValidationError) -> str:
    """The fields that failed and how, on one line; never their values: they may be personal data."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['type']}" for e in error.errors())


_EVENT_TYPE_SHAPE = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")


def _type_name(event_type: Any) -> str:
    # An unknown type is worth naming (a producer ahead of us), but it is still a value from the
    # record: named only when shaped like a type name, so an email or an address is never echoed.
    return event_type if isinstance(event_type, str) and _EVENT_TYPE_SHAPE.fullmatch(event_type) else "event"
