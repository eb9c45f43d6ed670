"""Unit tests run with network sockets switched off: every AWS call must be answered by moto."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_network(socket_disabled):
    yield
