"""IAM's evaluation of identity-based policies, for one request: an action on a resource.

As "Policy evaluation logic" and "The difference between explicit and implicit denies" (IAM User
Guide) state it: a matching Deny statement wins over everything ("explicit deny"); else a matching
Allow grants; else the request is implicitly denied.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html

A statement matches when its Action (or NotAction: every action but those) and its Resource (or
NotResource) match and its Condition holds. Action names are case-insensitive, resource ARNs are
case-sensitive; both take the wildcards `*` (any run of characters, `/` and `:` included) and `?`
(one character) ("IAM JSON policy elements: Action", "...: NotAction", "...: Resource",
"...: NotResource": https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).

Conditions: the string and ARN operators (`StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
`StringLike`, `StringNotLike`, `ArnEquals`, `ArnLike`, `ArnNotEquals`, `ArnNotLike`), `Bool` and `Null`,
each with `...IfExists`, over the request context the caller gives (localfaas.role_enforcement gives
`aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:RequestedRegion` and `aws:SecureTransport`);
several values of a key are ORed, several keys and operators ANDed ("IAM JSON policy elements: Condition operators",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
A condition this cannot evaluate (another operator, a key outside that context, a set operator `ForAnyValue:`/`ForAllValues:`) or a resource with a policy variable
`${...}` fails closed: such an Allow grants nothing and such a Deny applies, so a run that passes
here is never allowed more than AWS would allow; the statement is reported (`Decision.unevaluated`).

moto's own evaluator (moto.iam.access_control.IAMPolicy) is not used: it matches actions
case-sensitively, reads `.` in a pattern as a regular expression, has no `?` nor NotResource (a
NotResource statement matches every resource), and turns an Allow whose condition fails into a Deny.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["ALLOWED", "EXPLICIT_DENY", "IMPLICIT_DENY", "Decision", "evaluate"]

ALLOWED = "allowed"
EXPLICIT_DENY = "explicit deny"
IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Decision:
    verdict: str
    # Statements (by Sid, or their position) that could not be evaluated and were taken fail-closed.
    unevaluated: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOWED


def evaluate(
    documents: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> Decision:
    """IAM's verdict for `action` on `resource` under these policy documents, with this request context."""
    context = context or {}
    allowed = False
    unevaluated: list[str] = []
    for number, document in enumerate(documents):
        statements = document.get("Statement", [])
        for index, statement in enumerate([statements] if isinstance(statements, dict) else statements):
            label = str(statement.get("Sid") or f"policy {number} statement {index}")
            applies = _applies(statement, action, resource, context)
            if applies is None:
                unevaluated.append(label)
                applies = statement.get("Effect") == "Deny"  # fail closed
            if not applies:
                continue
            if statement.get("Effect") == "Deny":
                return Decision(EXPLICIT_DENY, tuple(unevaluated))
            if statement.get("Effect") == "Allow":
                allowed = True
    return Decision(ALLOWED if allowed else IMPLICIT_DENY, tuple(unevaluated))


def _applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool | None:
    """True if the statement matches the request, False if not, None if it cannot be told."""
    if "NotAction" in statement:
        if any(_matches(p, action, ignore_case=True) for p in _values(statement["NotAction"])):
            return False
    elif not any(_matches(p, action, ignore_case=True) for p in _values(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        patterns, inverted = _values(statement["NotResource"]), True
    else:
        patterns, inverted = _values(statement.get("Resource")), False
    if any("${" in p for p in patterns):
        return None
    if any(_matches(p, resource) for p in patterns) == inverted:
        return False
    return _condition_holds(statement.get("Condition") or {}, context)


def _values(element: Any) -> list[str]:
    if element is None:
        return []
    return [str(v) for v in element] if isinstance(element, list) else [str(element)]


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


# -- conditions ------------------------------------------------------------------------------------


def _string_equals(want: str, have: str) -> bool:
    return want == have


def _string_equals_ignore_case(want: str, have: str) -> bool:
    return want.lower() == have.lower()


def _like(want: str, have: str) -> bool:
    return _matches(want, have)


def _bool(want: str, have: str) -> bool:
    return want.lower() == have.lower()


# operator -> (test of one policy value against the request's value, negated)
_OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_like, False),  # ARN operators take wildcards in either form
    "ArnLike": (_like, False),
    "ArnNotEquals": (_like, True),
    "ArnNotLike": (_like, True),
    "Bool": (_bool, False),
}


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool | None:
    known = {k.lower(): v for k, v in context.items()}  # condition keys are case-insensitive
    for operator, tests in condition.items():
        if ":" in operator:  # ForAnyValue:/ForAllValues: compare sets, which no key here has
            return None
        name = operator.removesuffix("IfExists")  # every key here is in the context: exists
        for key, wanted in tests.items():
            have = known.get(key.lower())
            if have is None:  # a key AWS may send and localfaas does not know: cannot be told
                return None
            if name == "Null":  # the key is present
                if str(wanted).lower() == "true":
                    return False
                continue
            if name not in _OPERATORS:
                return None
            test, negated = _OPERATORS[name]
            matched = any(test(w, have) for w in _values(wanted))
            if matched == negated:
                return False
    return True
