"""The read model in a SQL database (SQLite or PostgreSQL) through SQLAlchemy Core.

`SqlReadModel.apply(records)` runs in one transaction: for each record it skips one whose
offset is recorded in `applied_offsets` already (a redelivery), otherwise asks the projector for
the changes and writes them together with the record's offset row. A record the projector
refuses writes nothing; the records before it in the transaction are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Update,
    and_,
    bindparam,
    func,
    insert,
    inspect,
    select,
    tuple_,
    update,
)

from storefront.read_model.projector import (
    Change,
    Insert,
    ReadModelState,
    Row,
    SourceRecord,
    UnprojectableRecord,
    Upsert,
    project_record,
)
from storefront.read_model.schema import TABLES, applied_offsets, metadata, security_incidents, supply_orders
from storefront.security import DeniedAttempt, LockPolicy


@dataclass
class ApplyReport:
    applied: int = 0
    redelivered: int = 0  # records whose offset was applied before: nothing done
    skipped: list[UnprojectableRecord] = field(default_factory=list)

    def add(self, other: ApplyReport) -> None:
        self.applied += other.applied
        self.redelivered += other.redelivered
        self.skipped += other.skipped


class SqlReadModel:
    def __init__(self, engine: Engine, policy: LockPolicy | None = None) -> None:
        self.engine = engine
        self.policy = policy or LockPolicy()

    def create_schema(self) -> None:
        """Create the tables that are missing (safe to repeat; existing tables are left alone)."""
        metadata.create_all(self.engine, checkfirst=True)

    def drop_schema(self) -> None:
        metadata.drop_all(self.engine, checkfirst=True)

    def has_schema(self) -> bool:
        existing = set(inspect(self.engine).get_table_names())
        return set(TABLES) <= existing

    def row_counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {
                name: connection.scalar(select(func.count()).select_from(t)) for name, t in TABLES.items()
            }

    def apply(
        self,
        records: Iterable[SourceRecord],
        on_bad: Callable[[UnprojectableRecord], None] | None = None,
    ) -> ApplyReport:
        """Apply `records` in order, in one transaction.

        A refused record calls `on_bad` and the rest go on; without `on_bad` the transaction
        commits what came before it and the UnprojectableRecord is raised.
        """
        report, refused = ApplyReport(), None
        records = list(records)
        with self.engine.begin() as connection:
            state = SqlState(connection)
            applied = state.applied_among(records)
            for record in records:
                coordinates = (record.topic, record.partition, record.offset)
                if coordinates in applied:
                    report.redelivered += 1
                    continue
                try:
                    changes = project_record(state, record, self.policy)
                except UnprojectableRecord as error:
                    if on_bad is None:
                        refused = error
                        break
                    on_bad(error)
                    report.skipped.append(error)
                    continue
                state.apply(changes)
                applied.add(coordinates)
                report.applied += 1
            state.flush()
        if refused is not None:
            raise refused
        return report


_UNKNOWN = object()


class SqlState(ReadModelState):
    """The projector's reads, and the writing of its changes, over one open transaction.

    Rows read or written by key are remembered for the transaction (every write goes through
    here, so they stay true), and the `applied_offsets` rows are written together at `flush`:
    a replay spends its time in round trips to the database, not in Python.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._rows: dict[tuple[str, tuple], Any] = {}  # a row, None (known absent), or nothing (unknown)
        self._offsets: list[dict[str, Any]] = []

    def applied_among(self, records: list[SourceRecord]) -> set[tuple[str, int, int]]:
        """The records' coordinates that `applied_offsets` holds already (one query, not one per record)."""
        if not records:
            return set()
        columns = applied_offsets.c
        coordinates = [(r.topic, r.partition, r.offset) for r in records]
        found = self.connection.execute(
            select(columns.topic, columns.partition, columns.offset).where(
                tuple_(columns.topic, columns.partition, columns.offset).in_(coordinates)
            )
        )
        return {tuple(row) for row in found}

    def row(self, table: str, key: Row) -> dict[str, Any] | None:
        remembered = self._rows.get((table, _key_of(table, key)), _UNKNOWN)
        if remembered is _UNKNOWN:
            found = (
                self.connection.execute(_select_by(table, tuple(key)), _key_params(key)).mappings().first()
            )
            remembered = self._rows[(table, _key_of(table, key))] = dict(found) if found is not None else None
        return dict(remembered) if remembered is not None else None

    def denied_attempts(self, customer_id: str, since: datetime) -> list[DeniedAttempt]:
        rows = self.connection.execute(
            select(
                security_incidents.c.customer_id,
                security_incidents.c.occurred_at,
                security_incidents.c.event_id,
            ).where(
                security_incidents.c.customer_id == customer_id, security_incidents.c.occurred_at >= since
            )
        )
        return [DeniedAttempt(*row) for row in rows]

    def latest_supply_order(self, sku: str) -> dict[str, Any] | None:
        found = (
            self.connection.execute(
                select(supply_orders)
                .where(supply_orders.c.sku == sku)
                .order_by(supply_orders.c.placed_at.desc(), supply_orders.c.supply_order_id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return dict(found) if found is not None else None

    def apply(self, changes: Iterable[Change]) -> None:
        for change in changes:
            if isinstance(change, Insert):
                if change.table == "applied_offsets":
                    self._offsets.append(dict(change.row))  # nothing reads them before the flush
                else:
                    self._insert(change.table, change.row)
            elif isinstance(change, Upsert):
                self._upsert(change)

    def flush(self) -> None:
        if self._offsets:
            self.connection.execute(insert(applied_offsets), self._offsets)
            self._offsets = []

    def _insert(self, table: str, row: Row) -> None:
        self.connection.execute(insert(TABLES[table]), [dict(row)])
        self._rows[(table, _key_of(table, row))] = {**dict.fromkeys(TABLES[table].c.keys()), **row}

    def _upsert(self, change: Upsert) -> None:
        # Portable upsert: update, and insert when nothing matched. Two writers racing on a new key
        # make one insert fail on the primary key; that record is retried.
        remembered = self._rows.get((change.table, _key_of(change.table, change.key)), _UNKNOWN)
        if remembered is not None:
            updated = self.connection.execute(
                _update_by(change.table, tuple(change.key), tuple(change.values)),
                {**_key_params(change.key), **change.values},
            )
            if updated.rowcount:
                if remembered is not _UNKNOWN:
                    remembered.update(change.values)
                return
        self._insert(change.table, {**change.insert_defaults, **change.key, **change.values})


# Statements are built once per shape and take their values as parameters: building and caching
# a new statement per row would cost more than running it.
@lru_cache(maxsize=256)
def _select_by(table: str, key_columns: tuple[str, ...]) -> Select:
    return select(TABLES[table]).where(_matches(table, key_columns))


@lru_cache(maxsize=256)
def _update_by(table: str, key_columns: tuple[str, ...], value_columns: tuple[str, ...]) -> Update:
    return (
        update(TABLES[table])
        .where(_matches(table, key_columns))
        .values({c: bindparam(c) for c in value_columns})
    )


def _key_of(table: str, row: Row) -> tuple:
    return tuple(row[column.name] for column in TABLES[table].primary_key.columns)


def _key_params(key: Row) -> dict[str, Any]:
    return {f"key_{name}": value for name, value in key.items()}


def _matches(table: str, key_columns: tuple[str, ...]) -> ColumnElement[bool]:
    columns = TABLES[table].c
    return and_(*(columns[name] == bindparam(f"key_{name}") for name in key_columns))


__all__ = ["ApplyReport", "SqlReadModel", "SqlState"]
