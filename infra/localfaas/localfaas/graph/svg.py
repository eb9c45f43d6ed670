"""The graph as a standalone SVG drawing, laid out here in layers from left to right (sources,
functions, resources), so no Graphviz is needed.

Sugiyama-style, as Graphviz's dot does it: nodes get columns by longest path (resources that feed
nothing share the last column), every other column is kept for edge labels, long edges pass through
one dummy point per column (the first one carries the edge's label, so labels take room like nodes
and never pile up), columns are ordered by barycentre sweeps, and y is least-squares near neighbours.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from xml.sax.saxutils import escape

from localfaas.graph.model import KINDS, Edge, Graph, Node

_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
_LABEL_PX, _CAPTION_PX, _EDGE_PX = 12, 10, 10
_NODE_PAD_X, _NODE_PAD_Y, _LINE_GAP = 12, 7, 3
_ROW_GAP, _DUMMY_H, _MARGIN, _COLUMN_GAP, _TITLE_H, _LEGEND_H = 12, 4, 24, 44, 30, 40
# Resources: they go to the last column unless they feed something (a queue with a consumer, say).
_SINK_KINDS = set(KINDS) - {"kafka-topic", "source", "function", "bus", "rule"}
_FAILURE_COLOUR, _EDGE_COLOUR = "#c0392b", "#666666"


def _text_width(text: str, px: float, *, bold: bool = False) -> float:
    # Average advance of DejaVu Sans is about 0.6 em (0.65 em bold); generous so text stays inside.
    return max((len(line) for line in text.split("\n")), default=0) * px * (0.65 if bold else 0.6)


@dataclass
class _Box:
    id: str
    column: int
    width: float
    height: float
    node: Node | None = None  # None for the points long edges pass through
    label: str = ""  # an edge label carried by this point
    x: float = 0.0
    y: float = 0.0  # top

    @property
    def mid(self) -> float:
        return self.y + self.height / 2


@dataclass
class _Route:
    edge: Edge
    points: list[str]  # box ids from the edge's source to its target, dummies between
    arc: bool = False  # source and target in the same column: drawn as an arc on its right


def _node_size(node: Node) -> tuple[float, float]:
    lines = node.label.count("\n") + 1
    width = max(_text_width(node.label, _LABEL_PX, bold=True), _text_width(node.caption, _CAPTION_PX))
    height = _NODE_PAD_Y * 2 + lines * (_LABEL_PX + _LINE_GAP) + _CAPTION_PX
    return width + 2 * _NODE_PAD_X, height


def _label_size(label: str) -> tuple[float, float]:
    return _text_width(label, _EDGE_PX) + 8, (label.count("\n") + 1) * (_EDGE_PX + 2) + 4


class _Layout:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.boxes: dict[str, _Box] = {}
        self.columns: list[list[str]] = []
        self.routes: list[_Route] = []
        self._assign_columns()
        self._route_edges()
        self._order()
        self._place()
        self.ports = self._ports()

    def _assign_columns(self) -> None:
        graph = self.graph
        feeds = {e.source for e in graph.edges if graph.nodes[e.target].kind not in _SINK_KINDS}
        sinks = {n.id for n in graph.nodes.values() if n.kind in _SINK_KINDS and n.id not in feeds}
        ignored = _back_edges(graph, sinks) | {(e.source, e.target) for e in graph.edges if e.target in sinks}
        rank = dict.fromkeys(graph.nodes, 0)
        for node in _topological(graph, ignored):
            for e in graph.edges:
                if e.source == node and (e.source, e.target) not in ignored:
                    rank[e.target] = max(rank[e.target], rank[node] + 1)
        last = max((rank[n] for n in graph.nodes if n not in sinks), default=-1) + 1
        for node in sinks:
            rank[node] = last
        self.columns = [[] for _ in range(2 * max(rank.values(), default=0) + 1)]
        for node in graph.nodes.values():
            width, height = _node_size(node)
            self.boxes[node.id] = _Box(node.id, 2 * rank[node.id], width, height, node)
            self.columns[2 * rank[node.id]].append(node.id)

    def _route_edges(self) -> None:
        for index, edge in enumerate(self.graph.edges):
            source, target = self.boxes[edge.source], self.boxes[edge.target]
            step = 1 if target.column > source.column else -1
            chain = [source.id]
            for column in range(source.column + step, target.column, step):
                dummy = f"~{index}~{column}"
                carries = edge.label if len(chain) == 1 else ""
                width, height = _label_size(carries) if carries else (0.0, _DUMMY_H)
                self.boxes[dummy] = _Box(dummy, column, width, height, label=carries)
                self.columns[column].append(dummy)
                chain.append(dummy)
            chain.append(target.id)
            self.routes.append(_Route(edge, chain, arc=source.column == target.column))

    def _neighbours(self) -> dict[str, list[str]]:
        near: dict[str, list[str]] = defaultdict(list)
        for route in self.routes:
            if not route.arc:
                for a, b in zip(route.points, route.points[1:], strict=False):
                    near[a].append(b)
                    near[b].append(a)
        return near

    def _order(self) -> None:
        """Order each column by the mean position of its neighbours, sweeping right then left."""
        near = self._neighbours()
        kind_rank = {k: i for i, k in enumerate(KINDS)}

        def initial(box_id: str) -> tuple[int, str]:
            node = self.boxes[box_id].node
            return (kind_rank[node.kind], node.label) if node else (len(kind_rank), box_id)

        for column in self.columns:
            column.sort(key=initial)
        for sweep in range(8):
            side = -1 if sweep % 2 == 0 else 1
            indices = range(1, len(self.columns)) if side == -1 else range(len(self.columns) - 2, -1, -1)
            for i in indices:
                neighbour = {b: p for p, b in enumerate(self.columns[i + side])}
                current = {b: p for p, b in enumerate(self.columns[i])}
                self.columns[i].sort(
                    key=lambda b, pos=neighbour, cur=current: _barycentre(b, near, pos, cur[b])
                )
        for route in self.routes:
            # What hangs only off a neighbour in its column (a dead-letter queue) goes right below it.
            source, target = route.edge.source, route.edge.target
            if route.arc and source != target and not near[target]:
                column = self.columns[self.boxes[source].column]
                column.remove(target)
                column.insert(column.index(source) + 1, target)

    def _place(self) -> None:
        x = float(_MARGIN)
        for column in self.columns:
            width = max((self.boxes[b].width for b in column), default=0.0)
            for box_id in column:
                box = self.boxes[box_id]
                if box.node is None:  # an edge runs straight across the whole column, never into a box
                    box.x, box.width = x, width
                else:
                    box.x = x + (width - box.width) / 2
            x += width + _COLUMN_GAP
        self._stack_rows()
        near = self._neighbours()
        for _ in range(16):
            for column in self.columns:
                wanted = {}
                for box_id in column:
                    box, mids = self.boxes[box_id], [self.boxes[n].mid for n in near[box_id]]
                    wanted[box_id] = sum(mids) / len(mids) - box.height / 2 if mids else box.y
                _separate(column, self.boxes, wanted)
        top = min((b.y for b in self.boxes.values()), default=0.0)
        loops = 40 if any(r.edge.source == r.edge.target for r in self.routes) else 0  # room above a loop
        for box in self.boxes.values():
            box.y += _MARGIN + _TITLE_H + loops - top
        arc_labels = [r.edge.label for r in self.routes if r.arc and r.edge.label]
        right = max(
            [40.0, *(_text_width(t, _EDGE_PX) + 80 for t in arc_labels)]
        )  # arcs beside the last column
        self.width = max(x - _COLUMN_GAP + right + _MARGIN, 640.0)  # the legend needs 640
        self.height = max((b.y + b.height for b in self.boxes.values()), default=0.0) + _MARGIN + _LEGEND_H

    def _ports(self) -> dict[tuple[int, str], float]:
        """Where each edge leaves its source and enters its target: spread down the box's side in the
        order of the points they come from or go to, so fans do not cross at the box."""
        attached: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
        for index, route in enumerate(self.routes):
            if not route.arc:
                attached[(route.points[0], "out")].append((self.boxes[route.points[1]].mid, index))
                attached[(route.points[-1], "in")].append((self.boxes[route.points[-2]].mid, index))
        ports = {}
        for (box_id, side), items in attached.items():
            box, span = self.boxes[box_id], self.boxes[box_id].height * 0.6
            items.sort()
            for k, (_, index) in enumerate(items):
                ports[(index, side)] = (
                    box.mid if len(items) == 1 else box.mid - span / 2 + span * k / (len(items) - 1)
                )
        return ports

    def _stack_rows(self) -> None:
        heights = [sum(self.boxes[b].height + _ROW_GAP for b in column) for column in self.columns]
        tallest = max(heights, default=0.0)
        for column, height in zip(self.columns, heights, strict=True):
            y = (tallest - height) / 2
            for box_id in column:
                self.boxes[box_id].y = y
                y += self.boxes[box_id].height + _ROW_GAP


def _barycentre(box_id: str, near: dict[str, list[str]], position: dict[str, int], current: int) -> float:
    places = [position[n] for n in near[box_id] if n in position]
    return sum(places) / len(places) if places else float(current)


def _separate(column: list[str], boxes: dict[str, _Box], wanted: dict[str, float]) -> None:
    """Put boxes as near their wanted y as can be (least squares), keeping their order and gaps.

    Less the room the boxes above need, the tops must not decrease down the column: isotonic
    regression, solved by pooling adjacent violators.
    """
    offsets, room = [], 0.0
    for i in range(len(column)):
        if i:
            above, here = boxes[column[i - 1]], boxes[column[i]]
            room += above.height + (_ROW_GAP if above.node and here.node else _ROW_GAP / 2)
        offsets.append(room)
    blocks: list[list[float]] = []  # [sum, count] of pooled targets
    for box_id, offset in zip(column, offsets, strict=True):
        blocks.append([wanted[box_id] - offset, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    pooled = [total / count for total, count in blocks for _ in range(int(count))]
    for box_id, offset, top in zip(column, offsets, pooled, strict=True):
        boxes[box_id].y = top + offset


def _back_edges(graph: Graph, sinks: set[str]) -> set[tuple[str, str]]:
    """Edges that close a cycle (found depth first); they are laid out against the flow."""
    out: dict[str, list[str]] = defaultdict(list)
    for e in graph.edges:
        if e.target not in sinks:
            out[e.source].append(e.target)
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    back: set[tuple[str, str]] = set()
    for root in graph.nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    return back


def _topological(graph: Graph, ignored: set[tuple[str, str]]) -> list[str]:
    edges = [(e.source, e.target) for e in graph.edges if (e.source, e.target) not in ignored]
    indegree = dict.fromkeys(graph.nodes, 0)
    for _, target in edges:
        indegree[target] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    order = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for source, target in edges:
            if source == node:
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
    return order


def to_svg(graph: Graph) -> str:
    """A standalone SVG drawing of the graph, laid out left to right; no Graphviz needed."""
    layout = _Layout(graph)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" height="{layout.height:.0f}" '
        f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" font-family="{_FONT}">',
        f"<defs>{_marker('arrow', _EDGE_COLOUR)}{_marker('arrow-failure', _FAILURE_COLOUR)}</defs>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]
    if graph.title:
        parts.append(
            f'<text x="{_MARGIN}" y="{_MARGIN + 6}" font-size="15" font-weight="bold" fill="#222">'
            f"{escape(graph.title)}</text>"
        )
    labels = []
    for index, route in enumerate(layout.routes):
        colour = _FAILURE_COLOUR if route.edge.dashed else _EDGE_COLOUR
        dash = ' stroke-dasharray="6 4"' if route.edge.dashed else ""
        marker = "arrow-failure" if route.edge.dashed else "arrow"
        path, label_at = _route_path(layout, index, route)
        parts.append(
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.3"{dash} '
            f'marker-end="url(#{marker})"><title>{escape(_edge_title(graph, route.edge))}</title></path>'
        )
        if route.edge.label:
            labels.append(_label_svg(route.edge.label, label_at, colour))
    parts.extend(_node_svg(box) for box in layout.boxes.values() if box.node is not None)
    parts.extend(labels)  # last, so they sit on top of the edges that pass under them
    parts.append(_legend(layout))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _marker(name: str, colour: str) -> str:
    return (
        f'<marker id="{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )


def _route_path(layout: _Layout, index: int, route: _Route) -> tuple[str, tuple[float, float]]:
    """The edge's SVG path, and the centre of its label."""
    boxes = [layout.boxes[b] for b in route.points]
    source, target = boxes[0], boxes[-1]
    if source is target:  # a loop over the top of the box
        left, right, top = source.x + source.width * 0.35, source.x + source.width * 0.65, source.y
        path = f"M{right:.1f},{top:.1f} C{right:.1f},{top - 34:.1f} {left:.1f},{top - 34:.1f} {left:.1f},{top:.1f}"
        return path, (source.x + source.width / 2, top - 26 - _label_size(route.edge.label)[1] / 2)
    if route.arc:  # out to the right of the column and back
        x0, y0, x1, y1 = source.x + source.width, source.mid, target.x + target.width, target.mid
        reach = max(x0, x1) + 30 + abs(y1 - y0) * 0.12
        label_x = 0.75 * reach + 0.25 * max(x0, x1) + _label_size(route.edge.label)[0] / 2 + 4
        path = f"M{x0:.1f},{y0:.1f} C{reach:.1f},{y0:.1f} {reach:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        return path, (label_x, (y0 + y1) / 2)
    forward = target.column > source.column
    # Each box is entered on the side facing the source and left on the other (dummies have no width).
    ends = [
        ((b.x, b.mid), (b.x + b.width, b.mid)) if forward else ((b.x + b.width, b.mid), (b.x, b.mid))
        for b in boxes
    ]
    ends[0] = (ends[0][0], (ends[0][1][0], layout.ports[(index, "out")]))
    ends[-1] = ((ends[-1][0][0], layout.ports[(index, "in")]), ends[-1][1])
    x, y = ends[0][1]
    d = [f"M{x:.1f},{y:.1f}"]
    for entry, leave in ends[1:-1]:
        d.append(_curve((x, y), entry))
        if leave != entry:  # straight through a label
            d.append(f"L{leave[0]:.1f},{leave[1]:.1f}")
        x, y = leave
    d.append(_curve((x, y), ends[-1][0]))
    carrier = boxes[1] if len(boxes) > 2 else source
    return " ".join(d), (carrier.x + carrier.width / 2, carrier.mid)


