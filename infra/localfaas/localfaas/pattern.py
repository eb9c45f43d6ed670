"""EventBridge event patterns: validate a pattern and decide whether it matches an event.

Emulates the pattern language of "Amazon EventBridge event patterns"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html), "Creating event
patterns", now titled "Event pattern syntax"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html),
"Content filtering in Amazon EventBridge event patterns"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/content-filtering-with-event-patterns.html,
formerly eb-event-patterns-content-based-filtering.html) and "Comparison operators"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html).
The same language filters Lambda event source mappings ("Lambda event filtering",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html): see `matches_filter_criteria`.
Error reasons use the wording of aws/event-ruler, the matching library behind EventBridge.

Where the docs are silent or dated, event-ruler's behaviour is followed (its README and its
ComparableNumber, https://github.com/aws/event-ruler):
- numbers compare as numbers (300 matches 300.0 and 3.0e2; event-ruler adds a numeric-equality matcher
  next to the literal one), exactly, as decimals, in the domain event-ruler's ComparableNumber
  implements and the content filtering page has stated ("values between -5.0e9 and +5.0e9 inclusive,
  with 15 digits of precision, or six digits to the right of the decimal point"). event-ruler
  enforces it without rounding: a pattern number outside it is refused,
  and an event number outside it (1e10, or 0.1 + 0.2 = 0.30000000000000004) is no number to
  `numeric` at all and equals only what is literally the same number;
- a dotted field name is the path it spells: event-ruler joins names with dots, so
  ``{"state.status": [...]}`` and ``{"state": {"status": [...]}}`` are one pattern, and each matches an
  event holding either shape (README, "Compiled rules and JSON keys with dots"), as AWS answers
  TestEventPattern, though "Event pattern syntax" says the names must appear "with the same nesting";
- a pattern field matches an array in the event when any element matches; the fields of a sub-pattern
  over an array of objects must all be satisfied by the same element ("array consistency");
- an object is not a leaf: only ``exists: false`` matches a field whose value is an object or an empty array;
- ``anything-but`` matches any present value that is not excluded, so a number passes a string exclusion.
Whatever an event or record holds, matching answers and never raises (issue 9, "no input stops a
poller or the bus"): array values are walked iteratively, a payload nested deeper than
`MAX_JSON_DEPTH` is taken for one that is not valid JSON (see `loads_bounded`), and a payload that is
not JSON, not UTF-8 or not base64 takes the path the Lambda filtering docs give it (see
`filterable_record`).
Wildcards too complex to match quickly are refused as EventBridge refuses them (see
localfaas.pattern_complexity). Not emulated: the 2048-character pattern limit, and Lambda's narrower
operator set (Lambda filters reject some operators, e.g. wildcard; localfaas accepts them).
This module is past 400 lines because the pattern language is one grammar: its validation, compiled
form and matching are kept together, one function per operator, as event-ruler's own reference is.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from itertools import accumulate
from typing import Any

from localfaas.pattern_complexity import TOO_COMPLEX, too_complex_fields

MISSING = object()  # a key absent from the event
OPAQUE = object()  # a record payload that is neither JSON nor UTF-8 text: present, but matches nothing

NUMERIC_LIMIT = 5e9
NUMERIC_DECIMALS = 6  # event-ruler's ComparableNumber: "Comparisons are precise to 6 decimal places"
# Deepest nesting of arrays and objects a payload may have to be parsed as JSON. CPython's json decoder
# recurses once per level and shares the interpreter's recursion limit (1000 frames by default) with
# whatever called it, so `[` x 5000 raised RecursionError from inside a poller, and a value some 900
# levels deep would parse or not depending on how deep the caller's own stack was. Counting the depth
# first makes the answer the same everywhere: deeper than this is "not valid JSON", half the default
# recursion limit so the caller keeps room. event-ruler parses with Jackson, which refuses documents
# nested deeper than 1000 (StreamReadConstraints' default maxNestingDepth), so payloads 501..1000 deep
# are treated as text here while AWS would parse them; no real event is that deep.
MAX_JSON_DEPTH = 500
# Field names event-ruler refuses inside $or, so a misplaced operator is reported rather than matched.
RESERVED_IN_OR = frozenset(
    [
        "exactly",
        "equals-ignore-case",
        "prefix",
        "suffix",
        "anything-but",
        "exists",
        "wildcard",
        "numeric",
        "cidr",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
    ]
)

Predicate = Callable[[Any], bool]


class InvalidEventPatternException(ValueError):
    """TestEventPattern / PutRule's InvalidEventPatternException, with AWS's message prefix."""

    code = "InvalidEventPatternException"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Event pattern is not valid. Reason: {reason}")


# --------------------------------------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def comparable_number(value: Any) -> Decimal | None:
    """`value` as event-ruler's numeric matchers see it: an exact decimal within -5e9..5e9 with at most
    six decimal places; None for anything else (they ignore it). A float is read as the shortest text
    that gives it back, which is the JSON number it was parsed from."""
    if not _is_number(value):
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) > NUMERIC_LIMIT:
        return None
    if number.normalize().as_tuple().exponent < -NUMERIC_DECIMALS:
        return None
    return number


def _numbers_equal(a: float, b: float) -> bool:
    left, right = comparable_number(a), comparable_number(b)
    if left is not None and right is not None:
        return left == right
    return a == b  # outside the numeric domain: only the literal match is left


def _flatten(items: list) -> list:
    """The non-list elements of nested arrays, in order. Iterative: an event (a dict built in Python, or a
    record's payload) may nest arrays deeper than the interpreter's recursion limit."""
    flat: list = []
    stack = [iter(items)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text`, counted without recursion: strings are dropped
    (their brackets do not count), then everything but brackets, and the running sum of +1 per opening
    and -1 per closing bracket peaks at the depth. Linear, and all of it in C (re, map, accumulate): the
    10 KB poison costs ~1 ms, a 259 KB array of 10,000 objects ~20 ms, most of it dropping its 40,000
    strings (beside 10 ms for json.loads and 31 ms for a match; a Python loop over its tokens took
    63 ms). Payloads with at most MAX_JSON_DEPTH brackets, every storefront event, skip it. Only
    meaningful for valid JSON; any text gets an answer."""
    skeleton = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)


