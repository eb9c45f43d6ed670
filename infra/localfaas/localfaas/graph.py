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
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

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


@dataclass(frozen=True)
class Node:
    id: str
    label: str  # may hold "\n" for a second line
    kind: str  # a key of KINDS

    @property
    def caption(self) -> str:
        return KINDS[self.kind].caption


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False  # failure paths: on-failure destinations, dead-letter queues, redrive


@dataclass
class Graph:
    title: str = ""
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def edge(self, source: str, target: str) -> Edge | None:
        """The edge between two nodes (by id), if there is one; for tests and callers."""
        return next((e for e in self.edges if (e.source, e.target) == (source, target)), None)


@dataclass(frozen=True)
class Kind:
    caption: str
    fill: str
    stroke: str
    mermaid: tuple[str, str]  # opening and closing bracket of the Mermaid shape
    service: str = ""  # the ARN service of resources of this kind


KINDS: dict[str, Kind] = {
    "kafka-topic": Kind("Kafka topic", "#fff4e0", "#d98c00", ("[/", "/]")),
    "source": Kind("event source", "#fff4e0", "#d98c00", ("[/", "/]")),
    "function": Kind("Lambda function", "#fde8d7", "#e0691a", ("(", ")"), "lambda"),
    "bus": Kind("EventBridge bus", "#f3e5f5", "#8e44ad", ("{{", "}}"), "events"),
    "rule": Kind("EventBridge rule", "#f7eefa", "#8e44ad", (">", "]")),
    "archive": Kind("event archive", "#f7eefa", "#8e44ad", ("[(", ")]")),
    "table": Kind("DynamoDB table", "#e3f0fb", "#2e73b8", ("[(", ")]"), "dynamodb"),
    "queue": Kind("SQS queue", "#fbe9ec", "#c0392b", ("[[", "]]"), "sqs"),
    "topic": Kind("SNS topic", "#fbe9ec", "#c0392b", ("([", "])"), "sns"),
    "bucket": Kind("S3 bucket", "#e8f6e9", "#3c8d40", ("[(", ")]"), "s3"),
    "stream": Kind("Kinesis stream", "#e8f6e9", "#3c8d40", ("[/", "/]"), "kinesis"),
    "secret": Kind("secret", "#eeeeee", "#666666", ("[", "]"), "secretsmanager"),
    "parameter": Kind("SSM parameter", "#eeeeee", "#666666", ("[", "]"), "ssm"),
    "email": Kind("SES identity", "#eeeeee", "#666666", ("[", "]"), "ses"),
    "database": Kind("RDS database", "#e3f0fb", "#2e73b8", ("[(", ")]"), "rds"),
    "external": Kind("outside the stack", "#ffffff", "#999999", ("[", "]")),
}

_KIND_OF_TYPE = {
    "AWS::Lambda::Function": "function",
    "AWS::Events::EventBus": "bus",
    "AWS::Events::Archive": "archive",
    "AWS::DynamoDB::Table": "table",
    "AWS::DynamoDB::GlobalTable": "table",
    "AWS::SQS::Queue": "queue",
    "AWS::SNS::Topic": "topic",
    "AWS::S3::Bucket": "bucket",
    "AWS::Kinesis::Stream": "stream",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::SSM::Parameter": "parameter",
    "AWS::SES::EmailIdentity": "email",
    "AWS::RDS::DBCluster": "database",
}
# Reached over the network, not through IAM: an environment variable naming one is enough.
_NETWORK_KINDS = {"database"}


# ==== building the graph from a resolved stack =========================================================


def build_graph(stack: Any, *, title: str | None = None) -> Graph:
    """The topology of `stack` (anything with `.resources` and `.physical_names`, as load_stack returns)."""
    title = getattr(stack, "stack_name", "") if title is None else title
    return _Builder(stack.resources, stack.physical_names, title).graph


