"""`localfaas graph`: draw the template's topology — event sources, functions, buses and rules, and
the resources each function uses — as Mermaid (for a README), SVG (no Graphviz needed) or DOT.

The format follows the output file's suffix (.svg, .dot/.gv, anything else Mermaid) unless
--format says otherwise; without -o the drawing goes to stdout. The title defaults to the head of
the template's Description (up to its first colon or full stop) and the template's file name, so the
same template draws the same picture wherever it is checked out.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from localfaas.commands._options import UsageError, add_template_flags, template_parameters, usage_error

_SUFFIX_FORMATS = {".svg": "svg", ".dot": "dot", ".gv": "dot"}
_DESCRIPTION_HEAD = re.compile(r"^\s*([^:.\n]+?)\s*(?::|\.\s|\.$|\n|$)")


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
    parser.add_argument(
        "--title",
        help="title drawn above the graph (default: the head of the template's Description and its file name)",
    )
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
            template_parameters(args, template),
            region=args.region,
            stack_name=args.stack_name,
        )
    except (TemplateError, UsageError, OSError) as error:
        return usage_error("graph", error)
    drawing = render(build_graph(stack, title=args.title or default_title(stack.template, template)), fmt)
    if args.output:
        try:
            Path(args.output).write_text(drawing, encoding="utf-8")
        except OSError as error:
            return usage_error("graph", f"cannot write {args.output}: {error.strerror}")
    else:
        sys.stdout.write(drawing)
    return 0


def default_title(translated: dict, template: Path) -> str:
    """ "Head of the Description: file name"; without a Description, the folder and file name."""
    description = translated.get("Description")
    head = _DESCRIPTION_HEAD.match(description) if isinstance(description, str) else None
    if head is None:
        return f"{template.resolve().parent.name}: {template.name}"
    return f"{head.group(1)}: {template.name}"
