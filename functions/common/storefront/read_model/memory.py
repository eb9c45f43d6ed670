"""The read model in dicts: the projector's state for tests and dry runs, no database.

It applies changes with the same meaning as the SQL adapter (an upsert creates a missing row
with every other column null), so a test of the projector over it says what the tables will hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from storefront.read_model.projector import Change, Insert, Row, Upsert
from storefront.read_model.schema import TABLES
from storefront.security import DeniedAttempt


class DuplicateRow(ValueError):
    """An Insert of a key that exists: the database would refuse it too (primary key)."""


class MemoryState:
    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple, dict[str, Any]]] = {name: {} for name in TABLES}

    # -- ReadModelState ---------------------------------------------------------------------

    def row(self, table: str, key: Row) -> dict[str, Any] | None:
        found = self.tables[table].get(_key(table, key))
        return dict(found) if found is not None else None

    def denied_attempts(self, customer_id: str, since: datetime) -> list[DeniedAttempt]:
        return [
            DeniedAttempt(row["customer_id"], row["occurred_at"], row["event_id"])
            for row in self.tables["security_incidents"].values()
            if row["customer_id"] == customer_id and row["occurred_at"] >= since
        ]

    def latest_supply_order(self, sku: str) -> dict[str, Any] | None:
        placed = [row for row in self.tables["supply_orders"].values() if row["sku"] == sku]
        return dict(max(placed, key=lambda r: (r["placed_at"], r["supply_order_id"]))) if placed else None

    # -- changes ----------------------------------------------------------------------------

    def apply(self, changes: Iterable[Change]) -> None:
        for change in changes:
            rows = self.tables[change.table]
            if isinstance(change, Insert):
                key = _key(change.table, change.row)
                if key in rows:
                    raise DuplicateRow(f"{change.table} already has {key}")
                rows[key] = {**_empty(change.table), **change.row}
            elif isinstance(change, Upsert):
                key = _key(change.table, change.key)
                if key in rows:
                    rows[key].update(change.values)
                else:
                    rows[key] = {
                        **_empty(change.table),
                        **change.insert_defaults,
                        **change.key,
                        **change.values,
                    }

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [dict(row) for _, row in sorted(self.tables[table].items())]


def _key(table: str, values: Row) -> tuple:
    return tuple(values[column.name] for column in TABLES[table].primary_key.columns)


def _empty(table: str) -> dict[str, Any]:
    return {column.name: None for column in TABLES[table].columns}
