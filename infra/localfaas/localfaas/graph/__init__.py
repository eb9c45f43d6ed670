"""The topology of a stack as a graph, read from its resolved resources, and drawn three ways.

What is drawn: Kafka topics (and other event sources) -> functions along event source mappings,
labelled with the consumer group and filter; buses -> rules -> targets, a rule labelled with a summary
of its pattern; functions -> the buses, tables, queues, topics, buckets, secrets and identities they
use, found in their IAM policies (SAM policy templates expand into these) and environment variables
(a database needs no IAM grant, so a variable holding its endpoint is enough);
SNS subscriptions, S3 notifications, SQS redrive; and, dashed, where failures go: on-failure
destinations of mappings and asynchronous invocation, rule targets' dead-letter queues, redrive.

Not drawn: permissions that name no resource of the template (managed policies, `*`), API sources.

Renderings: Mermaid (for READMEs), Graphviz DOT text, and SVG laid out here in layers from left to
right (sources, functions, resources), so no Graphviz is needed.

Modules: `model` (nodes, edges, kinds), `topology` (build_graph: the stack read into a graph), `labels`
(what edges and rules are labelled with), `text` (Mermaid, DOT), `svg` (layout and drawing).
"""

from __future__ import annotations

from localfaas.graph.labels import summarise_pattern
from localfaas.graph.model import Edge, Graph, Node
from localfaas.graph.svg import to_svg
from localfaas.graph.text import to_dot, to_mermaid
from localfaas.graph.topology import build_graph

__all__ = [
    "Edge",
    "Graph",
    "Node",
    "build_graph",
    "render",
    "summarise_pattern",
    "to_dot",
    "to_mermaid",
    "to_svg",
]

FORMATS = ("mermaid", "svg", "dot")


def render(graph: Graph, fmt: str) -> str:
    """The graph drawn in `fmt`, one of FORMATS."""
    renderers = {"mermaid": to_mermaid, "svg": to_svg, "dot": to_dot}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](graph)
