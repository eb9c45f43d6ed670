"""The topology of a stack, read from its resolved resources (see the package docstring for what is
drawn and what is not)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from localfaas.graph.labels import access_label, mapping_label, summarise_pattern
from localfaas.graph.model import KINDS, Edge, Graph, Node, as_list, safe_id

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


def build_graph(stack: Any, *, title: str | None = None) -> Graph:
    """The topology of `stack` (anything with `.resources` and `.physical_names`, as load_stack returns)."""
    title = getattr(stack, "stack_name", "") if title is None else title
    return _Builder(stack.resources, stack.physical_names, title).graph


class _Builder:
    """Reads the resources into a Graph: a node per resource of a known kind, then each resource's
    wiring (mappings, rules, destinations, subscriptions...), then what each function uses."""

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
        return self._node("ext_" + safe_id(text), short, "external")

    def _edge(self, source: str, target: str, label: str = "", *, dashed: bool = False) -> None:
        labels = self._edges.setdefault((source, target, dashed), [])
        if label:
            labels.append(label)

    # ---- wiring each resource type --------------------------------------------------------------------

    def _wire(self, logical_id: str, kind: str, props: dict[str, Any]) -> None:
        wire = {
            "AWS::Lambda::EventSourceMapping": self._mapping,
            "AWS::Events::Rule": self._rule,
            "AWS::Scheduler::Schedule": self._schedule,
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
        label = mapping_label(props)
        if props.get("Topics"):
            for topic in props["Topics"]:
                source = self._node("kafka_" + safe_id(topic), topic, "kafka-topic")
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
                found[0] if found else self._node("bus_" + safe_id(bus), str(bus).rsplit("/", 1)[-1], "bus")
            )
            self._edge(source, rule)
        for target in props.get("Targets") or []:
            node = self._target(target["Arn"])
            self._edge(rule, node)
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dlq:
                self._edge(rule, self._target(dlq), "dead letters", dashed=True)

    def _schedule(self, logical_id: str, props: dict[str, Any]) -> None:
        """EventBridge Scheduler schedule: schedule -> its target; its dead-letter queue, dashed."""
        label = f"schedule {props.get('ScheduleExpression', '')}".strip()
        if props.get("ScheduleExpressionTimezone"):
            label += f" {props['ScheduleExpressionTimezone']}"
        schedule = self._node(logical_id, label, "rule")
        target = props.get("Target") or {}
        if target.get("Arn"):
            self._edge(schedule, self._target(target["Arn"]))
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        if dlq:
            self._edge(schedule, self._target(dlq), "dead letters", dashed=True)

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
            target = self._node("ext_" + safe_id(endpoint), f"{props['Protocol']}: {endpoint}", "external")
        else:
            target = self._target(endpoint)
        label = "subscription"
        if props.get("FilterPolicy"):
            label += "\n" + summarise_pattern(props["FilterPolicy"], lines=1)
        self._edge(topic, target, label)
        redrive = props.get("RedrivePolicy") or {}
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        if redrive.get("deadLetterTargetArn"):  # what SNS could not deliver ("Amazon SNS dead-letter queues")
            self._edge(topic, self._target(redrive["deadLetterTargetArn"]), "undeliverable", dashed=True)

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
                    self._edge(logical_id, node, access_label(granted) or ("connects" if network else ""))

    def _granted(self, statements: list[dict[str, Any]]) -> dict[str, set[str]]:
        """node -> actions allowed on it by name (or ARN) in these statements."""
        actions: dict[str, set[str]] = defaultdict(set)
        for statement in statements:
            for resource_arn in as_list(statement.get("Resource")):
                for node in self.lookup(resource_arn):
                    actions[node].update(as_list(statement.get("Action")))
        return actions

    def _wildcard_actions(self, statements: list[dict[str, Any]], node: str) -> set[str]:
        """Actions on `node`'s service that the statements allow on every resource (`*`)."""
        service = KINDS[self.graph.nodes[node].kind].service
        found = set()
        for statement in statements:
            if "*" in as_list(statement.get("Resource")):
                found.update(
                    a
                    for a in as_list(statement.get("Action"))
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
                for s in as_list((d or {}).get("Statement"))
                if s.get("Effect") == "Allow"
            ]
            for role in roles:
                by_role[role].extend(allowed)
        return by_role
