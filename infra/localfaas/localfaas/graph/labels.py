"""How the graph labels what it draws: short readings of event patterns, of an event source
mapping's settings, and of the IAM actions a function is allowed on a resource."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from localfaas.graph.model import as_list


def mapping_label(props: dict[str, Any]) -> str:
    """An event source mapping's edge label: its consumer group and a summary of each filter."""
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


def access_label(actions: set[str]) -> str:
    """A function -> resource edge label from the IAM actions allowed: `read`, `read/write`, `publish`..."""
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
                yield (f"{path}.{key}" if path else key, " | ".join(_matcher(m) for m in as_list(value)))


def _matcher(matcher: Any) -> str:
    if not isinstance(matcher, dict):
        return json.dumps(matcher) if matcher is None or isinstance(matcher, bool) else str(matcher)
    (operator, argument), *_ = matcher.items()
    if operator == "anything-but":
        inner = argument if not isinstance(argument, dict) else _matcher(argument)
        return f"not {' | '.join(map(str, as_list(inner)))}"
    if operator == "numeric":
        return " ".join(map(str, argument))
    if operator == "exists":
        return "exists" if argument else "absent"
    return f"{operator} {argument}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
