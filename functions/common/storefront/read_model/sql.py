"""The read model in a SQL database (SQLite or PostgreSQL) through SQLAlchemy Core.

`SqlReadModel.projecting()` is one transaction: `Projection.prepare(records)` reads, in a few
queries, which of the records were applied before (their `applied_offsets` rows, by offset and
by event id) and the rows their events will read; `Projection.apply(record)` skips a redelivery
(the same offset again, or the same event at another offset: a producer's retry), otherwise asks
the projector for the changes and keeps them, with the record's offset row, to be written together
when the transaction ends (one executemany per table and kind of change). A record the projector
refuses changes nothing; the records before and after it are kept. `SqlReadModel.apply(records)`
does all of that for a list of records.

Reads see the kept changes: every row read or written is remembered for the transaction, so
the projector decides exactly as it would if each change were written at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from storefront.events import DomainEvent
from storefront.read_model.memory import DuplicateRow
from storefront.read_model.projector import (
    Change,
    Insert,
    ReadModelState,
    Reads,
    Row,
    SourceRecord,
    UnprojectableRecord,
    Upsert,
    project_record,
    read_event,
)
from storefront.read_model.schema import TABLES, applied_offsets, metadata, security_incidents, supply_orders
from storefront.security import DeniedAttempt, LockPolicy

Coordinates = tuple[str, int, int]
IN_LIST = 500  # values per IN (...): far below SQLite's and PostgreSQL's limits on parameters


@dataclass
class ApplyReport:
    applied: int = 0
    redelivered: int = 0  # records whose offset or event was applied before: nothing done
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
        """Create the tables and indexes that are missing (safe to repeat; existing ones are left
        alone). An index added to a table after it was made is created too: create_all makes a
        table's indexes only with the table."""
        metadata.create_all(self.engine, checkfirst=True)
        with self.engine.begin() as connection:
            for table in TABLES.values():
                for index in table.indexes:
                    try:
                        index.create(connection, checkfirst=True)
                    except IntegrityError:
                        raise SchemaOutdated(
                            f"{table.name} holds rows its index {index.name} refuses (a read model "
                            "built before that index): rebuild it with `storefront replay`"
                        ) from None

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

    def refresh_statistics(self) -> None:
        """Have PostgreSQL's planner look at the tables again (ANALYZE; a no-op elsewhere).

        A replay fills empty tables faster than autovacuum analyzes them: planned on the statistics
        of near-empty tables, PostgreSQL answered every `key IN (...)` read by a sequential scan, so
        each chunk read whole tables (1,000,000 events: 544 µs an event, against 67 with current
        statistics). PostgreSQL's own advice for bulk loads: run ANALYZE afterwards.
        """
        if self.engine.dialect.name != "postgresql":
            return  # SQLite's planner takes an index on the column without statistics
        with self.engine.begin() as connection:
            # text() is not schema-translated as statements are: the schema is named here.
            schemas = connection.get_execution_options().get("schema_translate_map") or {}
            quote = connection.dialect.identifier_preparer
            for table in TABLES.values():
                schema = schemas.get(table.schema, table.schema)
                name = quote.quote(table.name)
                connection.execute(
                    text(f"ANALYZE {quote.quote_schema(schema)}.{name}" if schema else f"ANALYZE {name}")
                )

    @contextmanager
    def projecting(self) -> Iterator[Projection]:
        """One transaction: what the Projection kept is written and committed when the block ends,
        and nothing is when it raises."""
        with self.engine.begin() as connection:
            projection = Projection(SqlState(connection), self.policy)
            yield projection
            projection.write()

    def apply(
        self,
        records: Iterable[SourceRecord],
        on_bad: Callable[[UnprojectableRecord], None] | None = None,
    ) -> ApplyReport:
        """Apply `records` in order, in one transaction.

        A refused record calls `on_bad` and the rest go on; without `on_bad` the transaction
        commits what came before it and the UnprojectableRecord is raised.
        """
        records, refused = list(records), None
        with self.projecting() as projection:
            projection.prepare(records)
            for record in records:
                try:
                    projection.apply(record)
                except UnprojectableRecord as error:
                    if on_bad is None:
                        refused = error
                        break
                    on_bad(error)
        if refused is not None:
            raise refused
        return projection.report


class SchemaOutdated(RuntimeError):
    """The database's rows predate a constraint of the schema: the read model must be rebuilt."""


class ProjectionBroken(RuntimeError):
    """A change could not be kept (a duplicate key, a failed read): the transaction must not commit."""