def _curve(start: tuple[float, float], end: tuple[float, float]) -> str:
    # Horizontal at both ends, so edges leave and enter boxes square and chains join smoothly.
    half = (end[0] - start[0]) / 2
    return f"C{start[0] + half:.1f},{start[1]:.1f} {end[0] - half:.1f},{end[1]:.1f} {end[0]:.1f},{end[1]:.1f}"


def _label_svg(text: str, centre: tuple[float, float], colour: str) -> str:
    width, height = _label_size(text)
    x, y = centre
    left, top = x - width / 2, y - height / 2
    tspans = "".join(
        f'<tspan x="{x:.1f}" dy="{_EDGE_PX + 2 if i else _EDGE_PX}">{escape(line)}</tspan>'
        for i, line in enumerate(text.split("\n"))
    )
    return (
        f'<g class="edge-label"><rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'rx="3" fill="#ffffff" fill-opacity="0.9"/>'
        f'<text y="{top + 1:.1f}" font-size="{_EDGE_PX}" fill="{colour}" text-anchor="middle">{tspans}</text></g>'
    )


def _node_svg(box: _Box) -> str:
    node = box.node
    assert node is not None
    kind = KINDS[node.kind]
    cx = box.x + box.width / 2
    radius = 14 if node.kind in ("function", "topic") else 5
    dash = ' stroke-dasharray="4 3"' if node.kind == "external" else ""
    y = box.y + _NODE_PAD_Y
    texts = []
    for line in node.label.split("\n"):
        y += _LABEL_PX
        texts.append(
            f'<text x="{cx:.1f}" y="{y:.1f}" font-size="{_LABEL_PX}" font-weight="bold" fill="#222" '
            f'text-anchor="middle">{escape(line)}</text>'
        )
        y += _LINE_GAP
    texts.append(
        f'<text x="{cx:.1f}" y="{y + _CAPTION_PX:.1f}" font-size="{_CAPTION_PX}" fill="#666" '
        f'text-anchor="middle">{escape(kind.caption)}</text>'
    )
    return (
        f'<g class="node {node.kind}" id="{escape(node.id)}"><title>{escape(node.id)}</title>'
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="{radius}" '
        f'fill="{kind.fill}" stroke="{kind.stroke}" stroke-width="1.4"{dash}/>' + "".join(texts) + "</g>"
    )


def _edge_title(graph: Graph, edge: Edge) -> str:
    label = f" ({edge.label.replace(chr(10), '; ')})" if edge.label else ""
    return f"{graph.nodes[edge.source].label} -> {graph.nodes[edge.target].label}{label}"


def _legend(layout: _Layout) -> str:
    x, y = float(_MARGIN), layout.height - _MARGIN
    return (
        f'<g class="legend" font-size="{_EDGE_PX}" fill="#444">'
        f'<path d="M{x},{y} h34" stroke="{_EDGE_COLOUR}" stroke-width="1.3" marker-end="url(#arrow)"/>'
        f'<text x="{x + 42}" y="{y + 3.5}">events flow, or a function uses a resource</text>'
        f'<path d="M{x + 290},{y} h34" stroke="{_FAILURE_COLOUR}" stroke-width="1.3" stroke-dasharray="6 4" '
        f'marker-end="url(#arrow-failure)"/>'
        f'<text x="{x + 332}" y="{y + 3.5}">where failures go</text>'
        "</g>"
    )
