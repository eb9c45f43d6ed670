"""Every boto3 client the storefront makes uses botocore's standard retry mode."""

from __future__ import annotations

import re
from pathlib import Path

from storefront.adapters.aws import MARK_RETRY_CONFIG, RETRY_CONFIG

ROOT = Path(__file__).resolve().parents[3] / "functions"
CLIENT = re.compile(r"boto3\.(client|resource)\(([^)]*)\)")


def test_retry_config_is_standard_mode():
    assert RETRY_CONFIG.retries == {"mode": "standard"}


def test_marks_written_after_an_effect_get_more_attempts_in_the_same_mode():
    assert MARK_RETRY_CONFIG.retries == {"mode": "standard", "total_max_attempts": 5}


def test_every_handler_client_is_made_with_the_retry_config():
    sources = [*ROOT.glob("*/app.py")]
    calls = [(p.name, m.group(2)) for p in sources for m in CLIENT.finditer(p.read_text())]
    assert calls
    assert [c for c in calls if not re.search(r"config=(MARK_)?RETRY_CONFIG\b", c[1])] == []
