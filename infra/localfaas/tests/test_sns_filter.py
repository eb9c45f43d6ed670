"""SNS subscription filter policies (localfaas.sns_filter): the operators EventBridge shares, and each
place SNS's pages ("Amazon SNS message filtering" and the pages under it) say SNS differs."""

from __future__ import annotations

import json

import pytest

from localfaas.pattern import matches
from localfaas.sns_filter import MESSAGE_BODY, FilterPolicy, InvalidFilterPolicy


def attrs(**values: tuple[str, str]) -> dict:
    return {name: {"Type": kind, "Value": value} for name, (kind, value) in values.items()}


def takes(policy: dict, **values: tuple[str, str]) -> bool:
    return FilterPolicy.parse(policy).accepts("message", attrs(**values))


# ---- what SNS shares with EventBridge ---------------------------------------------------------------


def test_exact_prefix_and_numeric_match_attributes_as_their_types_say():
    assert takes({"store": ["example_corp"]}, store=("String", "example_corp"))
    assert not takes({"store": ["example_corp"]}, store=("String", "other"))
    assert takes({"event": [{"prefix": "order-"}]}, event=("String", "order-placed"))
    assert takes({"price": [{"numeric": [">=", 100, "<", 200]}]}, price=("Number", "1.5e2"))
    assert not takes({"price": [{"numeric": [">=", 100]}]}, price=("String", "150"))  # text is no number


def test_every_property_must_match_and_or_takes_either_branch():
    policy = {"store": ["a"], "$or": [{"kind": ["x"]}, {"size": [{"numeric": [">", 3]}]}]}
    assert takes(policy, store=("String", "a"), size=("Number", "4"))
    assert takes(policy, store=("String", "a"), kind=("String", "x"))
    assert not takes(policy, store=("String", "a"), size=("Number", "1"))
    assert not takes(policy, store=("String", "b"), kind=("String", "x"))


def test_each_element_of_a_string_array_is_a_value_of_its_own():
    policy = {"customer_interests": ["rugby", "tennis"]}
    assert takes(policy, customer_interests=("String.Array", json.dumps(["rugby", "soccer"])))
    assert not takes(policy, customer_interests=("String.Array", json.dumps(["baseball"])))


def test_binary_attributes_are_never_compared():
    assert not takes({"blob": [{"exists": True}]}, blob=("Binary", "eA=="), other=("String", "x"))
    assert takes({"blob": [{"exists": False}]}, blob=("Binary", "eA=="), other=("String", "x"))


# ---- where SNS differs ------------------------------------------------------------------------------


def test_anything_but_on_a_string_array_needs_every_element_unlisted():
    policy = {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}
    assert takes(policy, customer_interests=("String.Array", json.dumps(["baseball", "soccer"])))
    assert not takes(policy, customer_interests=("String.Array", json.dumps(["rugby", "baseball"])))
    # EventBridge takes the same values, since one element is not excluded:
    assert matches(policy, {"customer_interests": ["rugby", "baseball"]})
    # ... and on a plain String attribute SNS agrees with EventBridge:
    assert takes(policy, customer_interests=("String", "baseball"))


def test_exists_false_matches_no_message_without_attributes():
    policy = FilterPolicy.parse({"store": [{"exists": False}]})
    assert policy.accepts("m", attrs(other=("String", "x")))
    assert not policy.accepts("m", {})
    assert matches({"store": [{"exists": False}]}, {})  # where EventBridge matches


def test_the_message_body_scope_needs_a_json_object_and_may_nest():
    policy = FilterPolicy.parse({"order": {"state": ["paid"]}}, MESSAGE_BODY)
    assert policy.accepts(json.dumps({"order": {"state": "paid"}}), None)
    assert not policy.accepts(json.dumps({"order": {"state": "new"}}), None)
    assert not policy.accepts("paid", None)
    assert not policy.accepts(json.dumps(["paid"]), None)


@pytest.mark.parametrize(
    ("policy", "scope", "reason"),
    [
        (
            {"order": {"state": ["paid"]}},
            None,
            "order: a policy with FilterPolicyScope MessageAttributes can not be nested",
        ),
        ({k: ["x"] for k in "abcdef"}, None, "Filter policy can not have more than 5 keys"),
        (
            {"a": list(range(6)), "b": list(range(6)), "c": list(range(6)), "d": list(range(2))},
            None,
            "Filter policy is too complex (over 150 combinations)",
        ),
        ({"name": [{"wildcard": "a*"}]}, None, "name: Unrecognized match type wildcard"),
        (
            {"price": [{"numeric": [">", 2e9]}]},
            None,
            "price: numbers must be between -1.0E9 and 1.0E9 inclusive",
        ),
        ({}, None, "a filter policy is a non-empty JSON object"),
        ("{not json", None, "failed to parse JSON"),
    ],
)
def test_policies_sns_refuses_are_refused_with_the_reason(policy, scope, reason):
    with pytest.raises(InvalidFilterPolicy) as refused:
        FilterPolicy.parse(policy, scope)
    assert str(refused.value).startswith("Invalid parameter: FilterPolicy: " + reason)


def test_numbers_eventbridge_accepts_past_a_billion_are_refused_by_sns():
    assert matches({"price": [{"numeric": [">", 2e9]}]}, {"price": 3e9})  # valid to EventBridge (up to 5e9)
    with pytest.raises(InvalidFilterPolicy):
        FilterPolicy.parse({"price": [{"numeric": [">", 2e9]}]})


def test_an_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="FilterPolicyScope: Everything"):
        FilterPolicy.parse({"a": ["x"]}, "Everything")


def test_a_policy_given_as_text_is_the_same_policy():
    assert FilterPolicy.parse('{"store": ["a"]}').accepts("m", attrs(store=("String", "a")))
