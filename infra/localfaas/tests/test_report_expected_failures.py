"""The report names the failures a scenario causes on purpose (its malformed records) as expected,
when a passing check counts them; failures no check expects, or a check that fails, get no such note."""

from __future__ import annotations

from localfaas.report import Report
from localfaas.scenario import Check


def report(to_destination: int) -> Report:
    data = {
        "run": {"command": "run", "scenario": "day"},
        "functions": {
            "Take": {"invocations": 8, "errors": 4, "cold_starts": 1, "mean_ms": 1.0, "p95_ms": 2.0}
        },
        "esm": {
            "TakeOrders": {
                "function": "Take",
                "topic": "orders",
                "records": 10,
                "delivered": 9,
                "filtered": 0,
                "retried": 3,
                "bisected": 0,
                "to_destination": to_destination,
                "discarded": 0,
                "unsettled": 0,
                "lost": 0,
                "invocations": 8,
            }
        },
        "lost": {"total": 0, "details": []},
    }
    return Report(data)


GIVEN_UP = Check("records given up", "esm.to_destination", "equals", 1.0, expected_key="malformed_records")


def test_failures_a_passing_check_expects_are_named_expected():
    given_up = report(to_destination=1)
    given_up.evaluate([GIVEN_UP])

    assert (
        "  expected: 1 esm.to_destination, as the scenario's check 'records given up' (malformed_records) "
        "says; the function errors above include their attempts"
    ) in given_up.render().splitlines()


def test_failures_no_passing_check_expects_get_no_note():
    unexpected = report(to_destination=2)
    unexpected.evaluate([GIVEN_UP])
    unchecked = report(to_destination=1)

    assert "expected:" not in unexpected.render()
    assert "expected:" not in unchecked.render()


def test_the_redrive_hint_is_given_only_where_redrive_can_work():
    parked = {"total": 15, "destinations": {}}
    own_moto, kept = report(to_destination=1), report(to_destination=1)
    own_moto.data["parked"] = kept.data["parked"] = parked
    kept.data["run"]["backend_kept"] = True  # LocalStack, AWS, or a moto server someone else runs

    assert (
        own_moto.render().splitlines()[-1] == "NOTHING LOST (15 parked in failure destinations, listed above)"
    )
    assert "`localfaas redrive` sends them again" in kept.render().splitlines()[-1]