_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


# A JSON string with its escapes. An unterminated one runs to the end of the text (`\Z`), so every match
# succeeds on its first try and the scan stays linear (no backtracking over a megabyte of `"\"\"`).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def loads_bounded(text: str | bytes) -> Any:
    """json.loads, refusing (ValueError) documents nested deeper than MAX_JSON_DEPTH before parsing them,
    so a deep payload is refused the same way whatever the caller's stack (see MAX_JSON_DEPTH)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    # Counting brackets first is cheap and spares the scan for nearly every real payload.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except RecursionError:  # only when the caller's own stack is already deep: same answer as too deep
        raise ValueError(f"JSON nested too deeply to parse here (limit {MAX_JSON_DEPTH})") from None


def _leaf_values(value: Any) -> list:
    """The leaf values at a field: none when absent, an object or an empty array; array elements otherwise."""
    if value is MISSING or isinstance(value, dict):
        return []
    if isinstance(value, list):
        return [item for item in _flatten(value) if not isinstance(item, dict)]
    return [value]


def _objects(value: Any) -> list[dict]:
    """The objects a nested pattern is tried against; an empty one when there are none, so that a
    pattern of only ``exists: false`` fields still matches a missing or scalar field."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        found = [item for item in _flatten(value) if isinstance(item, dict)]
        if found:
            return found
    return [{}]


# ------------------------------------------------------------------------------ one function per operator


def match_exact(value: Any, expected: Any) -> bool:
    """Exact match of type and value; numbers compare numerically."""
    if expected is None or isinstance(expected, bool):
        return value is expected
    if _is_number(expected):
        return _is_number(value) and _numbers_equal(value, expected)
    return isinstance(value, str) and value == expected


