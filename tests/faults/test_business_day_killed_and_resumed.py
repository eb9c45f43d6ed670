"""The business day killed three times and resumed: the same effects and the same report as a day
that ran through.

`localfaas run --faults kill-after=N` supervises one kill. To kill the day three times, this test
supervises itself, as `run` does (localfaas.commands.run.supervise): each child `localfaas run` is
started with the internal `--supervised` flag, so it SIGKILLs itself after its Nth invocation, on a
moto server this test owns (it outlives every child, as AWS outlives a crashed localfaas) and on one
state folder; the fourth child runs to the end. Cost: about one day run plus three restarts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localfaas.backend import MotoBackend
from localfaas.report import Report
from localfaas.template import load_stack
from tests.faults.day import BUSINESS_DAY, DayRun, business_day
from tests.faults.effects import bus_events, differences, read_effects
from tests.support.stack import ROOT

# About one day run and three restarts, after the uninterrupted day when it runs first: see
# test_business_day_under_faults for the timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
# S3 keys of the audit archive name the first and last offsets of a batch, and a restart cuts the
# batches elsewhere (the audit queue's batches of bus events too, and a message held when the process
# died comes again): the archive is compared by the records and bus events it holds, not by key.
ARCHIVE = {"s3", "s3_lines", "s3_bus_lines"}
# Where the three kills fall, as shares of the uninterrupted day's invocations, each counted from
# the restart before it: about a quarter, a half and nine tenths of the day.
KILL_SHARES = (0.25, 0.25, 0.4)


def test_the_day_killed_at_three_points_and_resumed_ends_as_if_it_ran_through(
    uninterrupted: DayRun, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    invocations = sum(f["invocations"] for f in uninterrupted.report.data["functions"].values())
    kills = [max(1, int(invocations * share)) for share in KILL_SHARES]
    read_model = f"sqlite:///{tmp_path / 'read-model.db'}"
    (tmp_path / "env.json").write_text(json.dumps({"ProjectSql": {"DATABASE_URL": read_model}}))
    started = time.perf_counter()
    with MotoBackend(reset=True) as moto:
        statuses = [_child(tmp_path, moto.endpoint_url, kill_after=n) for n in kills]
        statuses.append(_child(tmp_path, moto.endpoint_url, kill_after=None))
        day = business_day()
        stack = load_stack(day.template, day.parameters)
        effects = read_effects(
            stack.resources,
            stack.physical_names,
            moto.client,
            moto_endpoint=moto.endpoint_url,
            read_model_url=read_model,
        )
    seconds = time.perf_counter() - started
    figures(f"day killed after invocations {kills} and resumed: {seconds:.1f} s")
    assert statuses[:3] == [-signal.SIGKILL] * 3, "each child was to be killed"
    report = json.loads((tmp_path / "report.json").read_text())
    assert statuses[3] == 0, json.dumps(report["lost"])
    assert differences(uninterrupted.effects, effects, ignore=ARCHIVE) == []
    assert bus_events(effects) == bus_events(uninterrupted.effects)
    expected = json.loads(uninterrupted.report.to_json())
    for section in ("records", "lost", "dynamodb", "sqs", "sns"):
        assert report.get(section) == expected.get(section), section
    # The report's objects per bucket, but the audit archive's, which depends on the batches (above).
    audit = "AuditArchiveBucket"
    assert {k: v for k, v in report["s3"].items() if k != audit} == {
        k: v for k, v in expected["s3"].items() if k != audit
    }
    # Counts and reasons: an SNS destination's count and every reason are kept in the state folder.
    assert report["parked"] == expected["parked"]
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        (c["name"], c["ok"]) for c in expected["checks"]
    ]
    assert report["functions"].keys() == expected["functions"].keys()
    assert _verdict(report) == _verdict(expected)


def _verdict(data: dict[str, Any]) -> str:
    """The report's verdict line. The one run fact it reads, whether the backend outlives the run
    (for the redrive hint), differs here by design: this day ran on the test's moto server."""
    text = Report({**data, "run": {**data["run"], "backend_kept": True}}).render()
    return next(line for line in text.splitlines() if line.startswith(("NOTHING LOST", "LOST:")))


def _child(folder: Path, moto_endpoint: str, *, kill_after: int | None) -> int:
    command = [
        *(sys.executable, "-m", "localfaas.cli", "run", "--scenario", str(BUSINESS_DAY)),
        *("--moto-endpoint", moto_endpoint, "--state-dir", str(folder / "state")),
        *("--env-vars", str(folder / "env.json"), "--json", str(folder / "report.json")),
    ]
    if kill_after is not None:
        command += ["--supervised", "--faults", f"kill-after={kill_after},seed=1"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(folder / "children.log", "a") as output:
        return subprocess.call(command, cwd=ROOT, env=environment, stdout=output, stderr=output)
