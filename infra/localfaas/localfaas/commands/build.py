"""`localfaas build`: build the template's Python functions and layers as `sam build` does, into
.aws-sam/build/<LogicalId>/ (layers under python/), installing each requirements.txt once per Python
version; `run`, `up`, `invoke` and `start-*` do the same first unless given --skip-build.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-build.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localfaas.commands._options import UsageError, add_template_flags, template_parameters, usage_error


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build the functions and layers as `sam build` lays them out",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_template_flags(parser)
    parser.add_argument(
        "--build-dir",
        "-b",
        metavar="DIR",
        help="where the builds go (default: .aws-sam/build beside the template)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from localfaas.build import BuildError, build_stack
    from localfaas.template import TemplateError, load_stack

    try:
        stack = load_stack(args.template, template_parameters(args, args.template))
        result = build_stack(
            stack,
            Path(args.build_dir) if args.build_dir else None,
            say=lambda text: print(f"localfaas build: {text}", file=sys.stderr, flush=True),
        )
    except (TemplateError, UsageError, BuildError, OSError) as e:
        return usage_error("build", e)
    for warning in stack.warnings:
        print(f"localfaas build: warning: {warning}", file=sys.stderr)
    print(result.summary())
    return 0
