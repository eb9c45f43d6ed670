"""`localfaas graph`: draw the template's topology — event sources, functions, buses and rules, and
the resources each function uses — as Mermaid (for a README), SVG (no Graphviz needed) or DOT.

The format follows the output file's suffix (.svg, .dot/.gv, anything else Mermaid) unless
--format says otherwise; without -o the drawing goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from localfaas.commands._options import UsageError, add_template_flags, parameter_overrides, usage_error

_SUFFIX_FORMATS = {".svg": "svg", ".dot": "dot", ".gv": "dot"}


def register(subparsers) -> None:
    from localfaas.graph import FORMATS

    parser = subparsers.add_parser(
        "graph",
        help="draw the template's topology as Mermaid, SVG or DOT",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_template_flags(parser)
    parser.add_argument("--format", "-f", choices=FORMATS, help="default: from -o's suffix, else mermaid")
    parser.add_argument("-o", "--output", help="file to write (default: stdout)")
    parser.add_argument("--stack-name", default="localfaas", help="stack name that physical names start with")
    parser.add_argument("--title", help="title drawn above the graph (default: the template's folder name)")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from localfaas.graph import build_graph, render
    from localfaas.template import TemplateError, load_stack

    fmt = args.format or _SUFFIX_FORMATS.get(Path(args.output or "").suffix.lower(), "mermaid")
    template = Path(args.template)
    try:
        stack = load_stack(
            template,
            parameter_overrides(args.parameter_overrides),
            region=args.region,
            stack_name=args.stack_name,
        )
    except (TemplateError, UsageError, OSError) as error:
        return usage_error("graph", error)
    drawing = render(build_graph(stack, title=args.title or template.resolve().parent.name), fmt)
    if args.output:
        Path(args.output).write_text(drawing, encoding="utf-8")
    else:
        sys.stdout.write(drawing)
    return 0
