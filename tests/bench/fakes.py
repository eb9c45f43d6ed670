"""AWS clients that answer at once, for timing a handler's own work with no SDK and no moto behind it.

`stubbed_boto3()` replaces boto3's client and resource factories while a handler module is imported,
so every client the module makes at module scope (its adapters' tables and clients, and the
Powertools idempotency store's DynamoDB client) is a fake. Each fake operation returns a fixed,
successful answer shaped like AWS's: GetItem finds nothing, conditional writes succeed, PutEvents
accepts every entry. An operation with no answer here raises AttributeError, so a handler that
starts calling something new is noticed rather than timed wrong. Not emulated: any state (a write
is not read back), errors, pagination.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
import boto3.session

_ids = itertools.count()


def _message_id(**_: Any) -> dict[str, Any]:
    return {"MessageId": f"00000000-0000-4000-8000-{next(_ids):012d}"}


def _sent_batch(Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
    return {"Successful": [{"Id": e["Id"], **_message_id()} for e in Entries], "Failed": []}


def _put_events(Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"stub-{next(_ids)}"} for _ in Entries]}


# Operation name -> answer (a dict returned as is, or a function of the call's parameters).
ANSWERS: dict[str, dict[str, Any] | Callable[..., dict[str, Any]]] = {
    "get_item": {},
    "put_item": {},
    "update_item": {"Attributes": {}},
    "delete_item": {},
    "query": {"Items": [], "Count": 0, "ScannedCount": 0},
    "transact_write_items": {},
    "put_events": _put_events,
    "send_message": _message_id,
    "send_message_batch": _sent_batch,
    "send_email": _message_id,
    "publish": _message_id,
    "put_object": {"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'},
    "put_record_batch": {"FailedPutCount": 0, "RequestResponses": []},
}


class FakeClient:
    """A boto3 client (or DynamoDB Table) whose operations return `ANSWERS`; `calls` counts them."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.name = service.partition(":")[2]  # a Table's name; "" for a client
        self.meta = SimpleNamespace(client=self)  # a Table's client: transactions count on the table
        self.calls: Counter[str] = Counter()
        for operation, answer in ANSWERS.items():
            setattr(self, operation, self._operation(operation, answer))

    def _operation(self, name: str, answer: Any) -> Callable[..., dict[str, Any]]:
        calls = self.calls

        def call(**params: Any) -> dict[str, Any]:
            calls[name] += 1
            return answer(**params) if callable(answer) else answer

        return call


class FakeResource:
    """boto3.resource("dynamodb"): its tables are fake clients."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.tables: dict[str, FakeClient] = {}

    def Table(self, name: str) -> FakeClient:
        return self.tables.setdefault(name, FakeClient(f"{self.service}:{name}"))


@contextmanager
def stubbed_boto3() -> Iterator[list[FakeClient | FakeResource]]:
    """While active, boto3.client/resource (and a Session's) make fakes; yields every fake made."""
    made: list[FakeClient | FakeResource] = []

    def client(service: str, *args: Any, **kwargs: Any) -> FakeClient:
        made.append(FakeClient(service))
        return made[-1]

    def resource(service: str, *args: Any, **kwargs: Any) -> FakeResource:
        made.append(FakeResource(service))
        return made[-1]

    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(boto3, "client", client))
        patches.enter_context(mock.patch.object(boto3, "resource", resource))
        patches.enter_context(
            mock.patch.object(boto3.session.Session, "client", lambda self, service, *a, **k: client(service))
        )
        patches.enter_context(
            mock.patch.object(
                boto3.session.Session, "resource", lambda self, service, *a, **k: resource(service)
            )
        )
        yield made


def calls(made: list[FakeClient | FakeResource]) -> Counter[str]:
    """All calls answered by the fakes, as "service.operation" counts."""
    total: Counter[str] = Counter()
    for fake in made:
        clients = fake.tables.values() if isinstance(fake, FakeResource) else [fake]
        for c in clients:
            total.update({f"{c.service}.{op}": n for op, n in c.calls.items()})
    return total
