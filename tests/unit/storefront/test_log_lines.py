"""Log lines are bounded: long texts keep a prefix and their length, long lists their count."""

from __future__ import annotations

import json

from storefront.log_lines import LONGEST_COLLECTION, LONGEST_TEXT, bounded, bounded_json


def test_a_long_text_keeps_its_start_and_says_its_length():
    assert bounded("x" * 1_048_576) == "x" * LONGEST_TEXT + "...(1048576 characters)"


def test_values_within_their_bounds_are_left_as_they_are():
    value = {"eventId": "e-1", "count": 3, "ok": True, "none": None, "ratio": 0.5, "lines": ["a"] * 50}
    assert bounded(value) == value
    assert bounded("y" * LONGEST_TEXT) == "y" * LONGEST_TEXT


def test_a_long_list_keeps_its_first_items_and_says_how_many():
    kept = bounded(list(range(10_000)))
    assert kept == [*range(LONGEST_COLLECTION), "...(10000 items)"]


def test_an_object_with_many_keys_keeps_its_first_and_says_how_many():
    kept = bounded({f"k{i}": i for i in range(1_000)})
    assert len(kept) == LONGEST_COLLECTION + 1
    assert kept["..."] == "(1000 keys)"


def test_deep_nesting_stops_without_recursing_through_it():
    deep: dict = {}
    node = deep
    for _ in range(5_000):
        node["a"] = {}
        node = node["a"]
    assert len(json.dumps(bounded(deep))) < 200


def test_a_whole_line_is_short_whatever_its_fields_hold():
    line = bounded_json(
        {
            "level": "INFO",
            "message": "audited",
            "event": {"warehouseId": "W" * 1_048_576},
            "raw": b"\x00" * 10,
        }
    )
    assert len(line) < 600
    assert json.loads(line)["raw"] == "(10 bytes)"


def test_a_traceback_keeps_its_end_where_the_error_is():
    traceback = "Traceback (most recent call last):\n" + "  frame\n" * 100_000 + "KeyError: 'sku'"
    kept = json.loads(bounded_json({"exception": traceback}))["exception"]
    assert kept.endswith("KeyError: 'sku'")
    assert kept.startswith(f"({len(traceback)} characters)...")
    assert len(kept) < 5_000


def test_objects_json_cannot_hold_are_written_as_bounded_text():
    class Loud:
        def __str__(self) -> str:
            return "z" * 10_000

    assert (
        json.loads(bounded_json({"thing": Loud()}))["thing"] == "z" * LONGEST_TEXT + "...(10000 characters)"
    )
