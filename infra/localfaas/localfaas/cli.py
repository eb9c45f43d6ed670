"""The `localfaas` command line: thin argument parsing over the emulator's modules."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localfaas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Each command module adds its own subparser and sets `handler`; see register() in each.
    from localfaas.commands import register_all

    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # a supervising `run` starts itself again
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