class _Builder:
    def __init__(
        self, resources: dict[str, dict[str, Any]], physical_names: dict[str, str], title: str
    ) -> None:
        self.resources = resources
        self.names = physical_names
        self.graph = Graph(title=title)
        self._edges: dict[tuple[str, str, bool], list[str]] = {}
        self._index: dict[str, list[str]] = defaultdict(list)  # identifier -> node ids
        self._failure_targets: dict[str, set[str]] = defaultdict(set)  # function -> its failure destinations
        for logical_id, resource in resources.items():
            kind = _KIND_OF_TYPE.get(resource["Type"])
            if kind is not None:
                self._add_resource_node(logical_id, kind, resource.get("Properties") or {})
        for logical_id, resource in resources.items():
            self._wire(logical_id, resource["Type"], resource.get("Properties") or {})
        self._add_function_access()
        self.graph.edges = [
            Edge(s, t, "\n".join(dict.fromkeys(ls)), d) for (s, t, d), ls in self._edges.items()
        ]

    # ---- nodes and lookups ---------------------------------------------------------------------------

    def _add_resource_node(self, logical_id: str, kind: str, props: dict[str, Any]) -> None:
        self.graph.nodes[logical_id] = Node(logical_id, logical_id, kind)
        name = self.names.get(logical_id, logical_id)
        for identifier in {name, str(props.get("EmailIdentity") or name)}:
            self._index[identifier].append(logical_id)

    def _node(self, node_id: str, label: str, kind: str) -> str:
        if node_id not in self.graph.nodes:
            self.graph.nodes[node_id] = Node(node_id, label, kind)
        return node_id

    def lookup(self, value: Any) -> list[str]:
        """Nodes of the template that a name, ARN or URL refers to (an ARN only to its own service)."""
        text = str(value)
        service = text.split(":")[2] if text.startswith("arn:") and text.count(":") >= 5 else None
        found: list[str] = []
        tokens = re.split(r"[:/|,\s]+", text)
        # A host name's first label is the resource's name (RDS endpoints: name.cluster-id.region...).
        tokens += [t.split(".", 1)[0] for t in tokens if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", t)]
        for token in tokens:
            candidates = self._index.get(token, [])
            if not candidates and service == "secretsmanager" and re.fullmatch(r".+-[A-Za-z0-9]{6}", token):
                candidates = self._index.get(token[:-7], [])  # a secret's ARN ends in "-" and 6 characters
            for node_id in candidates:
                kind = KINDS[self.graph.nodes[node_id].kind]
                if (service is None or kind.service == service) and node_id not in found:
                    found.append(node_id)
        return found

    def _target(self, value: Any) -> str:
        """The node an ARN or URL points to, made as an outside node when it is not in the template."""
        found = self.lookup(value)
        if found:
            return found[0]
        text = str(value)
        short = text.rstrip("/").rsplit(":", 1)[-1].rsplit("/", 1)[-1] if "://" not in text else text
        return self._node("ext_" + _safe_id(text), short, "external")

    def _edge(self, source: str, target: str, label: str = "", *, dashed: bool = False) -> None:
        labels = self._edges.setdefault((source, target, dashed), [])
        if label:
            labels.append(label)

    # ---- wiring each resource type --------------------------------------------------------------------

    def _wire(self, logical_id: str, kind: str, props: dict[str, Any]) -> None:
        wire = {
            "AWS::Lambda::EventSourceMapping": self._mapping,
            "AWS::Events::Rule": self._rule,
            "AWS::Events::Archive": self._archive,
            "AWS::Lambda::EventInvokeConfig": self._invoke_config,
            "AWS::Lambda::Function": self._function_dlq,
            "AWS::SQS::Queue": self._redrive,
            "AWS::SNS::Topic": self._inline_subscriptions,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::S3::Bucket": self._notifications,
        }.get(kind)
        if wire is not None:
            wire(logical_id, props)

    def _mapping(self, logical_id: str, props: dict[str, Any]) -> None:
        """Event source mapping: topic (or queue, stream) -> function; on-failure destination, dashed."""
        function = self._target(props.get("FunctionName", ""))
        label = _mapping_label(props)
        if props.get("Topics"):
            for topic in props["Topics"]:
                source = self._node("kafka_" + _safe_id(topic), topic, "kafka-topic")
                self._edge(source, function, label)
        elif props.get("EventSourceArn"):
            self._edge(self._target(props["EventSourceArn"]), function, label)
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if destination:
            self._failure_edge(function, destination, "on failure")

    def _failure_edge(self, source: str, destination: str, label: str) -> None:
        target = self._target(destination)
        self._failure_targets[source].add(target)
        self._edge(source, target, label, dashed=True)

    def _rule(self, logical_id: str, props: dict[str, Any]) -> None:
        """Rule: bus -> rule -> each target; a target's dead-letter queue, dashed."""
        pattern = props.get("EventPattern")
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        if pattern:
            label = summarise_pattern(pattern, prefer=("detail-type", "source"), lines=2)
        else:
            label = f"schedule {props.get('ScheduleExpression', '')}".strip()
        rule = self._node(logical_id, label or logical_id, "rule")
        if pattern:
            bus = props.get("EventBusName") or "default"
            found = self.lookup(bus)
            source = (
                found[0] if found else self._node("bus_" + _safe_id(bus), str(bus).rsplit("/", 1)[-1], "bus")
            )
            self._edge(source, rule)
        for target in props.get("Targets") or []:
            node = self._target(target["Arn"])
            self._edge(rule, node)
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dlq:
                self._edge(rule, self._target(dlq), "dead letters", dashed=True)

    def _archive(self, logical_id: str, props: dict[str, Any]) -> None:
        pattern = props.get("EventPattern")
        label = summarise_pattern(pattern, lines=1) if pattern else "every event"
        self._edge(self._target(props.get("SourceArn", "")), logical_id, label)

    def _invoke_config(self, logical_id: str, props: dict[str, Any]) -> None:
        """Asynchronous invocation: on-failure destination dashed, on-success solid."""
        function = self._target(props.get("FunctionName", ""))
        destinations = props.get("DestinationConfig") or {}
        failure = (destinations.get("OnFailure") or {}).get("Destination")
        if failure:
            self._failure_edge(function, failure, "on failure (async)")
        success = (destinations.get("OnSuccess") or {}).get("Destination")
        if success:
            self._edge(function, self._target(success), "on success")

    def _function_dlq(self, logical_id: str, props: dict[str, Any]) -> None:
        dlq = (props.get("DeadLetterConfig") or {}).get("TargetArn")
        if dlq:
            self._failure_edge(logical_id, dlq, "dead letters (async)")

    def _redrive(self, logical_id: str, props: dict[str, Any]) -> None:
        redrive = props.get("RedrivePolicy")
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        if redrive and redrive.get("deadLetterTargetArn"):
            label = (
                f"redrive after {redrive['maxReceiveCount']}" if "maxReceiveCount" in redrive else "redrive"
            )
            self._edge(logical_id, self._target(redrive["deadLetterTargetArn"]), label, dashed=True)

    def _inline_subscriptions(self, logical_id: str, props: dict[str, Any]) -> None:
        for subscription in props.get("Subscription") or []:
            self._subscribe(logical_id, subscription)

    def _subscription(self, logical_id: str, props: dict[str, Any]) -> None:
        topic = self.lookup(props.get("TopicArn", ""))
        if topic:
            self._subscribe(topic[0], props)

    def _subscribe(self, topic: str, props: dict[str, Any]) -> None:
        endpoint = str(props.get("Endpoint", ""))
        if props.get("Protocol") in ("email", "email-json", "sms", "http", "https"):
            target = self._node("ext_" + _safe_id(endpoint), f"{props['Protocol']}: {endpoint}", "external")
        else:
            target = self._target(endpoint)
        label = "subscription"
        if props.get("FilterPolicy"):
            label += "\n" + summarise_pattern(props["FilterPolicy"], lines=1)
        self._edge(topic, target, label)

    def _notifications(self, logical_id: str, props: dict[str, Any]) -> None:
        notifications = props.get("NotificationConfiguration") or {}
        for key, arn_key in (
            ("LambdaConfigurations", "Function"),
            ("QueueConfigurations", "Queue"),
            ("TopicConfigurations", "Topic"),
        ):
            for config in notifications.get(key) or []:
                self._edge(logical_id, self._target(config[arn_key]), str(config.get("Event", "")))

    # ---- what functions use ---------------------------------------------------------------------------

    def _add_function_access(self) -> None:
        """function -> resource edges, from what the function's role allows on the template's resources.

        An environment variable naming a resource adds an edge only where IAM would let the call
        through: the role allows that service on `*`, or the role is not in the template (nothing is
        known about it). A name the role does not cover (say a table name set in Globals for every
        function) draws nothing: on AWS the call would be denied.
        """
        statements = self._statements_by_role()
        roles_in_template = {
            self.names.get(lid, lid) for lid, r in self.resources.items() if r["Type"] == "AWS::IAM::Role"
        }
        for logical_id, resource in self.resources.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            props = resource.get("Properties") or {}
            role = str(props.get("Role", "")).rsplit("/", 1)[-1]
            actions = self._granted(statements.get(role, []))
            in_env = set()
            for value in ((props.get("Environment") or {}).get("Variables") or {}).values():
                in_env.update(self.lookup(value))
            for node in in_env - actions.keys():
                wildcard = self._wildcard_actions(statements.get(role, []), node)
                network = self.graph.nodes[node].kind in _NETWORK_KINDS
                if wildcard or network or role not in roles_in_template:
                    actions[node] = wildcard
            for node, granted in actions.items():
                # A permission that only serves a failure destination is drawn as that dashed edge.
                only_for_failures = node in self._failure_targets[logical_id] and node not in in_env
                if node != logical_id and not only_for_failures:
                    network = self.graph.nodes[node].kind in _NETWORK_KINDS
                    self._edge(logical_id, node, _access_label(granted) or ("connects" if network else ""))

    def _granted(self, statements: list[dict[str, Any]]) -> dict[str, set[str]]:
        """node -> actions allowed on it by name (or ARN) in these statements."""
        actions: dict[str, set[str]] = defaultdict(set)
        for statement in statements:
            for resource_arn in _as_list(statement.get("Resource")):
                for node in self.lookup(resource_arn):
                    actions[node].update(_as_list(statement.get("Action")))
        return actions

    def _wildcard_actions(self, statements: list[dict[str, Any]], node: str) -> set[str]:
        """Actions on `node`'s service that the statements allow on every resource (`*`)."""
        service = KINDS[self.graph.nodes[node].kind].service
        found = set()
        for statement in statements:
            if "*" in _as_list(statement.get("Resource")):
                found.update(
                    a
                    for a in _as_list(statement.get("Action"))
                    if a == "*" or str(a).startswith(f"{service}:")
                )
        return found

    def _statements_by_role(self) -> dict[str, list[dict[str, Any]]]:
        """Allow statements of each role (by role name), inline and from policies attached to it."""
        by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for logical_id, resource in self.resources.items():
            props = resource.get("Properties") or {}
            if resource["Type"] == "AWS::IAM::Role":
                documents = [p.get("PolicyDocument") for p in props.get("Policies") or []]
                roles = [self.names.get(logical_id, logical_id)]
            elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents = [props.get("PolicyDocument")]
                roles = [str(r).rsplit("/", 1)[-1] for r in props.get("Roles") or []]
            else:
                continue
            allowed = [
                s
                for d in documents
                for s in _as_list((d or {}).get("Statement"))
                if s.get("Effect") == "Allow"
            ]
            for role in roles:
                by_role[role].extend(allowed)
        return by_role


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _safe_id(text: str) -> str:
    return re.sub(r"\W+", "_", str(text)).strip("_") or "x"


def _mapping_label(props: dict[str, Any]) -> str:
    lines = []
    for config in ("AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig"):
        group = (props.get(config) or {}).get("ConsumerGroupId")
        if group:
            lines.append(f"group {group}")
    for flt in (props.get("FilterCriteria") or {}).get("Filters") or []:
        pattern = flt.get("Pattern")
        pattern = json.loads(pattern) if isinstance(pattern, str) else pattern
        if pattern:
            lines.append("filter " + summarise_pattern(pattern, lines=1))
    return "\n".join(lines)


# What an IAM action does, coarsely: the verb an edge is labelled with.
_SPECIAL_VERBS = {
    "events:putevents": "PutEvents",
    "sns:publish": "publish",
    "ses:sendemail": "send email",
    "ses:sendrawemail": "send email",
    "lambda:invokefunction": "invoke",
    "sqs:receivemessage": "receive",
    "sqs:deletemessage": "receive",
}
_READ_PREFIXES = ("get", "query", "scan", "batchget", "describe", "list", "head", "conditioncheck", "receive")


def _access_label(actions: set[str]) -> str:
    verbs: set[str] = set()
    for action in actions:
        action = str(action).lower()
        service, _, operation = action.partition(":")
        if action == "*" or operation == "*":
            verbs.update(("read", "write"))
        elif action in _SPECIAL_VERBS:
            verbs.add(_SPECIAL_VERBS[action])
        elif service == "sqs" and operation.startswith("sendmessage"):
            verbs.add("send")
        elif operation.startswith(_READ_PREFIXES):
            verbs.add("read")
        else:
            verbs.add("write")
    if not actions:
        return ""
    if {"read", "write"} <= verbs:
        verbs -= {"read", "write"}
        verbs.add("read/write")
    return ", ".join(sorted(verbs))


def summarise_pattern(pattern: Any, *, prefer: Iterable[str] = (), lines: int = 2, width: int = 44) -> str:
    """A short reading of an EventBridge/filter pattern: `detail-type: AccountCreated`, one line a field.

    Fields named in `prefer` come first; nested fields are joined with dots; operators are spelt out.
    """
    fields = list(_pattern_fields(pattern, ""))
    order = {name: i for i, name in enumerate(prefer)}
    fields.sort(key=lambda item: order.get(item[0], len(order)))
    text = [_clip(f"{name}: {value}", width) for name, value in fields]
    if len(text) > lines:
        text = [*text[: lines - 1], _clip(f"{text[lines - 1]} (+{len(text) - lines} more)", width)]
    return "\n".join(text)


def _pattern_fields(pattern: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(pattern, dict):
        for key, value in pattern.items():
            if key == "$or":
                yield (path or "$or", f"any of {len(value)} patterns")
            elif isinstance(value, dict):
                yield from _pattern_fields(value, f"{path}.{key}" if path else key)
            else:
                yield (f"{path}.{key}" if path else key, " | ".join(_matcher(m) for m in _as_list(value)))


def _matcher(matcher: Any) -> str:
    if not isinstance(matcher, dict):
        return json.dumps(matcher) if matcher is None or isinstance(matcher, bool) else str(matcher)
    (operator, argument), *_ = matcher.items()
    if operator == "anything-but":
        inner = argument if not isinstance(argument, dict) else _matcher(argument)
        return f"not {' | '.join(map(str, _as_list(inner)))}"
    if operator == "numeric":
        return " ".join(map(str, argument))
    if operator == "exists":
        return "exists" if argument else "absent"
    return f"{operator} {argument}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ==== Mermaid and DOT ==================================================================================


def render(graph: Graph, fmt: str) -> str:
    renderers = {"mermaid": to_mermaid, "svg": to_svg, "dot": to_dot}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](graph)


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
            css = _safe_id(name)
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


# ==== SVG: a layered layout of our own ==================================================================
#
# Sugiyama-style, as Graphviz's dot does it: nodes get columns by longest path (resources that feed
# nothing share the last column), every other column is kept for edge labels, long edges pass through
# one dummy point per column (the first one carries the edge's label, so labels take room like nodes
# and never pile up), columns are ordered by barycentre sweeps, and y is least-squares near neighbours.

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