def match_ip_address(value: Any, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An IP address given as a plain pattern value matches it in any notation: event-ruler turns it
    into a one-address range (``2001:db8::1`` matches ``2001:DB8:0::1``)."""
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) == address
    except ValueError:
        return False


def match_prefix(value: Any, prefix: str, ignore_case: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    return value.lower().startswith(prefix.lower()) if ignore_case else value.startswith(prefix)


def match_suffix(value: Any, suffix: str, ignore_case: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    return value.lower().endswith(suffix.lower()) if ignore_case else value.endswith(suffix)


def match_equals_ignore_case(value: Any, expected: str) -> bool:
    return isinstance(value, str) and value.lower() == expected.lower()


def match_wildcard(value: Any, regex: re.Pattern[str]) -> bool:
    return isinstance(value, str) and regex.fullmatch(value) is not None


_COMPARISONS = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def match_numeric(value: Any, conditions: tuple[tuple[str, Decimal], ...]) -> bool:
    """Numeric range: only JSON numbers in the numeric domain match (see `comparable_number`), exactly."""
    number = comparable_number(value)
    if number is None:
        return False
    return all(_COMPARISONS[op](number, bound) for op, bound in conditions)


def match_cidr(value: Any, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if not isinstance(value, str):
        return False
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address.version == network.version and address in network


def match_anything_but(value: Any, excluded: tuple[Predicate, ...]) -> bool:
    return not any(predicate(value) for predicate in excluded)


# ------------------------------------------------------------------------------------- compiled pattern


@dataclass(frozen=True)
class Leaf:
    """A field's array of values: matches when any value matches any predicate, or by exists."""

    predicates: tuple[Predicate, ...]
    exists: frozenset[bool]

    def matches(self, values: list) -> bool:
        if (values and True in self.exists) or (not values and False in self.exists):
            return True
        return any(predicate(value) for predicate in self.predicates for value in values)


@dataclass(frozen=True)
class Node:
    """An object in the pattern: every field must match, and one alternative of every ``$or``."""

    fields: tuple[tuple[str, Node | Leaf], ...]
    alternatives: tuple[tuple[Node, ...], ...] = ()

    def matches(self, value: Any) -> bool:
        return any(self.matches_object(candidate) for candidate in _objects(value))

    def matches_object(self, obj: dict) -> bool:
        dotted = any("." in name for name in obj)
        for key, sub in self.fields:
            child = _field(obj, key, isinstance(sub, Leaf)) if dotted else obj.get(key, MISSING)
            matched = sub.matches(_leaf_values(child)) if isinstance(sub, Leaf) else sub.matches(child)
            if not matched:
                return False
        return all(any(alt.matches_object(obj) for alt in group) for group in self.alternatives)


def _field(obj: dict, key: str, leaf: bool) -> Any:
    """What the event holds at `key`, counting its dotted names: {"state.status": v} holds {"status": v}
    at "state", the path event-ruler reads in both. A leaf wanted where both shapes are present
    is the plain field's value; an object is both merged."""
    child = obj.get(key, MISSING)
    prefix = key + "."
    spread = {
        name[len(prefix) :]: value
        for name, value in obj.items()
        if name.startswith(prefix) and name != prefix
    }
    if not spread or (leaf and child is not MISSING):
        return child
    if isinstance(child, dict):
        return {**child, **spread}
    if isinstance(child, list):
        return [*child, spread]
    return spread


@dataclass(frozen=True)
class EventPattern:
    root: Node

    def matches(self, event: dict | str) -> bool:
        """Whether `event` matches. Event text that is not JSON raises ValueError (TestEventPattern refuses
        it); an event of any depth or size is answered: the walk over its arrays is iterative and the walk
        over its objects only goes as deep as the pattern does."""
        if isinstance(event, str | bytes):
            event = loads_bounded(event)
        try:
            return self.root.matches(event)
        except RecursionError:
            # Only a pattern nested nearly as deep as the recursion limit gets here (AWS caps patterns at
            # 2048 characters, so at a few hundred levels); no event can match what cannot be walked.
            return False


def _invalid(reason: str) -> InvalidEventPatternException:
    return InvalidEventPatternException(reason)


def _compile_object(obj: dict, inside_or: bool) -> Node:
    if not obj:
        raise _invalid("Empty objects are not allowed")
    fields: list[tuple[str, Node | Leaf]] = []
    alternatives: list[tuple[Node, ...]] = []
    for key, value in _split_dotted_names(obj):
        if key == "$or":
            alternatives.append(_compile_or(value))
            continue
        if inside_or and key in RESERVED_IN_OR:
            raise _invalid(f"{key} is Ruler reserved fieldName which cannot be used inside $or.")
        if isinstance(value, dict):
            fields.append((key, _compile_object(value, inside_or)))
        elif isinstance(value, list):
            fields.append((key, _compile_leaf(value)))
        else:
            raise _invalid(f'"{key}" must be an object or an array')
    return Node(tuple(fields), tuple(alternatives))


def _split_dotted_names(obj: dict) -> list[tuple[str, Any]]:
    """The fields of a pattern object with dotted names made nesting, as event-ruler joins names with
    dots: {"state.status": [...], "state": {"code": [...]}} is {"state": {"status": [...], "code": [...]}}.
    A name that is both a leaf and an object stays twice: both must match."""
    merged: dict[str, Any] = {}
    twice: list[tuple[str, Any]] = []
    for key, value in obj.items():
        head, _, rest = key.partition(".")
        if key == "$or" or not head or not rest:
            head, nested = key, value
        else:
            nested = {rest: value}
        if head not in merged:
            merged[head] = nested
        elif head != "$or" and isinstance(merged[head], dict) and isinstance(nested, dict):
            merged[head] = {**merged[head], **nested}  # deeper dotted names are split when it is compiled
        else:
            twice.append((head, nested))
    return [*merged.items(), *twice]


def _compile_or(value: Any) -> tuple[Node, ...]:
    if not isinstance(value, list):
        raise _invalid("It must be an Array followed with $or.")
    if any(not isinstance(item, dict) for item in value):
        raise _invalid("Only JSON object is allowed in array of $or relationship.")
    if len(value) < 2:
        raise _invalid("There must have at least 2 Objects in $or relationship.")
    return tuple(_compile_object(item, inside_or=True) for item in value)


def _compile_leaf(values: list) -> Leaf:
    if not values:
        raise _invalid("Empty arrays are not allowed")
    predicates: list[Predicate] = []
    exists: set[bool] = set()
    for item in values:
        if isinstance(item, dict):
            name, argument = _match_expression(item)
            if name == "exists":
                exists.add(_compile_exists(argument))
            else:
                predicates.append(OPERATORS[name](argument))
        elif isinstance(item, list):
            raise _invalid("Match value must be String, number, true, false, or null")
        else:
            predicates.append(_compile_value(item))
    return Leaf(tuple(predicates), frozenset(exists))


def _compile_value(item: Any) -> Predicate:
    if isinstance(item, str):
        try:
            return partial(match_ip_address, address=ipaddress.ip_address(item))
        except ValueError:
            pass
    return partial(match_exact, expected=item)


def _match_expression(item: dict) -> tuple[str, Any]:
    if not item:
        raise _invalid("Match expression name not found")
    name = next(iter(item))
    if name != "exists" and name not in OPERATORS:
        raise _invalid(f"Unrecognized match type {name}")
    if len(item) > 1:
        raise _invalid("Only one key allowed in match expression")
    return name, item[name]


def _compile_exists(argument: Any) -> bool:
    if not isinstance(argument, bool):
        raise _invalid("exists match pattern must be either true or false.")
    return argument


def _compile_string(argument: Any, name: str) -> str:
    if not isinstance(argument, str):
        raise _invalid(f"{name} match pattern must be a string")
    return argument


def _compile_affix(argument: Any, name: str) -> Predicate:
    """prefix / suffix, each optionally wrapped in ``{"equals-ignore-case": ...}``."""
    match = match_prefix if name == "prefix" else match_suffix
    if isinstance(argument, dict):
        if not argument:
            raise _invalid(f"{name.capitalize()} expression name not found")
        inner = next(iter(argument))
        if inner != "equals-ignore-case":
            raise _invalid(f"Unsupported {name} pattern: {inner}")
        if len(argument) > 1:
            raise _invalid("Only one key allowed in match expression")
        text = _compile_string(argument[inner], "equals-ignore-case")
        return partial(match, **{name: text, "ignore_case": True})
    return partial(match, **{name: _compile_string(argument, name)})


def _compile_equals_ignore_case(argument: Any) -> Predicate:
    return partial(match_equals_ignore_case, expected=_compile_string(argument, "equals-ignore-case"))


def _byte_position(text: str, index: int) -> int:
    # event-ruler reports positions in the UTF-8 bytes of the quoted value.
    return 1 + len(text[:index].encode("utf-8"))


def wildcard_regex(text: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; ``\\*`` and ``\\\\`` escape; ``**`` and other escapes are errors."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            if text[i + 1 : i + 2] == "*":
                raise _invalid(f"Consecutive wildcard characters at pos {_byte_position(text, i)}")
            parts.append(".*")
        elif char == "\\":
            escaped = text[i + 1 : i + 2]
            if escaped not in ("*", "\\") or not escaped:
                raise _invalid(f"Invalid escape character at pos {_byte_position(text, i)}")
            parts.append(re.escape(escaped))
            i += 1
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _compile_wildcard(argument: Any) -> Predicate:
    return partial(match_wildcard, regex=wildcard_regex(_compile_string(argument, "wildcard")))


def _check_numeric_range(value: float) -> Decimal:
    if abs(value) > NUMERIC_LIMIT:
        raise _invalid("Value must be between -5.0E9 and +5.0E9 inclusive")
    number = comparable_number(value)
    if number is None:  # in range, so: more decimals than event-ruler keeps
        raise _invalid(f"Only values upto {NUMERIC_DECIMALS} decimals are supported")
    return number


def _compile_numeric(argument: Any) -> Predicate:
    if not isinstance(argument, list):
        raise _invalid("Value of numeric must be an array.")
    if not argument or not isinstance(argument[0], str):
        raise _invalid(f"Invalid member in numeric match: {argument[0] if argument else ']'}")
    op = argument[0]
    if op not in ("=", "<", "<=", ">", ">="):
        raise _invalid(f"Unrecognized numeric range operator: {op}")
    if len(argument) < 2 or not _is_number(argument[1]):
        raise _invalid(f"Value of {'equals' if op == '=' else op} must be numeric")
    conditions = [(op, _check_numeric_range(argument[1]))]
    rest = argument[2:]
    if rest:
        if op not in (">", ">="):
            raise _invalid("Too many elements in numeric expression")
        conditions.append(_numeric_upper_bound(rest, bottom=argument[1]))
    return partial(match_numeric, conditions=tuple(conditions))


def _numeric_upper_bound(rest: list, bottom: float) -> tuple[str, Decimal]:
    op = rest[0]
    if not isinstance(op, str):
        raise _invalid(f"Bad value in numeric range: {op}")
    if op not in ("<", "<="):
        raise _invalid(f"Bad numeric range operator: {op}")
    if len(rest) < 2 or not _is_number(rest[1]):
        raise _invalid(f"Value of {op} must be numeric")
    if len(rest) > 2:
        raise _invalid("Too many terms in numeric range expression")
    if bottom >= rest[1]:
        raise _invalid("Bottom must be less than top")
    return op, _check_numeric_range(rest[1])


def _compile_cidr(argument: Any) -> Predicate:
    text = _compile_string(argument, "cidr")
    if text.count("/") != 1:
        raise _invalid("Malformed CIDR, one '/' required")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _invalid(f"Nonstandard IP address: {text.split('/')[0]}") from None
    return partial(match_cidr, network=network)


def _compile_anything_but(argument: Any) -> Predicate:
    if isinstance(argument, dict):
        excluded = _anything_but_operator(argument)
    elif isinstance(argument, list):
        excluded = _anything_but_list(argument)
    elif isinstance(argument, str) or _is_number(argument):
        excluded = (partial(match_exact, expected=argument),)
    else:
        raise _invalid("Value of anything-but must be an array or single string/number value.")
    return partial(match_anything_but, excluded=excluded)


def _anything_but_list(values: list) -> tuple[Predicate, ...]:
    if any(not (isinstance(v, str) or _is_number(v)) for v in values):
        raise _invalid("Inside anything but list, start|null|boolean is not supported.")
    strings = sum(isinstance(v, str) for v in values)
    if not values or 0 < strings < len(values):
        raise _invalid(
            "Inside anything but list, either all values are number or string, mixed type is not supported"
        )
    return tuple(partial(match_exact, expected=v) for v in values)


_ANYTHING_BUT_TYPE_ERRORS = {
    "equals-ignore-case": "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
    "wildcard": "wildcard match pattern must be a string",
    "prefix": "prefix/suffix match pattern must be a string",
    "suffix": "prefix/suffix match pattern must be a string",
}


def _anything_but_operator(argument: dict) -> tuple[Predicate, ...]:
    """anything-but wrapping prefix, suffix, equals-ignore-case or wildcard, each with one value or a list."""
    if not argument:
        raise _invalid("Anything-But expression name not found")
    name = next(iter(argument))
    if name not in _ANYTHING_BUT_TYPE_ERRORS:
        raise _invalid(f"Unsupported anything-but pattern: {name}")
    if len(argument) > 1:
        raise _invalid("Only one key allowed in match expression")
    values = argument[name] if isinstance(argument[name], list) else [argument[name]]
    if any(not isinstance(v, str) for v in values):
        raise _invalid(_ANYTHING_BUT_TYPE_ERRORS[name])
    if name in ("prefix", "suffix") and "" in values:
        raise _invalid("Null prefix/suffix not allowed")
    compile_one = {
        "prefix": lambda v: partial(match_prefix, prefix=v),
        "suffix": lambda v: partial(match_suffix, suffix=v),
        "equals-ignore-case": lambda v: partial(match_equals_ignore_case, expected=v),
        "wildcard": lambda v: partial(match_wildcard, regex=wildcard_regex(v)),
    }[name]
    return tuple(compile_one(v) for v in values)


OPERATORS: dict[str, Callable[[Any], Predicate]] = {
    "prefix": partial(_compile_affix, name="prefix"),
    "suffix": partial(_compile_affix, name="suffix"),
    "equals-ignore-case": _compile_equals_ignore_case,
    "anything-but": _compile_anything_but,
    "numeric": _compile_numeric,
    "cidr": _compile_cidr,
    "wildcard": _compile_wildcard,
}


# ------------------------------------------------------------------------------------------ public API


def compile_pattern(pattern: dict | str) -> EventPattern:
    """Validate `pattern` (a dict or its JSON text) once, for matching many events."""
    if isinstance(pattern, str | bytes):
        return _compile_text(pattern if isinstance(pattern, str) else pattern.decode("utf-8"))
    if not isinstance(pattern, dict):
        raise _invalid("Filter is not an object")
    return _compile_root(pattern)


@lru_cache(maxsize=1024)
def _compile_text(text: str) -> EventPattern:
    try:
        pattern = loads_bounded(text)
    except json.JSONDecodeError as error:
        raise _invalid(f"{error.msg} at line {error.lineno}, column {error.colno}") from None
    except ValueError as error:  # nested too deeply to parse
        raise _invalid(str(error)) from None
    if not isinstance(pattern, dict):
        raise _invalid("Filter is not an object")
    return _compile_root(pattern)


def _compile_root(pattern: dict) -> EventPattern:
    try:
        compiled = EventPattern(_compile_object(pattern, inside_or=False))
        if too_complex_fields(pattern):
            raise _invalid(TOO_COMPLEX)
        return compiled
    except RecursionError:  # a pattern dict built in Python, nested past the recursion limit
        raise _invalid("Pattern nested too deeply") from None


def validate_pattern(pattern: dict | str) -> None:
    """Raise InvalidEventPatternException with AWS's reason when `pattern` is not a valid event pattern."""
    compile_pattern(pattern)


def matches(pattern: dict | str, event: dict | str) -> bool:
    """Whether `event` matches `pattern`, as TestEventPattern answers. Invalid patterns raise."""
    return compile_pattern(pattern).matches(event)


# ------------------------------------------------------------------------------ Lambda FilterCriteria


def matches_filter_criteria(filters: list[dict] | dict | None, record: dict) -> bool:
    """Whether an event source mapping passes `record` to the function: no filters pass everything,
    otherwise any one Filter ``{"Pattern": "<json>"}`` must match (Lambda ORs the filters).

    The record is matched as Lambda's filter sees it (see `filterable_record`)."""
    if isinstance(filters, dict):
        filters = filters.get("Filters") or []
    if not filters:
        return True
    view = filterable_record(record)
    return any(compile_pattern(f["Pattern"]).matches(view) for f in filters)


def filterable_record(record: dict) -> dict:
    """A record with its payload decoded, as Lambda filters it. "Amazon MSK and self-managed Apache
    Kafka event source mappings only support filtering on the value key", whose messages are "either in
    valid JSON format or as plain strings" (Filtering events from Amazon MSK and self-managed Apache
    Kafka event sources, https://docs.aws.amazon.com/lambda/latest/dg/kafka-filtering.html; the SQS page,
    with-sqs-filtering.html, says the same of ``body``). So a Kafka record's base64 ``value`` and an SQS
    message's ``body`` become the JSON they hold, or the plain text when they are not valid JSON (nested
    deeper than MAX_JSON_DEPTH included), so a pattern that looks inside a non-JSON payload never matches
    it, and never fails on it. A payload that is not base64 or not UTF-8 text stays present but matches
    no value."""
    view = dict(record)
    # A Kinesis record's base64 `data` likewise ("Kinesis event source mappings only support filtering
    # on the data key", Using event filtering with a Kinesis event source, with-kinesis-filtering.html).
    for key in ("value", "data"):
        if isinstance(view.get(key), str):
            view[key] = _decode_payload(view[key], is_base64=True)
    if isinstance(view.get("body"), str):
        view["body"] = _decode_payload(view["body"], is_base64=False)
    return view


def _decode_payload(payload: str, is_base64: bool) -> Any:
    text = payload
    if is_base64:
        try:
            text = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # ValueError: UnicodeDecodeError, non-ASCII base64 text
            return OPAQUE
    try:
        return loads_bounded(text)
    except ValueError:  # not JSON, or too deep to count as JSON (MAX_JSON_DEPTH): a plain string
        return text
