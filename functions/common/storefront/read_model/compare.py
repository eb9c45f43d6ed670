"""Table-by-table comparison of two read models: row counts, checksums, and the rows that differ.

Rows are put in a canonical text form (timestamps in UTC ISO 8601, in primary-key order sorted
in Python, not by the database's collation), so a read model on SQLite and one on PostgreSQL
holding the same facts have the same checksums.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from storefront.read_model.schema import TABLES

SHOWN = 5  # differing keys printed per table


@dataclass(frozen=True)
class TableSummary:
    rows: int
    checksum: str


@dataclass
class TableDifference:
    table: str
    left: TableSummary
    right: TableSummary
    only_left: list[str] = field(default_factory=list)  # primary keys, as JSON text
    only_right: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def describe(self, left_name: str = "left", right_name: str = "right") -> str:
        lines = [
            f"{self.table}: {left_name} {self.left.rows} rows ({self.left.checksum[:12]}), "
            f"{right_name} {self.right.rows} rows ({self.right.checksum[:12]})"
        ]
        for label, keys in (
            (f"only in {left_name}", self.only_left),
            (f"only in {right_name}", self.only_right),
            ("different", self.changed),
        ):
            if keys:
                more = f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
                lines.append(f"  {label}: {', '.join(keys[:SHOWN])}{more}")
        return "\n".join(lines)


def canonical_rows(engine: Engine, table: str) -> dict[str, str]:
    """Each row as canonical JSON text, keyed by its primary key (also canonical JSON text)."""
    model = TABLES[table]
    key_columns = [c.name for c in model.primary_key.columns]
    with engine.connect() as connection:
        rows = connection.execute(select(model)).mappings().all()
    return {
        _text([row[name] for name in key_columns]): _text([row[c.name] for c in model.columns])
        for row in rows
    }


def summarize(rows: dict[str, str]) -> TableSummary:
    digest = hashlib.sha256()
    for key in sorted(rows):
        digest.update(rows[key].encode())
        digest.update(b"\n")
    return TableSummary(rows=len(rows), checksum=digest.hexdigest())


def compare(left: Engine, right: Engine) -> list[TableDifference]:
    """The tables whose rows differ between the two read models (empty when they are equal)."""
    differences = []
    for table in TABLES:
        a, b = canonical_rows(left, table), canonical_rows(right, table)
        summary_a, summary_b = summarize(a), summarize(b)
        if summary_a == summary_b:
            continue
        differences.append(
            TableDifference(
                table,
                summary_a,
                summary_b,
                only_left=sorted(a.keys() - b.keys()),
                only_right=sorted(b.keys() - a.keys()),
                changed=sorted(k for k in a.keys() & b.keys() if a[k] != b[k]),
            )
        )
    return differences


def _text(values: list[Any]) -> str:
    return json.dumps([_canonical(v) for v in values], separators=(",", ":"))


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value
