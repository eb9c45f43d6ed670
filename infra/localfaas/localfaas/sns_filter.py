"""Amazon SNS subscription filter policies: validate a policy and decide whether a subscription takes a message.

Emulates "Amazon SNS message filtering" (https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering.html),
"Amazon SNS subscription filter policies" (sns-subscription-filter-policies.html), "Filter policy
constraints in Amazon SNS" (subscription-filter-policy-constraints.html), "String value matching"
(string-value-matching.html), "Numeric value matching" (numeric-value-matching.html) and "Key matching"
(attribute-key-matching.html), all under https://docs.aws.amazon.com/sns/latest/dg/.

The operators mean what they mean in EventBridge patterns, so each property is matched by
localfaas.pattern. What SNS does differently is here, and only here:
- MessageAttributes scope (the default): the policy is flat (no nesting), and is matched against the
  message attributes as values: a String is its text, a Number its number, each element of a
  String.Array a value of its own; Binary attributes are never compared ("SNS compares policy
  properties only to message attributes of String, String.Array and Number");
- `anything-but` on a String.Array attribute matches only when none of its elements is listed
  (EventBridge matches when any element is not). The current String value matching page says so; an
  older version of its example said otherwise, and the current text is followed;
- a message with no attributes matches no policy in that scope, `"exists": false` included ("exists:
  false only matches if at least one attribute is present");
- MessageBody scope: the message must be a JSON object, else the subscription does not take it;
- constraints checked when the subscription is made: at most five keys, at most 150 combinations
  (the product of each property's number of values; the sum over `$or` branches), numbers between
  -1e9 and 1e9, and only SNS's operators (no `wildcard`).
Not emulated: SNS's five-digit decimal accuracy (numbers compare as localfaas.pattern compares them),
`exists: true` refusing a null or empty body property, and the double escaping of quotes in attributes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from localfaas.pattern import InvalidEventPatternException, compile_pattern, loads_bounded

__all__ = ["MESSAGE_ATTRIBUTES", "MESSAGE_BODY", "FilterPolicy", "InvalidFilterPolicy"]

MESSAGE_ATTRIBUTES, MESSAGE_BODY = "MessageAttributes", "MessageBody"
_MAX_KEYS, _MAX_COMBINATIONS, _NUMERIC_BOUND = 5, 150, Decimal(10) ** 9
_OPERATORS = {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "cidr"}


class InvalidFilterPolicy(ValueError):
    """What Subscribe answers with InvalidParameter: the policy is not one SNS accepts."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid parameter: FilterPolicy: {reason}")


class _StringArray(tuple):
    """The elements of a String.Array attribute: each a value, and `anything-but` asks all of them."""


@dataclass(frozen=True)
class FilterPolicy:
    policy: dict[str, Any]
    scope: str = MESSAGE_ATTRIBUTES

    @classmethod
    def parse(cls, policy: Any, scope: Any = None) -> FilterPolicy:
        """A policy as a subscription's FilterPolicy holds it (a JSON object or its text), validated."""
        scope = scope or MESSAGE_ATTRIBUTES
        if scope not in (MESSAGE_ATTRIBUTES, MESSAGE_BODY):
            raise ValueError(
                f"Invalid parameter: FilterPolicyScope: {scope} is not one of MessageAttributes, MessageBody"
            )
        if isinstance(policy, str):
            try:
                policy = json.loads(policy)
            except ValueError as e:
                raise InvalidFilterPolicy(f"failed to parse JSON: {e}") from None
        if not isinstance(policy, dict) or not policy:
            raise InvalidFilterPolicy("a filter policy is a non-empty JSON object")
        _check(policy, nested_allowed=scope == MESSAGE_BODY)
        keys = _leaf_keys(policy)
        if len(keys) > _MAX_KEYS:
            raise InvalidFilterPolicy(f"Filter policy can not have more than {_MAX_KEYS} keys")
        if _combinations(policy) > _MAX_COMBINATIONS:
            raise InvalidFilterPolicy(f"Filter policy is too complex (over {_MAX_COMBINATIONS} combinations)")
        try:
            compile_pattern(policy)
        except InvalidEventPatternException as e:
            raise InvalidFilterPolicy(str(e)) from None
        return cls(policy, scope)

    def accepts(self, message: str, attributes: Mapping[str, Mapping[str, Any]] | None) -> bool:
        """Whether the subscription takes a message with this body and these MessageAttributes
        ({name: {"Type": "String" | "Number" | "String.Array" | "Binary", "Value": text}})."""
        if self.scope == MESSAGE_BODY:
            try:
                body = loads_bounded(message)
            except ValueError:
                return False
            return isinstance(body, dict) and compile_pattern(self.policy).matches(body)
        view = _attribute_values(attributes or {})
        return bool(view) and _accepts(self.policy, view)