class Projection:
    """The records applied in one transaction (see the module's docstring)."""

    def __init__(self, state: SqlState, policy: LockPolicy) -> None:
        self.state, self.policy = state, policy
        self.report = ApplyReport()
        self._checked: set[Coordinates] = set()  # asked of applied_offsets already
        self._applied: set[Coordinates] = set()  # applied before, or in this transaction
        self._checked_events: set[str] = set()  # event ids asked of applied_offsets already
        self._applied_events: set[str] = set()  # event ids applied before, or in this transaction
        self._events: dict[Coordinates, DomainEvent | UnprojectableRecord] = {}
        self._broken: Exception | None = None

    def prepare(self, records: Iterable[SourceRecord]) -> None:
        """Find which records were applied before, read the others' events, and load the rows they
        will read, each kind in a few queries. Optional: `apply` answers any record by itself."""
        fresh = {c: r for r in records if (c := _coordinates(r)) not in self._checked}
        self._checked.update(fresh)
        self._applied |= self.state.applied_among(fresh)
        events: dict[Coordinates, DomainEvent] = {}
        for coordinates, record in fresh.items():
            if coordinates in self._applied:
                continue
            try:
                events[coordinates] = self._events[coordinates] = read_event(record)
            except UnprojectableRecord as refused:
                self._events[coordinates] = refused
        unasked = {e.event_id for e in events.values()} - self._checked_events
        self._checked_events |= unasked
        self._applied_events |= self.state.applied_events_among(unasked)
        reads = Reads()
        for event in events.values():
            if event.event_id not in self._applied_events:
                reads.add(event)
        self.state.load(reads)

    def apply(self, record: SourceRecord) -> bool:
        """Keep the record's changes: True when applied, False when applied before (a redelivery).
        Raises UnprojectableRecord, having changed nothing, when the projector refuses it."""
        coordinates = _coordinates(record)
        if coordinates not in self._checked:
            self.prepare([record])
        if coordinates in self._applied:
            self.report.redelivered += 1
            return False
        event = self._events.pop(coordinates, None)
        if isinstance(event, DomainEvent) and event.event_id in self._applied_events:
            self.report.redelivered += 1  # the same event at another offset: a producer's retry
            return False
        try:
            if isinstance(event, UnprojectableRecord):
                raise event
            changes = project_record(self.state, record, self.policy, event)
            self.state.apply(changes)
        except UnprojectableRecord as refused:
            self.report.skipped.append(refused)
            raise
        except Exception as error:
            # Whoever catches this (a batch processor) must not commit the rest without it.
            self._broken = error
            raise
        self._applied.add(coordinates)
        self._applied_events.add(changes[-1].row["event_id"])  # the applied_offsets row comes last
        self.report.applied += 1
        return True

    def write(self) -> None:
        """Write what was kept (called at the end of the transaction)."""
        if self._broken is not None:
            raise ProjectionBroken(f"a change could not be kept: {type(self._broken).__name__}")
        self.state.flush()


def _coordinates(record: SourceRecord) -> Coordinates:
    return (record.topic, record.partition, record.offset)


_UNKNOWN = object()


