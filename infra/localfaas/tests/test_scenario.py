"""Scenario files (what each record field produces, errors that name the field) and the report's metrics
and checks that a scenario asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localfaas.report import MetricError, Report
from localfaas.scenario import Check, ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[3]


def scenario(**fields):
    return parse_scenario({"name": "s", "template": "template.yaml", **fields}, base_dir=Path("/apps/shop"))


def record(**fields) -> dict:
    return {"topic": "orders", "key": "o-1", "value": {"a": 1}, **fields}


def test_template_path_is_relative_to_the_scenario_file():
    assert scenario().template == Path("/apps/shop/template.yaml")


def test_a_json_value_is_produced_compactly_and_its_key_and_headers_as_utf8():
    (produced,) = scenario(records=[record(value={"a": [1, 2]}, headers={"trace": "t-1"})]).records
    assert produced.value == b'{"a":[1,2]}'
    assert produced.key == b"o-1"
    assert produced.headers == (("trace", b"t-1"),)


def test_value_text_is_produced_exactly_as_written_for_malformed_records():
    (produced,) = scenario(records=[{"topic": "orders", "valueText": '{"broken": '}]).records
    assert produced.value == b'{"broken": '
    assert produced.key is None


def test_value_base64_is_produced_as_the_bytes_it_encodes():
    (produced,) = scenario(records=[{"topic": "orders", "valueBase64": "AAH/"}]).records
    assert produced.value == b"\x00\x01\xff"


def test_a_null_value_is_a_tombstone():
    (produced,) = scenario(records=[record(value=None)]).records
    assert produced.value is None


def test_iso_timestamps_become_epoch_milliseconds_and_a_missing_one_is_left_to_the_log():
    first, second = scenario(records=[record(timestamp="2026-11-25T08:00:00.250Z"), record()]).records
    assert first.timestamp_ms == 1_795_593_600_250
    assert second.timestamp_ms is None


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"topic": "", "value": 1}, "records[1].topic"),
        ({"topic": "orders", "value": 1, "timestamp": "noon"}, "records[1].timestamp"),
        ({"topic": "orders", "value": 1, "valueText": "x"}, "records[1]: needs exactly one of value"),
        ({"topic": "orders"}, "records[1]: needs exactly one of value"),
        ({"topic": "orders", "valueBase64": "***"}, "records[1].valueBase64"),
        ({"topic": "orders", "value": 1, "headers": {"n": 1}}, "records[1].headers.n"),
        ({"topic": "orders", "value": 1, "partition": -1}, "records[1].partition"),
        ({"topic": "orders", "value": 1, "offset": 4}, "records[1].offset: unknown field"),
    ],
)
def test_a_bad_record_is_named_by_index_and_field(bad, where):
    with pytest.raises(ScenarioError) as raised:
        scenario(records=[record(), bad])
    assert str(raised.value).startswith(f"scenario: {where}")


def test_an_event_without_detail_type_is_named_and_an_object_detail_is_serialised():
    with pytest.raises(ScenarioError, match=r"events\[0\]\.DetailType: is required"):
        scenario(events=[{"Source": "s", "Detail": "{}"}])
    (event,) = scenario(events=[{"Source": "s", "DetailType": "d", "Detail": {"x": 1}}]).events
    assert event["Detail"] == '{"x":1}'


def test_a_message_for_a_queue_takes_a_text_body_or_compact_json_and_string_attributes():
    scenario = parse_scenario(
        {
            "messages": [
                {"queue": "Work", "body": " as written "},
                {"queue": "work.fifo", "value": {"a": 1}, "attributes": {"kind": "order"}, "groupId": "g"},
            ]
        }
    )
    plain, fifo = scenario.messages
    assert (plain.queue, plain.body, plain.attributes, plain.group_id) == ("Work", " as written ", (), None)
    assert (fifo.body, fifo.attributes, fifo.group_id) == ('{"a":1}', (("kind", "order"),), "g")


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"body": "x"}, r"messages\[0\]\.queue"),
        ({"queue": "q", "body": "x", "value": 1}, r"messages\[0\]: needs exactly one of body"),
        ({"queue": "q", "body": 1}, r"messages\[0\]\.body"),
        ({"queue": "q", "body": "x", "attributes": {"n": 1}}, r"messages\[0\]\.attributes"),
        ({"queue": "q", "body": "x", "delay": 5}, r"messages\[0\]\.delay: unknown field"),
    ],
)
def test_a_bad_message_is_named_by_index_and_field(bad, where):
    with pytest.raises(ScenarioError, match=where):
        parse_scenario({"messages": [bad]})


def test_topics_need_a_positive_partition_count():
    assert scenario(topics={"orders": {"partitions": 3}}).topics == {"orders": 3}
    with pytest.raises(ScenarioError, match=r"topics\.orders: partitions"):
        scenario(topics={"orders": {"partitions": 0}})


def test_an_unknown_top_level_field_is_refused():
    with pytest.raises(ScenarioError, match="recrods: unknown field"):
        scenario(recrods=[])


def test_a_check_may_take_its_number_from_the_expected_block():
    checks = scenario(
        expected={"emails": 300},
        checks=[
            {"name": "emails", "metric": "ses.sent", "expected": "emails"},
            {"metric": "esm.to_destination", "min": {"expected": "emails"}},
        ],
    ).checks
    assert checks == (
        Check("emails", "ses.sent", "equals", 300, "emails"),
        Check("esm.to_destination", "esm.to_destination", "min", 300, "emails"),
    )


def test_a_check_naming_a_missing_expected_key_is_refused():
    with pytest.raises(ScenarioError, match=r"checks\[0\]\.expected"):
        scenario(expected={}, checks=[{"metric": "ses.sent", "expected": "emails"}])


def test_unreadable_files_say_which_file():
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario("/nonexistent/scenario.json")


def test_the_business_day_scenario_is_valid_and_its_checks_refer_to_its_expectations():
    day = load_scenario(ROOT / "events" / "scenarios" / "business-day.json")
    assert day.template == ROOT / "template.yaml"
    assert len(day.records) > 1000
    assert sum(1 for r in day.records if r.value is not None and not r.value.startswith(b"{")) >= 1
    assert {c.expected_key for c in day.checks} >= {
        "confirmation_emails",
        "accounts_locked",
        "tickets_closed",
    }


# -- metrics and checks on a report ---------------------------------------------------------------

REPORT = {
    "esm": {
        "CreateAccountRequests": {"to_destination": 2, "delivered": 10},
        "AuditLogAccounts": {"to_destination": 1, "delivered": 12},
    },
    "bus": {"events": {"shop.accounts/AccountCreated": 3}, "dead_lettered": 0},
    "dynamodb": {"Orders": {"name": "shop-Orders-ABC", "items": 5}},
    "sns": {"Alerts": {"name": "alerts", "published": None}},
    "ses": {"sent": 7},
    "lost": {"total": 0, "details": []},
}


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("ses.sent", 7),
        ("esm.to_destination", 3),
        ("esm.to_destination[AuditLogAccounts]", 1),
        ("bus.events[shop.accounts/AccountCreated]", 3),
        ("bus.events[shop.accounts/AccountLocked]", 0),
        ("bus.events", 3),
        ("dynamodb.items[Orders]", 5),
        ("dynamodb.items[shop-Orders-ABC]", 5),
        ("lost", 0),
    ],
)
def test_a_metric_names_one_number_of_the_report(metric, value):
    assert Report(json.loads(json.dumps(REPORT))).metric(metric) == value


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("dynamodb.items[Missing]", "no 'Missing' (known: Orders)"),
        ("queues.messages", "no section 'queues'"),
        ("esm.unknown", "esm has no field 'unknown'"),
        ("sns.published[Alerts]", "not available on this backend"),
    ],
)
def test_a_metric_that_names_nothing_says_what_exists(metric, message):
    with pytest.raises(MetricError) as raised:
        Report(json.loads(json.dumps(REPORT))).metric(metric)
    assert message in str(raised.value)


def test_checks_are_recorded_with_expected_and_actual_and_a_failing_one_makes_the_report_not_ok():
    report = Report(json.loads(json.dumps(REPORT)))
    report.evaluate(
        [
            Check("emails", "ses.sent", "equals", 7),
            Check("records", "esm.to_destination", "min", 5),
            Check("alerts", "sns.published[Alerts]", "equals", 1),
        ]
    )
    assert [(c["name"], c["actual"], c["ok"]) for c in report.checks] == [
        ("emails", 7, True),
        ("records", 3, False),
        ("alerts", None, False),
    ]
    assert not report.ok
    text = Report({"checks": report.checks}).render()
    assert "FAIL  records" in text and "ok    emails" in text
    assert "alerts: metric 'sns.published[Alerts]': not available on this backend" in text
