"""Fixtures for the handlers' tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def debug_logs(app, function_logs):
    """The function's log lines down to DEBUG: the per-record lines are DEBUG (one INFO line a batch),
    and a test that no personal data is logged must read those too."""
    level = app.logger.log_level
    app.logger.setLevel("DEBUG")
    yield function_logs(app)
    app.logger.setLevel(level)