def _accepts(policy: Mapping[str, Any], view: dict[str, Any]) -> bool:
    for key, values in policy.items():
        if key == "$or":
            if not any(_accepts(branch, view) for branch in values):
                return False
        elif not _property_matches(key, values, view):
            return False
    return True


def _property_matches(key: str, values: list, view: dict[str, Any]) -> bool:
    value = view.get(key)
    if not isinstance(value, _StringArray):
        return _pattern(key, values).matches(view)
    excluding = [v for v in values if isinstance(v, dict) and "anything-but" in v]
    others = [v for v in values if v not in excluding]
    if others and _pattern(key, others).matches({key: list(value)}):
        return True
    return bool(value) and any(all(_pattern(key, [v]).matches({key: e}) for e in value) for v in excluding)


def _pattern(key: str, values: list) -> Any:
    # compile_pattern caches by text, so each property is compiled once however many messages come.
    return compile_pattern(json.dumps({key: values}, sort_keys=True))


def _attribute_values(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for name, attribute in attributes.items():
        kind = str(attribute.get("Type") or attribute.get("DataType") or "String")
        text = attribute.get("Value", attribute.get("StringValue"))
        if kind.startswith("Binary") or text is None:
            continue
        if kind.startswith("Number"):
            view[name] = _number(str(text))
        elif kind.startswith("String.Array"):
            try:
                elements = json.loads(str(text))
            except ValueError:
                elements = None
            view[name] = _StringArray(elements) if isinstance(elements, list) else str(text)
        else:
            view[name] = str(text)
    return view


def _number(text: str) -> Any:
    try:
        number = json.loads(text)
    except ValueError:
        return text
    return number if isinstance(number, int | float) and not isinstance(number, bool) else text


def _check(node: Mapping[str, Any], *, nested_allowed: bool) -> None:
    for key, values in node.items():
        if key == "$or":
            if (
                not isinstance(values, list)
                or len(values) < 2
                or not all(isinstance(b, dict) for b in values)
            ):
                raise InvalidFilterPolicy("$or takes a list of at least two policies")
            for branch in values:
                _check(branch, nested_allowed=nested_allowed)
        elif isinstance(values, dict):
            if not nested_allowed:
                raise InvalidFilterPolicy(
                    f"{key}: a policy with FilterPolicyScope MessageAttributes can not be nested"
                )
            _check(values, nested_allowed=True)
        elif isinstance(values, list):
            for value in values:
                if isinstance(value, dict):
                    _check_operator(key, value)
        else:
            raise InvalidFilterPolicy(f"{key}: the values of a property are a JSON array")


def _check_operator(key: str, condition: Mapping[str, Any]) -> None:
    for operator, argument in condition.items():
        if operator not in _OPERATORS:
            raise InvalidFilterPolicy(f"{key}: Unrecognized match type {operator}")
        numbers = argument[1::2] if operator == "numeric" and isinstance(argument, list) else []
        if operator == "anything-but":
            items = argument if isinstance(argument, list) else [argument]
            numbers = [item for item in items if isinstance(item, int | float) and not isinstance(item, bool)]
        for number in numbers:
            if (
                isinstance(number, int | float)
                and not -_NUMERIC_BOUND <= Decimal(str(number)) <= _NUMERIC_BOUND
            ):
                raise InvalidFilterPolicy(f"{key}: numbers must be between -1.0E9 and 1.0E9 inclusive")


def _leaf_keys(node: Mapping[str, Any], path: str = "") -> set[str]:
    keys: set[str] = set()
    for key, values in node.items():
        if key == "$or":
            for branch in values:
                keys |= _leaf_keys(branch, path)
        elif isinstance(values, dict):
            keys |= _leaf_keys(values, f"{path}{key}.")
        else:
            keys.add(path + key)
    return keys


def _combinations(node: Mapping[str, Any]) -> int:
    total = 1
    for key, values in node.items():
        if key == "$or":
            total *= sum(_combinations(branch) for branch in values)
        elif isinstance(values, dict):
            total *= _combinations(values)
        else:
            total *= max(1, len(values))
    return total