class SqlState(ReadModelState):
    """The projector's reads, and its changes, over one open transaction.

    Every row read or written by key is remembered (a row, or None when it is known absent), as
    are each loaded customer's attempts and each loaded sku's latest supply order; changes go to
    the remembered rows and are written at `flush`: inserts and updates as one executemany per
    table and set of columns. So once a key is remembered, the database is never asked again, and
    a change kept but not yet written is seen by every later read.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._rows: dict[tuple[str, tuple], dict[str, Any] | None] = {}
        self._new: dict[str, dict[tuple, dict[str, Any]]] = defaultdict(dict)  # to insert at flush
        self._changed: dict[tuple[str, tuple], set[str]] = {}  # existing rows: columns to update
        self._attempts: dict[str, list[DeniedAttempt]] = {}  # customer -> every recorded attempt
        self._latest: dict[str, dict[str, Any] | None] = {}  # sku -> its latest supply order
        self._offsets: list[dict[str, Any]] = []

    # -- reads ------------------------------------------------------------------------------

    def applied_among(self, coordinates: Iterable[Coordinates]) -> set[Coordinates]:
        """Which of `coordinates` `applied_offsets` holds already: one range query per
        topic-partition, which the primary key answers by a seek (a row-value IN made SQLite scan
        the whole table)."""
        wanted: dict[tuple[str, int], set[int]] = defaultdict(set)
        for topic, partition, offset in coordinates:
            wanted[(topic, partition)].add(offset)
        found: set[Coordinates] = set()
        for (topic, partition), offsets in wanted.items():
            recorded = self.connection.execute(
                _offsets_between(),
                {"topic": topic, "partition": partition, "low": min(offsets), "high": max(offsets)},
            ).scalars()
            found.update((topic, partition, o) for o in recorded if o in offsets)
        return found

    def applied_events_among(self, event_ids: Iterable[str]) -> set[str]:
        """Which of `event_ids` `applied_offsets` holds already (its unique index on event_id)."""
        found: set[str] = set()
        for values in _slices(sorted(event_ids)):
            found.update(self.connection.execute(_events_in(), {"values": values}).scalars())
        return found

    def load(self, reads: Reads) -> None:
        """Remember, in a few queries, the rows, attempts and supply orders `reads` names."""
        for table, keys in reads.rows.items():
            self._load_rows(table, [k for k in keys if (table, k) not in self._rows])
        self._load_attempts([c for c in reads.attempts_of if c not in self._attempts])
        self._load_latest([s for s in reads.supply_orders_of if s not in self._latest])

    def row(self, table: str, key: Row) -> dict[str, Any] | None:
        identity = (table, _key_of(table, key))
        if identity not in self._rows:
            self._load_rows(table, [identity[1]])
        remembered = self._rows[identity]
        return dict(remembered) if remembered is not None else None

    def denied_attempts(self, customer_id: str, since: datetime) -> list[DeniedAttempt]:
        if customer_id not in self._attempts:
            self._load_attempts([customer_id])
        return [a for a in self._attempts[customer_id] if a.occurred_at >= since]

    def latest_supply_order(self, sku: str) -> dict[str, Any] | None:
        if sku not in self._latest:
            self._load_latest([sku])
        latest = self._latest[sku]
        return dict(latest) if latest is not None else None

    def _load_rows(self, table: str, keys: list[tuple]) -> None:
        model = TABLES[table]
        first = model.primary_key.columns.values()[0].name
        for values in _slices(sorted({k[0] for k in keys})):
            for found in self.connection.execute(_select_in(table, first), {"values": values}).mappings():
                row = dict(found)
                # A remembered row may hold kept changes: it stays as it is.
                self._rows.setdefault((table, _key_of(table, row)), row)
        for key in keys:
            self._rows.setdefault((table, key), None)

    def _load_attempts(self, customer_ids: list[str]) -> None:
        c = security_incidents.c
        for customer_id in customer_ids:
            self._attempts[customer_id] = []
        for values in _slices(sorted(customer_ids)):
            query = select(c.customer_id, c.occurred_at, c.event_id).where(
                c.customer_id.in_(bindparam("values", expanding=True))
            )
            for row in self.connection.execute(query, {"values": values}):
                self._attempts[row.customer_id].append(DeniedAttempt(*row))

    def _load_latest(self, skus: list[str]) -> None:
        for sku in skus:
            self._latest[sku] = None
        for values in _slices(sorted(skus)):
            for found in self.connection.execute(_latest_in(), {"values": values}).mappings():
                row = dict(found)
                # Ties on placed_at are broken by id, as MemoryState and the projector expect.
                current = self._latest[row["sku"]]
                if current is None or (row["placed_at"], row["supply_order_id"]) > (
                    current["placed_at"],
                    current["supply_order_id"],
                ):
                    self._latest[row["sku"]] = row
        for sku in skus:
            latest = self._latest[sku]
            if latest is not None:  # share the remembered row, so kept changes show in both
                identity = ("supply_orders", _key_of("supply_orders", latest))
                self._latest[sku] = self._rows.setdefault(identity, latest)

    # -- changes ----------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change]) -> None:
        """Keep `changes` (one record's), all or none: a duplicate insert raises before any is kept."""
        self._check_inserts(changes)
        for change in changes:
            if isinstance(change, Insert):
                if change.table == "applied_offsets":
                    self._offsets.append(dict(change.row))  # nothing reads them before the flush
                else:
                    self._insert(change.table, change.row)
            elif isinstance(change, Upsert):
                self._upsert(change)

    def _check_inserts(self, changes: Sequence[Change]) -> None:
        inserted: set[tuple[str, tuple]] = set()
        for change in changes:
            if isinstance(change, Insert) and change.table != "applied_offsets":
                identity = (change.table, _key_of(change.table, change.row))
                if self._rows.get(identity) is not None or identity in inserted:
                    raise DuplicateRow(f"{change.table} already has the row being inserted")
                inserted.add(identity)

    def _insert(self, table: str, row: Row) -> None:
        # A key never read is inserted unchecked: the database refuses a duplicate at the flush.
        if table == "security_incidents" and row["customer_id"] not in self._attempts:
            self._load_attempts([row["customer_id"]])  # so later reads see the loaded and the kept
        if table == "supply_orders" and row["sku"] not in self._latest:
            self._load_latest([row["sku"]])
        key = _key_of(table, row)
        stored = self._rows[(table, key)] = self._new[table][key] = {**_EMPTY[table], **row}
        if table == "security_incidents":
            self._attempts[row["customer_id"]].append(
                DeniedAttempt(row["customer_id"], row["occurred_at"], row["event_id"])
            )
        elif table == "supply_orders":
            latest = self._latest[row["sku"]]
            if latest is None or (row["placed_at"], row["supply_order_id"]) > (
                latest["placed_at"],
                latest["supply_order_id"],
            ):
                self._latest[row["sku"]] = stored

    def _upsert(self, change: Upsert) -> None:
        # An update of the row when it exists (only the columns changed, so a concurrent writer's
        # columns are left alone), an insert otherwise. Two writers racing on a new key make one
        # insert fail on the primary key at the flush; that batch is retried.
        key = _key_of(change.table, change.key)
        identity = (change.table, key)
        if identity not in self._rows:
            self._load_rows(change.table, [key])
        remembered = self._rows[identity]
        if remembered is None:
            self._insert(change.table, {**change.insert_defaults, **change.key, **change.values})
            return
        remembered.update(change.values)
        if key not in self._new[change.table]:
            self._changed.setdefault(identity, set()).update(change.values)

    def flush(self) -> None:
        """Write the kept changes: one executemany per table for inserts, and per table and set of
        columns for updates."""
        for table, rows in self._new.items():
            if rows:
                self.connection.execute(insert(TABLES[table]), list(rows.values()))
        updates: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
        for (table, key), columns in self._changed.items():
            row = self._rows[(table, key)]
            assert row is not None
            names = tuple(sorted(columns))
            updates[(table, names)].append(
                {
                    **{f"key_{c}": v for c, v in zip(_KEY_COLUMNS[table], key, strict=True)},
                    **{c: row[c] for c in names},
                }
            )
        for (table, names), params in updates.items():
            self.connection.execute(_update_by(table, _KEY_COLUMNS[table], names), params)
        if self._offsets:
            self.connection.execute(insert(applied_offsets), self._offsets)
        self._new.clear()
        self._changed.clear()
        self._offsets = []


_KEY_COLUMNS = {name: tuple(c.name for c in t.primary_key.columns) for name, t in TABLES.items()}
_EMPTY = {name: dict.fromkeys(t.c.keys()) for name, t in TABLES.items()}


def _slices(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), IN_LIST):
        yield values[start : start + IN_LIST]


