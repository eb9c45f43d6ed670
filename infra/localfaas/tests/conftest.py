"""Fixtures shared by localfaas's tests."""

from __future__ import annotations

# Importing a fixture registers it for every test in this directory.
from infra.localfaas.tests.tansu import tansu_bootstrap  # noqa: F401
