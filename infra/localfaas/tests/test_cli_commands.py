"""The command line imports only the command it runs (issue 15: every command, graph included, was
13 % of `localfaas invoke`), and still lists every command for help or a misspelt one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from localfaas.cli import main
from localfaas.commands import command_names


def _commands_imported(*argv: str) -> set[str]:
    probe = (
        "import sys\n"
        "from localfaas.cli import build_parser\n"
        f"build_parser({list(argv)!r})\n"
        "print(' '.join(m for m in sys.modules if m.startswith('localfaas.commands.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return {
        name.rsplit(".", 1)[1] for name in done.stdout.split() if not name.rsplit(".", 1)[1].startswith("_")
    }


def test_running_a_command_imports_that_command_alone():
    assert _commands_imported("invoke", "Fn", "--event", "run") == {"invoke"}


def test_help_or_no_command_imports_them_all():
    assert _commands_imported("--help") == {name.replace("-", "_") for name in command_names()}


def test_a_misspelt_command_is_refused_naming_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["invok"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'invok'" in error and "'invoke'" in error and "'start-api'" in error
