"""Every handler logs through the bounded logger: none writes a line a long field could blow up."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = sorted((ROOT / "functions").glob("*/app.py"))


def _calls(tree: ast.AST) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def test_every_function_makes_its_logger_with_bounded_logger():
    assert len(APPS) >= 9
    unbounded = {}
    for app in APPS:
        calls = _calls(ast.parse(app.read_text()))
        if "Logger" in calls or "bounded_logger" not in calls:
            unbounded[app.parent.name] = sorted(calls & {"Logger", "bounded_logger"})
    assert unbounded == {}


def test_the_bounded_logger_writes_bounded_lines(monkeypatch):
    from storefront.log_lines import bounded_json, bounded_logger

    # Powertools configures a service's logger once per process: a service of this test's own.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "log-bounds-contract")
    assert bounded_logger().registered_formatter.json_serializer is bounded_json
