"""CloudFormation intrinsic functions and condition functions, resolved the way a stack create would.

Emulated: Ref, Fn::GetAtt, Fn::Sub (both forms), Fn::Join, Fn::Select, Fn::Split, Fn::If, Fn::FindInMap,
Fn::Base64, Fn::GetAZs, Fn::ToJsonString, Fn::Length, and in Conditions Fn::Equals/And/Or/Not and
Condition. `AWS::NoValue` removes the property or list item it stands for.
Not emulated: Fn::ImportValue (one stack only), Fn::Cidr, Fn::Transform, Fn::ForEach; each raises a
TemplateError that names the property path.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any


class TemplateError(ValueError):
    """A template that localfaas cannot load; the message names the resource and property path."""

    def __init__(self, message: str, path: tuple[str, ...] | list[str] = ()) -> None:
        self.path = tuple(str(p) for p in path)
        self.message = message
        super().__init__(f"{'.'.join(self.path)}: {message}" if self.path else message)


class _NoValue:
    """What `Ref: AWS::NoValue` resolves to: the enclosing key or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_UNSUPPORTED = {
    "Fn::ImportValue": "Fn::ImportValue is not supported: localfaas runs a single stack, "
    "so there is no other stack's export to import; pass the value as a parameter instead",
    "Fn::Cidr": "Fn::Cidr is not supported by localfaas",
    "Fn::Transform": "Fn::Transform (macros) is not supported by localfaas",
    "Fn::ForEach": "Fn::ForEach (AWS::LanguageExtensions) is not supported by localfaas",
}


class Resolver:
    """Resolves intrinsics in template fragments.

    `ref_resource(logical_id, path)` and `get_att(logical_id, attribute, path)` answer for resources;
    parameters (pseudo parameters included) and conditions are answered here.
    """

    def __init__(
        self,
        parameters: Mapping[str, Any],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        ref_resource: Callable[[str, tuple[str, ...]], Any],
        get_att: Callable[[str, str, tuple[str, ...]], Any],
        region: str,
    ) -> None:
        self.parameters = parameters
        self._condition_defs = conditions
        self._mappings = mappings
        self._ref_resource = ref_resource
        self._get_att = get_att
        self._region = region
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # ---- values -------------------------------------------------------------------------------------

    def resolve(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self.ref(arg, path)
                if key.startswith("Fn::"):
                    return self._function(key, arg, path)
            resolved = {k: self.resolve(v, (*path, k)) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v, (*path, str(i))) for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        return value

    def ref(self, name: Any, path: tuple[str, ...]) -> Any:
        name = self.resolve(name, path)
        if not isinstance(name, str):
            raise TemplateError(f"Ref takes a name, got {name!r}", path)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            value = self.parameters[name]
            if isinstance(value, _Unresolvable):
                raise TemplateError(value.reason, path)
            return value
        if name.startswith("AWS::"):
            raise TemplateError(f"unknown pseudo parameter {name}", path)
        return self._ref_resource(name, path)

    def _function(self, key: str, arg: Any, path: tuple[str, ...]) -> Any:
        here = (*path, key)
        if key in _UNSUPPORTED:
            raise TemplateError(_UNSUPPORTED[key], here)
        handler = _FUNCTIONS.get(key)
        if handler is None:
            raise TemplateError(f"{key} is not a function localfaas knows", here)
        return handler(self, arg, here)

    def _get_att_fn(self, arg: Any, path: tuple[str, ...]) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"Fn::GetAtt takes [LogicalId, Attribute], got {arg!r}", path)
        logical_id, attribute = arg[0], self.resolve(arg[1], path)
        return self._get_att(logical_id, attribute, path)

    def _sub(self, arg: Any, path: tuple[str, ...]) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, variables = arg[0], {k: self.resolve(v, (*path, k)) for k, v in arg[1].items()}
        else:
            raise TemplateError(f"Fn::Sub takes a string or [string, {{variables}}], got {arg!r}", path)
        if not isinstance(text, str):
            raise TemplateError("Fn::Sub needs a literal string", path)

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} writes ${Literal}
            if name in variables:
                return _as_text(variables[name], path)
            if "." in name and name.split(".", 1)[0] not in self.parameters:
                logical_id, attribute = name.split(".", 1)
                return _as_text(self._get_att(logical_id, attribute, path), path)
            return _as_text(self.ref(name, path), path)

        return _SUB_VARIABLE.sub(replace, text)

    def _join(self, arg: Any, path: tuple[str, ...]) -> str:
        arg = self.resolve(arg, path)
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
            raise TemplateError(f"Fn::Join takes [delimiter, [values]], got {arg!r}", path)
        return str(arg[0]).join(_as_text(v, path) for v in arg[1])

    def _select(self, arg: Any, path: tuple[str, ...]) -> Any:
        arg = self.resolve(arg, path)
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
            raise TemplateError(f"Fn::Select takes [index, [values]], got {arg!r}", path)
        try:
            return arg[1][int(arg[0])]
        except (ValueError, IndexError):
            raise TemplateError(
                f"Fn::Select index {arg[0]!r} is outside a list of {len(arg[1])}", path
            ) from None

    def _split(self, arg: Any, path: tuple[str, ...]) -> list[str]:
        arg = self.resolve(arg, path)
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], str)):
            raise TemplateError(f"Fn::Split takes [delimiter, string], got {arg!r}", path)
        return arg[1].split(arg[0])

    def _if(self, arg: Any, path: tuple[str, ...]) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateError(f"Fn::If takes [condition, value_if_true, value_if_false], got {arg!r}", path)
        chosen = 1 if self.condition(arg[0], path) else 2
        return self.resolve(arg[chosen], path)

    def _find_in_map(self, arg: Any, path: tuple[str, ...]) -> Any:
        arg = self.resolve(arg, path)
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise TemplateError(f"Fn::FindInMap takes [map, top key, second key], got {arg!r}", path)
        map_name, top, second = (str(a) for a in arg[:3])
        try:
            return self.resolve(self._mappings[map_name][top][second], path)
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return arg[3]["DefaultValue"]
            raise TemplateError(
                f"Fn::FindInMap found no {map_name}.{top}.{second} in Mappings", path
            ) from None

    # ---- conditions ---------------------------------------------------------------------------------

    def condition(self, name: str, path: tuple[str, ...] = ()) -> bool:
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self._condition_defs:
            raise TemplateError(f"condition {name!r} is not declared in Conditions", path)
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself", ("Conditions", name))
        self._evaluating.add(name)
        try:
            value = self._evaluate(self._condition_defs[name], ("Conditions", name))
        finally:
            self._evaluating.discard(name)
        self._condition_values[name] = value
        return value

    def _evaluate(self, expr: Any, path: tuple[str, ...]) -> bool:
        if isinstance(expr, bool):
            return expr
        if not (isinstance(expr, dict) and len(expr) == 1):
            raise TemplateError(f"a condition must be a condition function, got {expr!r}", path)
        ((key, arg),) = expr.items()
        here = (*path, key)
        if key == "Condition":
            return self.condition(arg, here)
        if key == "Fn::Equals":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError("Fn::Equals takes two values", here)
            left, right = (self.resolve(a, here) for a in arg)
            return _as_comparable(left) == _as_comparable(right)
        if key == "Fn::Not":
            if not (isinstance(arg, list) and len(arg) == 1):
                raise TemplateError("Fn::Not takes one condition", here)
            return not self._evaluate(arg[0], here)
        if key in ("Fn::And", "Fn::Or"):
            if not (isinstance(arg, list) and 2 <= len(arg) <= 10):
                raise TemplateError(f"{key} takes 2 to 10 conditions", here)
            results = (self._evaluate(a, here) for a in arg)
            return all(results) if key == "Fn::And" else any(results)
        raise TemplateError(f"{key} is not a condition function", here)


