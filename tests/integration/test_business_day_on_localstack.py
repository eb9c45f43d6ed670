"""The business day as a user runs it on LocalStack (`localfaas run --backend localstack`), twice in
a row on the same LocalStack and account: both runs pass every check with the same figures, though
the second finds the first one's emails in the account's send quota and its stack beside its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.stack import EVENTS, ROOT

# Two whole days, each a few minutes on LocalStack: past the suite's 300 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.localstack, pytest.mark.timeout(1800)]
SCENARIO = EVENTS / "scenarios" / "business-day.json"


def run_day(localstack, tmp_path, stack_name: str) -> tuple[int, dict, str]:
    report = tmp_path / f"{stack_name}.json"
    command = [sys.executable, "-m", "localfaas.cli", "run", "--scenario", str(SCENARIO)]
    command += ["--backend", "localstack", "--stack-name", stack_name, "--json", str(report)]
    env = {**os.environ, "AWS_ENDPOINT_URL": localstack.endpoint_url}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert report.is_file(), done.stderr[-3000:]
    return done.returncode, json.loads(report.read_text()), done.stdout


def figures(report: dict) -> dict:
    return {check["name"]: check["actual"] for check in report["checks"]}


@pytest.fixture(scope="module")
def two_days(localstack, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("business-day")
    return [run_day(localstack, tmp_path, name) for name in ("day-one", "day-two")]


def test_the_business_day_passes_on_localstack(two_days):
    code, report, out = two_days[0]
    assert code == 0, out[-4000:]
    assert all(check["ok"] for check in report["checks"]), out[-4000:]
    assert report["run"]["backend"] == "localstack"


def test_a_second_day_on_the_same_localstack_reports_the_same_figures(two_days):
    (first_code, first, _), (code, second, out) = two_days
    assert (first_code, code) == (0, 0), out[-4000:]
    assert figures(second) == figures(first)
    assert figures(second)["confirmation emails sent"] == 300
    assert figures(second)["security alerts"] == 12