# Statements are built once per shape and take their values as parameters (an expanding IN for
# lists): building and caching a new statement per call would cost more than running it.
@lru_cache(maxsize=64)
def _select_in(table: str, column: str) -> Select:
    model = TABLES[table]
    return select(model).where(model.c[column].in_(bindparam("values", expanding=True)))


@lru_cache(maxsize=1)
def _offsets_between() -> Select:
    c = applied_offsets.c
    return select(c.offset).where(
        c.topic == bindparam("topic"),
        c.partition == bindparam("partition"),
        c.offset.between(bindparam("low"), bindparam("high")),
    )


@lru_cache(maxsize=1)
def _events_in() -> Select:
    c = applied_offsets.c
    return select(c.event_id).where(c.event_id.in_(bindparam("values", expanding=True)))


@lru_cache(maxsize=1)
def _latest_in() -> Select:
    # Each sku's orders placed at its latest placed_at: the (sku, placed_at) index answers both.
    # Core's alias, the same SQL as sqlalchemy.orm.aliased gives a Table, without importing the ORM
    # (about 60 ms of ProjectSql's cold start).
    later = supply_orders.alias()
    newest = select(func.max(later.c.placed_at)).where(later.c.sku == supply_orders.c.sku).scalar_subquery()
    return select(supply_orders).where(
        supply_orders.c.sku.in_(bindparam("values", expanding=True)), supply_orders.c.placed_at == newest
    )


@lru_cache(maxsize=256)
def _update_by(table: str, key_columns: tuple[str, ...], value_columns: tuple[str, ...]) -> Update:
    return (
        update(TABLES[table])
        .where(_matches(table, key_columns))
        .values({c: bindparam(c) for c in value_columns})
    )


def _key_of(table: str, row: Row) -> tuple:
    return tuple(row[name] for name in _KEY_COLUMNS[table])


def _matches(table: str, key_columns: tuple[str, ...]) -> ColumnElement[bool]:
    columns = TABLES[table].c
    return and_(*(columns[name] == bindparam(f"key_{name}") for name in key_columns))


__all__ = ["ApplyReport", "Projection", "ProjectionBroken", "SchemaOutdated", "SqlReadModel", "SqlState"]
