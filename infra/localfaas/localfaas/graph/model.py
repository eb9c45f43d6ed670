"""What a topology graph is: nodes of a kind, edges between them (dashed where failures go).

Built by `topology.build_graph`, drawn by `text` (Mermaid, DOT) and `svg`. Nothing here reads a template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


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


def safe_id(text: str) -> str:
    """`text` as an identifier Mermaid and DOT take unquoted (node ids, class names)."""
    return re.sub(r"\W+", "_", str(text)).strip("_") or "x"


def as_list(value: Any) -> list[Any]:
    """A template value that may be one item or a list (IAM Action and Resource, pattern values)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
