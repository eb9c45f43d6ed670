"""Wildcard complexity as event-ruler's MachineComplexityEvaluator scores it (the scores below are its
own test suite's), and the patterns EventBridge refuses for it."""

from __future__ import annotations

import pytest

from localfaas.pattern import InvalidEventPatternException, matches, validate_pattern
from localfaas.pattern_complexity import TOO_COMPLEX, wildcard_complexity

# value(s) of one field -> the most prefixes one input matches at once
SCORES = {
    ("*",): 1,
    ("abc",): 1,
    ("*ab",): 2,
    ("*aa",): 3,
    ("a*b",): 2,
    ("a*bbb",): 4,
    ("*ab*ad",): 4,
    ("a*b*bb",): 5,
    ("*ab*b*b*",): 7,
    ("*a*a*a*a*a*a*a*a*",): 17,
    ("*", "ab*c"): 3,
    ("ab*c", "x*xx"): 3,
    ("a*aaa", "aa*aa"): 7,
    ("ab*cd", "ab*wx", "ab*yz"): 6,  # a shared prefix counts once for each pattern through it
    ("ab*c", "ab*c"): 2,  # a repeated value counts once
}


@pytest.mark.parametrize("values", SCORES, ids=" | ".join)
def test_complexity_is_event_rulers_score(values):
    assert wildcard_complexity(values, cap=100) == SCORES[values]


def test_an_escaped_star_is_a_character_not_a_wildcard():
    assert wildcard_complexity([r"a\*b"], cap=100) == 1


def test_a_field_of_too_many_repeating_wildcards_is_refused_with_awss_reason():
    with pytest.raises(InvalidEventPatternException) as raised:
        validate_pattern({"detail": {"file": [{"wildcard": "*a*a*a*a*a*a"}]}})

    assert raised.value.reason == TOO_COMPLEX


def test_wildcards_of_one_field_count_together_across_or_branches():
    one = {"wildcard": "*/datasync/*.svs"}
    branches = [{"key": [{"wildcard": f"*/datasync/*.{kind}"}]} for kind in ("svs", "tif", "ndpi", "jpg")]

    validate_pattern({"key": [one]})
    with pytest.raises(InvalidEventPatternException, match="Rule is too complex"):
        validate_pattern({"$or": branches})


def test_anything_but_wildcards_count_too():
    with pytest.raises(InvalidEventPatternException, match="Rule is too complex"):
        validate_pattern({"f": [{"anything-but": {"wildcard": ["*x*x*x*", "*x*x*x*x"]}}]})


def test_an_ordinary_wildcard_pattern_is_accepted_and_matches():
    pattern = {"detail": {"key": [{"wildcard": "uploads/*/*.png"}]}}

    assert matches(pattern, {"detail": {"key": "uploads/2026/cat.png"}})
