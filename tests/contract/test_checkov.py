"""checkov finds nothing in the template, and every check it is told to skip says why.

checkov reads AWS::Serverless::Function but not what SAM makes of it (roles, event source mappings,
permissions), so it runs on the template as aws-sam-translator expands it (localfaas's load_stack),
with .checkov.yaml. checkov pins boto3 and packaging below the project's, so it lives in a tool
environment of its own, .tools/checkov, that `make setup` installs.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from localfaas.template import load_stack

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"


@pytest.fixture(scope="module")
def expanded():
    return load_stack(ROOT / "template.yaml").template


@pytest.fixture(scope="module")
def findings(expanded, tmp_path_factory):
    """checkov's failed checks per file: the template, and a copy with a known fault as a control."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV.relative_to(ROOT)}: run `make setup`")
    folder = tmp_path_factory.mktemp("checkov")
    (folder / "template.json").write_text(json.dumps(expanded, default=str))
    control = copy.deepcopy(expanded)
    del control["Resources"]["AccountsTable"]["Properties"]["PointInTimeRecoverySpecification"]
    (folder / "control.json").write_text(json.dumps(control, default=str))
    run = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "-d", str(folder), "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert not run.stderr.strip(), run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    failed: dict[str, list[str]] = {"template.json": [], "control.json": []}
    for check in report["results"]["failed_checks"]:
        failed[Path(check["file_path"]).name].append(f"{check['check_id']} {check['resource']}")
    return failed


def test_checkov_finds_nothing_in_the_expanded_template(findings):
    assert findings["template.json"] == []


def test_checkov_does_catch_a_table_without_point_in_time_recovery(findings):
    """The control: were checkov reading nothing, the test above would pass as well."""
    assert findings["control.json"] == ["CKV_AWS_28 AWS::DynamoDB::Table.AccountsTable"]


def test_every_skip_in_the_config_has_its_reason_beside_it():
    lines = CONFIG.read_text().splitlines()
    skips = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert skips
    for check_id in skips:
        (line,) = [line for line in lines if re.match(rf"\s*-\s*{check_id}\b", line)]
        assert re.search(r"#\s*\S.{20,}", line), f"{check_id} is skipped without a reason: {line!r}"


def test_every_skip_in_the_template_says_why(expanded):
    skips = [
        (logical_id, skip)
        for logical_id, r in expanded["Resources"].items()
        for skip in ((r.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]
    assert skips
    for logical_id, skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), (logical_id, skip)
        assert len(skip.get("comment", "")) > 20, f"{logical_id} skips {skip['id']} without a reason"
