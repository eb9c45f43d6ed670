"""The graph as text: a Mermaid flowchart (for READMEs) and Graphviz DOT."""

from __future__ import annotations

from xml.sax.saxutils import escape

from localfaas.graph.model import KINDS, Graph, safe_id


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart, left to right; node shapes and colours by kind."""
    out = ["flowchart LR"]
    if graph.title:
        out.insert(0, f"---\ntitle: {graph.title}\n---")
    for node in graph.nodes.values():
        left, right = KINDS[node.kind].mermaid
        out.append(f'  {node.id}{left}"{_mermaid_text(node.label)}"{right}')
    for edge in graph.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"  {edge.source} {arrow}{label} {edge.target}")
    for name, kind in KINDS.items():
        members = [n.id for n in graph.nodes.values() if n.kind == name]
        if members:
            css = safe_id(name)
            out.append(f"  classDef {css} fill:{kind.fill},stroke:{kind.stroke},color:#222")
            out.append(f"  class {','.join(members)} {css}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    return escape(text).replace('"', "#quot;").replace("\n", "<br/>")


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text, for those who have Graphviz (`dot -Tsvg`)."""
    out = [
        "digraph topology {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    if graph.title:
        out.append(f"  label={_dot_text(graph.title)}; labelloc=t;")
    for node in graph.nodes.values():
        kind = KINDS[node.kind]
        label = _dot_text(f"{node.label}\n{kind.caption}")
        out.append(f'  {_dot_text(node.id)} [label={label}, fillcolor="{kind.fill}", color="{kind.stroke}"];')
    for edge in graph.edges:
        attributes = [f"label={_dot_text(edge.label)}"] if edge.label else []
        if edge.dashed:
            attributes.append("style=dashed")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        out.append(f"  {_dot_text(edge.source)} -> {_dot_text(edge.target)}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
