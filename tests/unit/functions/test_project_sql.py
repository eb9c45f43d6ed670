"""ProjectSql: every topic's records -> rows in the SQL read model (SQLite here), once per record."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from sqlalchemy import create_engine, inspect, select, text

from storefront.read_model.compare import canonical_rows
from storefront.read_model.database import DatabaseNotConfigured, database_url
from storefront.read_model.schema import TABLES
from tests.support.factories import access_denied, account_requested, arrival, at, inventory, payment
from tests.support.kafka import failed_offsets, msk_event, record
from tests.support.stack import load_handler, sample_event


@pytest.fixture
def database(tmp_path):
    return f"sqlite:///{tmp_path / 'read-model.db'}"


@pytest.fixture
def app(provisioned, monkeypatch, database):
    # The template's environment, then DATABASE_URL overridden as `sam local --env-vars` would.
    for name, value in provisioned.function("ProjectSql").environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database)
    return load_handler(provisioned, "ProjectSql")


def rows(database: str, table: str) -> list[dict]:
    with create_engine(database).connect() as connection:
        return [dict(r) for r in connection.execute(select(TABLES[table])).mappings()]


def snapshot(database: str) -> dict[str, dict[str, str]]:
    engine = create_engine(database)
    return {table: canonical_rows(engine, table) for table in TABLES}


def test_events_of_every_topic_become_rows(app, database, lambda_context):
    batch = msk_event(
        record("customer-accounts", account_requested("c-1", at(9))),
        record("payments", payment("O-1", "c-1", at(10))),
        record("shipments", arrival("O-1", at(15))),
    )

    response = app.lambda_handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert [(c["customer_id"], c["status"]) for c in rows(database, "customers")] == [("c-1", "ACTIVE")]
    assert [(o["order_id"], o["status"]) for o in rows(database, "orders")] == [("O-1", "DELIVERED")]
    assert rows(database, "sales_tickets")[0]["status"] == "CLOSED"
    assert len(rows(database, "applied_offsets")) == 3


def test_sample_events_apply_without_failures(app, database, lambda_context):
    for name in ("customer-accounts.json", "payments.json", "shipments.json"):
        assert app.lambda_handler(sample_event(f"project_sql/{name}"), lambda_context) == {
            "batchItemFailures": []
        }

    assert rows(database, "orders")[0]["ship_to_city"] == "London"


def batch_summaries(caplog) -> list[dict]:
    return [
        {k: r.__dict__[k] for k in ("projected", "redelivered", "refused")}
        for r in caplog.records
        if r.getMessage() == "batch projected"
    ]


def test_redelivered_batch_changes_nothing(app, database, lambda_context, caplog):
    batch = msk_event(
        record("security", access_denied("c-1", at(9, 1), 1)),
        record("security", access_denied("c-1", at(9, 2), 2)),
        record("customer-accounts", account_requested("c-1", at(9))),
        record("security", access_denied("c-1", at(9, 3), 3)),
    )
    app.lambda_handler(batch, lambda_context)
    before = snapshot(database)

    response = app.lambda_handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert snapshot(database) == before
    assert rows(database, "customers")[0]["status"] == "LOCKED"
    assert len(rows(database, "security_incidents")) == 3
    assert batch_summaries(caplog) == [
        {"projected": 4, "redelivered": 0, "refused": 0},
        {"projected": 0, "redelivered": 4, "refused": 0},
    ]


def test_the_same_events_produced_again_at_new_offsets_change_nothing(app, database, lambda_context, caplog):
    # A producer's retry writes each event again, same event ids, new offsets. The low count and
    # the restock after it place a supply order and receive it; the low count seen again after
    # that must not place a second one (an offset check alone let it: 11 supply orders became 22).
    day = [
        ("inventory", inventory("MUG-BLUE", at(9), on_hand=4)),
        ("inventory", inventory("MUG-BLUE", at(12), on_hand=54)),
        ("customer-accounts", account_requested("c-1", at(9))),
        ("security", access_denied("c-1", at(9, 1), 1)),
        ("payments", payment("O-1", "c-1", at(10))),
        ("shipments", arrival("O-1", at(15))),
    ]
    app.lambda_handler(msk_event(*(record(topic, event) for topic, event in day)), lambda_context)
    before = snapshot(database)
    assert [o["status"] for o in rows(database, "supply_orders")] == ["RECEIVED"]

    again = msk_event(*(record(topic, event) for topic, event in day))
    response = app.lambda_handler(again, lambda_context)

    assert response == {"batchItemFailures": []}
    assert snapshot(database) == before
    assert batch_summaries(caplog)[-1] == {"projected": 0, "redelivered": 6, "refused": 0}


def test_one_event_twice_in_a_batch_is_applied_once(app, database, lambda_context):
    count = inventory("MUG-BLUE", at(9), on_hand=4)

    response = app.lambda_handler(
        msk_event(record("inventory", count), record("inventory", count)), lambda_context
    )

    assert response == {"batchItemFailures": []}
    assert len(rows(database, "supply_orders")) == 1
    assert len(rows(database, "applied_offsets")) == 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not base64!", id="invalid base64"),
        pytest.param(base64.b64encode(b"[" * 5000 + b"]" * 5000).decode(), id="nested 5000 deep"),
    ],
)
def test_an_undecodable_record_fails_alone(app, database, lambda_context, value):
    first = record("customer-accounts", account_requested("c-1", at(9)))
    bad = record("customer-accounts", b"{}", key="c-9")
    last = record("customer-accounts", account_requested("c-2", at(9, 5)))
    batch = msk_event(first, bad, last)
    for chunk in batch["records"].values():
        for raw in chunk:
            if raw["offset"] == bad.offset:
                raw["value"] = value

    response = app.lambda_handler(batch, lambda_context)

    assert failed_offsets(response) == [bad.offset]
    assert sorted(c["customer_id"] for c in rows(database, "customers")) == ["c-1", "c-2"]


def test_a_read_model_built_before_the_event_id_index_gets_it(database):
    from storefront.read_model import SqlReadModel

    model = SqlReadModel(create_engine(database))
    model.create_schema()
    with create_engine(database).begin() as connection:
        connection.execute(text("DROP INDEX ux_applied_offsets_event_id"))

    model.create_schema()

    with create_engine(database).connect() as connection:
        indexes = {i["name"]: i["unique"] for i in inspect(connection).get_indexes("applied_offsets")}
    assert indexes["ux_applied_offsets_event_id"] in (True, 1)


def test_a_batch_logs_one_summary_and_no_line_per_projected_record(app, lambda_context, caplog):
    batch = msk_event(*(record("customer-accounts", account_requested(f"c-{n}", at(9, n))) for n in range(5)))

    app.lambda_handler(batch, lambda_context)

    info = [r.getMessage() for r in caplog.records if r.levelname == "INFO" and r.name == app.logger.name]
    assert info == ["batch projected"]
    assert batch_summaries(caplog) == [{"projected": 5, "redelivered": 0, "refused": 0}]


def test_a_write_the_database_refuses_fails_the_whole_batch_and_its_retry_applies_it(
    app, database, lambda_context
):
    first = record("customer-accounts", account_requested("c-1", at(9)))
    second = record("customer-accounts", account_requested("c-2", at(9, 5)))
    engine = create_engine(database)
    app.lambda_handler(
        msk_event(record("customer-accounts", account_requested("c-0", at(8)))), lambda_context
    )
    with engine.begin() as connection:  # the database refuses one offset row, as a full disk would
        connection.execute(
            text(
                'CREATE TRIGGER refuse AFTER INSERT ON applied_offsets WHEN NEW."offset" = '
                f"{second.offset} BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )

    with pytest.raises(Exception, match="disk full"):
        app.lambda_handler(msk_event(first, second), lambda_context)

    assert [c["customer_id"] for c in rows(database, "customers")] == ["c-0"]  # nothing of the batch
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER refuse"))
    assert app.lambda_handler(msk_event(first, second), lambda_context) == {"batchItemFailures": []}
    assert sorted(c["customer_id"] for c in rows(database, "customers")) == ["c-0", "c-1", "c-2"]


def test_malformed_record_is_a_batch_item_failure_and_the_rest_is_applied(
    app, database, lambda_context, caplog
):
    first = record("customer-accounts", account_requested("c-1", at(9)))
    bad = record("customer-accounts", b'{"eventType": "AccountRequested", "customerId": ', key="c-9")
    last = record("customer-accounts", account_requested("c-2", at(9, 5)))

    response = app.lambda_handler(msk_event(first, bad, last), lambda_context)

    assert failed_offsets(response) == [bad.offset]
    assert sorted(c["customer_id"] for c in rows(database, "customers")) == ["c-1", "c-2"]
    assert sorted(r["offset"] for r in rows(database, "applied_offsets")) == [first.offset, last.offset]
    assert batch_summaries(caplog) == [{"projected": 2, "redelivered": 0, "refused": 1}]


def test_sample_mixed_batch_fails_only_its_malformed_record(app, database, lambda_context):
    response = app.lambda_handler(sample_event("project_sql/security-mixed-batch.json"), lambda_context)

    assert failed_offsets(response) == [5121]
    assert len(rows(database, "security_incidents")) == 2


def test_a_retried_record_is_applied_after_later_offsets_of_its_partition(app, database, lambda_context):
    # With ReportBatchItemFailures Lambda retries only the failed record: a high-water mark would drop it.
    earlier = record("inventory", inventory("MUG-BLUE", at(9), on_hand=4))
    later = record("inventory", inventory("MUG-BLUE", at(10), on_hand=3))
    app.lambda_handler(msk_event(later), lambda_context)

    response = app.lambda_handler(msk_event(earlier, later), lambda_context)

    assert response == {"batchItemFailures": []}
    assert sorted(r["offset"] for r in rows(database, "applied_offsets")) == [earlier.offset, later.offset]


def test_refusal_names_the_record_and_no_personal_data_reaches_the_logs(
    app, lambda_context, caplog, function_logs
):
    logs = function_logs(app)
    taken = record("customer-accounts", account_requested("c-1", at(9)))
    conflicting = record("customer-accounts", account_requested("c-1", at(9, 5), event_id="req-other"))

    response = app.lambda_handler(msk_event(taken, conflicting), lambda_context)

    assert failed_offsets(response) == [conflicting.offset]
    refused = [r for r in caplog.records if r.getMessage() == "record refused"]
    assert [r.__dict__["record"] for r in refused] == [f"customer-accounts-0@{conflicting.offset}"]
    written = logs.getvalue()
    assert "record refused" in written  # the log lines were caught
    everything = written + "".join(str(r.__dict__) for r in caplog.records)
    assert "c-1@example.com" not in everything
    assert "$argon2id" not in everything


def test_cloud_database_url_is_built_from_the_clusters_managed_secret(aws):
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(
        Name="rds!cluster-0f1e2d3c",
        SecretString=json.dumps({"username": "storefront_admin", "password": "p@ss:/w"}),
    )["ARN"]
    environ = {
        "DATABASE_URL": "",
        "DATABASE_SECRET_ARN": arn,
        "DATABASE_HOST": "read-model.cluster-abc.us-east-1.rds.amazonaws.com",
        "DATABASE_PORT": "5432",
        "DATABASE_NAME": "storefront",
    }

    url = database_url(environ, secrets)

    assert url.drivername == "postgresql+pg8000"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "storefront_admin",
        "p@ss:/w",
        "read-model.cluster-abc.us-east-1.rds.amazonaws.com",
        5432,
        "storefront",
    )


def test_no_database_configured_is_a_clear_error():
    with pytest.raises(DatabaseNotConfigured, match="DATABASE_SECRET_ARN"):
        database_url({"DATABASE_URL": ""})