class _Unresolvable:
    """A parameter whose value localfaas cannot know (an SSM parameter type without an override)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def unresolvable(reason: str) -> Any:
    return _Unresolvable(reason)


def _as_text(value: Any, path: tuple[str, ...]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"expected a string, got {value!r}", path)


def _as_comparable(value: Any) -> Any:
    # CloudFormation compares parameter values as strings: `Default: 1` equals "1".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _base64(resolver: Resolver, arg: Any, path: tuple[str, ...]) -> str:
    text = _as_text(resolver.resolve(arg, path), path)
    return base64.b64encode(text.encode()).decode()


def _to_json_string(resolver: Resolver, arg: Any, path: tuple[str, ...]) -> str:
    return json.dumps(resolver.resolve(arg, path), separators=(",", ":"))


def _length(resolver: Resolver, arg: Any, path: tuple[str, ...]) -> int:
    value = resolver.resolve(arg, path)
    if not isinstance(value, list):
        raise TemplateError(f"Fn::Length takes a list, got {value!r}", path)
    return len(value)


def _get_azs(resolver: Resolver, arg: Any, path: tuple[str, ...]) -> list[str]:
    region = resolver.resolve(arg, path) or resolver._region
    return [f"{region}{zone}" for zone in "abc"]


_FUNCTIONS: dict[str, Callable[[Resolver, Any, tuple[str, ...]], Any]] = {
    "Fn::GetAtt": Resolver._get_att_fn,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::Base64": _base64,
    "Fn::ToJsonString": _to_json_string,
    "Fn::Length": _length,
    "Fn::GetAZs": _get_azs,
}
