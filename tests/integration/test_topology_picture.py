"""docs/topology.svg is what the README's command draws from this checkout's template.yaml, wherever
the repository is cloned: change the template, and this fails until the picture is drawn again
(`localfaas graph -o docs/topology.svg`)."""

from __future__ import annotations

import re
from pathlib import Path

from localfaas.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_readmes_graph_command_draws_the_committed_picture(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    assert "`localfaas graph -o docs/topology.svg`" in readme
    monkeypatch.chdir(ROOT)

    assert main(["graph", "-o", str(tmp_path / "topology.svg")]) == 0

    drawn = (tmp_path / "topology.svg").read_text()
    assert re.search(r'fill="#222">Storefront on events: template.yaml</text>', drawn)
    assert drawn == (ROOT / "docs" / "topology.svg").read_text()
