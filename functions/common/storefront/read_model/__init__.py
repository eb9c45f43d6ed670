"""The SQL read model: schema, the pure projector, and its adapters (SQLAlchemy, in memory).

Event sourcing: the Kafka topics are the source of truth; this model is what they add up to,
and `storefront replay` rebuilds it from them as of any time.
"""

from __future__ import annotations

from storefront.read_model.projector import (
    Change,
    Insert,
    ReadModelState,
    SourceRecord,
    UnprojectableEvent,
    UnprojectableRecord,
    Upsert,
    project,
    project_record,
)
from storefront.read_model.schema import TABLES, metadata
from storefront.read_model.sql import ApplyReport, SqlReadModel

__all__ = [
    "TABLES",
    "ApplyReport",
    "Change",
    "Insert",
    "ReadModelState",
    "SourceRecord",
    "SqlReadModel",
    "UnprojectableEvent",
    "UnprojectableRecord",
    "Upsert",
    "metadata",
    "project",
    "project_record",
]
