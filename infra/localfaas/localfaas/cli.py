"""The `localfaas` command line: thin argument parsing over the emulator's modules."""

from __future__ import annotations

import argparse
import sys


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv` (only the command it names is imported), or for every command."""
    parser = argparse.ArgumentParser(prog="localfaas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Each command module adds its own subparser and sets `handler`; see register() in each.
    from localfaas.commands import register_all

    register_all(sub, argv)
    return parser


# A shell's status for a command ended by SIGINT (128 + 2), as Python's own exit on Ctrl-C gives.
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(words).parse_args(words)
    args.argv = words  # a supervising `run` starts itself again
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C where a command has nothing more useful to say (`run` has)
        print(f"localfaas {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
