"""The EventBridge pattern matcher against AWS's documented examples, each as a positive and a negative case.

Sources: "Amazon EventBridge event patterns" (eb-event-patterns), "Matching null values and empty strings"
(eb-event-patterns-null-values), "Arrays in event patterns" (eb-event-patterns-arrays), "Content filtering"
(eb-event-patterns-content-based-filtering), "Comparison operators" (eb-create-pattern-operators), and
Lambda's "Filtering events from Amazon MSK and self-managed Apache Kafka event sources" (kafka-filtering).
"""

from __future__ import annotations

import base64
import copy
import json

import pytest

from localfaas.pattern import (
    InvalidEventPatternException,
    compile_pattern,
    match_anything_but,
    match_cidr,
    match_equals_ignore_case,
    match_exact,
    match_ip_address,
    match_numeric,
    match_prefix,
    match_suffix,
    match_wildcard,
    matches,
    matches_filter_criteria,
    validate_pattern,
    wildcard_regex,
)

# The EC2 event of "Amazon EventBridge event patterns".
EC2_TERMINATED = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}

# The event the content-filtering examples are written against (event-ruler's README, same examples).
EC2_RUNNING = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}

AUTOSCALING = {
    "version": "0",
    "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
    "detail-type": "EC2 Instance Launch Successful",
    "source": "aws.autoscaling",
    "account": "123456789012",
    "time": "2015-11-11T21:31:47Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"eventVersion": "", "responseElements": None},
}

MACIE = {
    "detail-type": "Macie Alert",
    "source": "aws.macie",
    "resources": [
        "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id/alert/alert_id",
        "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id",
    ],
    "detail": {
        "notification-type": "ALERT_CREATED",
        "tags": ["Custom_Alert", "Insider"],
        "risk-score": 80,
        "trigger": {"alert-type": "basic", "risk": 8},
    },
}


def with_detail(event: dict, **changes) -> dict:
    changed = copy.deepcopy(event)
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            changed["detail"].pop(key, None)
        else:
            changed["detail"][key] = value
    return changed


def detail(**fields) -> dict:
    return {"detail": {key.replace("_", "-"): value for key, value in fields.items()}}


# (pattern, matching event, non-matching event) — every documented example both ways.
DOCUMENTED = {
    "ec2 termination": (
        {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["terminated"]},
        },
        EC2_TERMINATED,
        with_detail(EC2_TERMINATED, state="running"),
    ),
    "multiple values are or": (
        {"source": ["aws.ec2", "aws.fargate"]},
        {"source": "aws.fargate"},
        {"source": "aws.s3"},
    ),
    "null value": (
        {
            "source": ["aws.autoscaling"],
            "detail-type": ["EC2 Instance Launch Successful"],
            "detail": {"responseElements": [None]},
        },
        AUTOSCALING,
        with_detail(AUTOSCALING, responseElements=""),
    ),
    "empty string": (
        {"detail": {"eventVersion": [""]}},
        AUTOSCALING,
        with_detail(AUTOSCALING, eventVersion=None),
    ),
    "empty string is not null": (
        {"detail": {"responseElements": [""]}},
        with_detail(AUTOSCALING, responseElements=""),
        AUTOSCALING,
    ),
    "numbers in nested objects": (
        {
            "source": ["aws.macie"],
            "detail-type": ["Macie Alert"],
            "detail": {"risk-score": [80], "trigger": {"risk": [8]}},
        },
        MACIE,
        {**MACIE, "detail": {**MACIE["detail"], "trigger": {"risk": 7}}},
    ),
    "array intersection": (
        {
            "resources": [
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
                "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
            ]
        },
        {
            "resources": [
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            ]
        },
        {"resources": ["arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f"]},
    ),
    "and across fields": (
        {"Location": ["New York"], "Day": ["Monday"]},
        {"Location": "New York", "Day": "Monday"},
        {"Location": "New York", "Day": "Tuesday"},
    ),
    "equals": ({"Name": ["Alice"]}, {"Name": "Alice"}, {"Name": "alice"}),
    "null operator": ({"UserID": [None]}, {"UserID": None}, {"UserID": "null"}),
    "empty operator": ({"LastName": [""]}, {"LastName": ""}, {"LastName": None}),
    "or within a field": (
        {"PaymentType": ["Credit", "Debit"]},
        {"PaymentType": "Debit"},
        {"PaymentType": "Cash"},
    ),
    "prefix": (
        {"time": [{"prefix": "2017-10-02"}]},
        {"time": "2017-10-02T18:43:48Z"},
        {"time": "2017-10-03T18:43:48Z"},
    ),
    "begins with": ({"Region": [{"prefix": "us-"}]}, {"Region": "us-east-1"}, {"Region": "eu-west-1"}),
    "begins with ignoring case": (
        {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]},
        {"service": "EventBridge"},
        {"service": "Lambda"},
    ),
    "prefix ignoring case in detail": (
        {"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}},
        {"detail": {"service": "EVENTBRIDGE"}},
        {"detail": {"service": "SNS"}},
    ),
    "suffix": ({"FileName": [{"suffix": ".png"}]}, {"FileName": "photo.png"}, {"FileName": "photo.PNG"}),
    "suffix from readme": ({"source": [{"suffix": "ec2"}]}, {"source": "aws.ec2"}, {"source": "aws.ecs"}),
    "ends with ignoring case": (
        {"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]},
        {"service": "EVENTBRIDGE"},
        {"service": "EventBus"},
    ),
    "suffix ignoring case on file names": (
        {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]},
        {"FileName": "photo.PNG"},
        {"FileName": "photo.jpg"},
    ),
    "equals ignore case": (
        {"Name": [{"equals-ignore-case": "alice"}]},
        {"Name": "ALICE"},
        {"Name": "Alicia"},
    ),
    "equals ignore case on detail-type": (
        {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
        EC2_TERMINATED,
        {"detail-type": "EC2 Instance Launch Successful"},
    ),
    "anything-but string": (
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        detail(state="running"),
        detail(state="initializing"),
    ),
    "anything-but number": (
        {"detail": {"x-limit": [{"anything-but": 123}]}},
        detail(x_limit=124),
        detail(x_limit=123),
    ),
    "anything-but string list": (
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        detail(state="running"),
        detail(state="overloaded"),
    ),
    "anything-but number list": (
        {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
        detail(x_limit=301.8),
        detail(x_limit=200),
    ),
    "not": ({"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Sunny"}, {"Weather": "Raining"}),
    "anything-but prefix": (
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        detail(state="running"),
        detail(state="initializing"),
    ),
    "anything-but begins with": (
        {"Region": [{"anything-but": {"prefix": "us-"}}]},
        {"Region": "eu-west-1"},
        {"Region": "us-east-2"},
    ),
    "anything-but suffix": (
        {"FileName": [{"anything-but": {"suffix": ".png"}}]},
        {"FileName": "notes.txt"},
        {"FileName": "photo.png"},
    ),
    "anything-but suffix in detail": (
        {"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}},
        detail(FileName="photo.png"),
        detail(FileName="notes.txt"),
    ),
    "anything-but ignore case": (
        {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]},
        {"state": "running"},
        {"state": "INITIALIZING"},
    ),
    "anything-but ignore case list": (
        {"detail": {"state": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]}},
        detail(state="running"),
        detail(state="Stopped"),
    ),
    "anything-but wildcard": (
        {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"FilePath": "/usr/bin/python"},
        {"FilePath": "/usr/lib/python"},
    ),
    "anything-but wildcard list": (
        {"detail": {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}},
        detail(FilePath="/home/me/notes"),
        detail(FilePath="/usr/bin/python"),
    ),
    "numeric range and bounds": (
        {
            "detail": {
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"numeric": ["=", 3.018e2]}],
            }
        },
        EC2_RUNNING,
        with_detail(EC2_RUNNING, c_count=6),
    ),
    "numeric equals": ({"Price": [{"numeric": ["=", 100]}]}, {"Price": 100.0}, {"Price": 100.5}),
    "numeric range": ({"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20}, {"Price": 10}),
    "ipv4 cidr": (
        {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}},
        detail(sourceIPAddress="10.0.0.24"),
        detail(sourceIPAddress="10.0.1.24"),
    ),
    "ipv4 cidr from readme": (
        {"detail": {"source-ip": [{"cidr": "10.0.0.0/8"}]}},
        EC2_RUNNING,
        with_detail(EC2_RUNNING, source_ip="11.0.0.33"),
    ),
    "ipv6 cidr": (
        {"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}},
        detail(sourceIPAddress="2001:db8:1234::1"),
        detail(sourceIPAddress="2001:db9::1"),
    ),
    "exists true": ({"ProductName": [{"exists": True}]}, {"ProductName": "Widget"}, {"Product": "Widget"}),
    "does not exist": (
        {"ProductName": [{"exists": False}]},
        {"Product": "Widget"},
        {"ProductName": "Widget"},
    ),
    "exists false on a missing leaf": (
        {"detail": {"c-count": [{"exists": False}]}},
        {
            "detail-type": ["EC2 Instance State-change Notification"],
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
            "detail": {"state": ["initializing", "running"]},
        },
        detail(c_count=5),
    ),
    "exists false on an intermediate node": (
        {"detail": {"c-count": [{"exists": False}]}},
        {"detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}},
        {"detail": {"state": ["initializing", "running"], "c-count": [0]}},
    ),
    "complex example": (
        {
            "time": [{"prefix": "2017-10-02"}],
            "detail": {
                "state": [{"anything-but": "initializing"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"anything-but": [100, 200, 300]}],
                "source-ip": [{"cidr": "10.0.0.0/8"}],
            },
        },
        EC2_RUNNING,
        with_detail(EC2_RUNNING, state="initializing"),
    ),
    "or over numeric fields": (
        {
            "detail": {
                "$or": [
                    {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                    {"d-count": [{"numeric": ["<", 10]}]},
                    {"x-limit": [{"numeric": ["=", 3.018e2]}]},
                ]
            }
        },
        detail(c_count=50, d_count=50, x_limit=301.8),
        detail(c_count=50, d_count=50, x_limit=302),
    ),
    "or with source": (
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/ES"},
        {"source": "aws.cloudwatch", "metricName": "WriteLatency", "namespace": "AWS/S3"},
    ),
    "or multiple fields": (
        {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]},
        {"Location": "Boston", "Day": "Monday"},
        {"Location": "Boston", "Day": "Friday"},
    ),
    "or with an and inside": (
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"]},
                {"scope": ["Service"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2"},
        {"source": "aws.cloudwatch", "metricType": "Other", "namespace": "AWS/EC2"},
    ),
    "nested or": (
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "spaceId": 1000},
        {"source": "aws.cloudwatch", "metricType": "MetricType", "spaceId": 1001},
    ),
    "wildcard": (
        {"FileName": [{"wildcard": "dir/*.png"}]},
        {"FileName": "dir/photo.png"},
        {"FileName": "other/photo.png"},
    ),
    "wildcard event bus arn": (
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
        {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/orders"},
        {"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/orders"},
    ),
    "wildcard from readme": (
        {"source": [{"wildcard": "Simple*Service"}]},
        {"source": "SimpleQueueService"},
        {"source": "SimpleQueueServices"},
    ),
    "kafka json value": (
        {"value": {"device_ID": [{"prefix": "AB"}]}},
        {"value": {"device_ID": "AB1234", "session": {"start_time": "t", "duration": 162}}},
        {"value": {"device_ID": "CD1234"}},
    ),
}


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_example_matches_its_event(name):
    pattern, positive, _ = DOCUMENTED[name]
    assert matches(pattern, positive) is True


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_example_rejects_a_near_miss(name):
    pattern, _, negative = DOCUMENTED[name]
    assert matches(pattern, negative) is False


def test_pattern_and_event_may_be_json_text():
    assert matches(json.dumps({"source": ["aws.ec2"]}), json.dumps(EC2_TERMINATED))


# ------------------------------------------------------------------------------- operators one by one


def test_exact_string_is_case_sensitive_and_typed():
    assert match_exact("running", "running")
    assert not match_exact("Running", "running")
    assert not match_exact(5, "5")


def test_exact_number_compares_numerically():
    assert match_exact(300, 300.0)
    assert match_exact(3.0e2, 300)
    assert not match_exact("300", 300)


def test_exact_booleans_are_not_numbers():
    assert match_exact(True, True)
    assert not match_exact(1, True)
    assert not match_exact(True, 1)
    assert not match_exact(False, None)


def test_ip_address_value_matches_any_notation():
    import ipaddress

    address = ipaddress.ip_address("2001:db8::1")
    assert match_ip_address("2001:DB8:0:0::1", address)
    assert not match_ip_address("2001:db8::2", address)
    assert matches({"ip": ["10.0.0.1"]}, {"ip": "10.0.0.1"})


def test_prefix_matches_start_of_string_only():
    assert match_prefix("us-east-1", "us-")
    assert not match_prefix("eu-us-1", "us-")
    assert not match_prefix(123, "1")


def test_prefix_ignore_case():
    assert match_prefix("EVENTBRIDGE", "eventb", ignore_case=True)
    assert not match_prefix("EVENTBRIDGE", "eventb")


def test_suffix_matches_end_of_string_only():
    assert match_suffix("a.png", ".png")
    assert not match_suffix("a.png.txt", ".png")
    assert match_suffix("A.PNG", ".png", ignore_case=True)


def test_equals_ignore_case_needs_whole_string():
    assert match_equals_ignore_case("Alice", "ALICE")
    assert not match_equals_ignore_case("Alicia", "alice")
    assert not match_equals_ignore_case(None, "null")


def test_wildcard_star_matches_any_run_including_empty():
    regex = wildcard_regex("a*b*c")
    assert match_wildcard("abc", regex)
    assert match_wildcard("a-xx-b-yy-c", regex)
    assert not match_wildcard("abcd", regex)


def test_wildcard_escaped_star_is_literal():
    regex = wildcard_regex(r"price\*")
    assert match_wildcard("price*", regex)
    assert not match_wildcard("prices", regex)


def test_wildcard_escaped_backslash_is_literal():
    assert match_wildcard("a\\b", wildcard_regex("a\\\\b"))


def test_wildcard_regex_metacharacters_are_literal():
    assert not match_wildcard("aXc", wildcard_regex("a.c"))
    assert match_wildcard("a.c", wildcard_regex("a.c"))


def test_numeric_bounds_open_and_closed():
    assert match_numeric(5, ((">", 0), ("<=", 5)))
    assert not match_numeric(0, ((">", 0), ("<=", 5)))
    assert match_numeric(0, ((">=", 0), ("<", 5)))
    assert not match_numeric(5, ((">=", 0), ("<", 5)))


def test_numeric_ignores_strings_booleans_and_out_of_range():
    assert not match_numeric("5", ((">", 0),))
    assert not match_numeric(True, ((">", 0),))
    assert not match_numeric(6e9, ((">", 0),))


def test_numbers_compare_exactly_to_six_decimals_without_rounding():
    # event-ruler's ComparableNumber compares exact decimals of at most six places; it does not round.
    assert matches({"x": [{"numeric": ["=", 0.3]}]}, {"x": 0.3})
    assert matches({"x": [{"numeric": ["=", 0.300001]}]}, {"x": 0.3000010})
    assert not matches({"x": [{"numeric": ["=", 0.3]}]}, {"x": 0.300001})
    assert matches({"x": [{"numeric": [">", 0.123456]}]}, {"x": 0.123457})


def test_an_event_number_beyond_six_decimals_is_no_number_to_numeric():
    # 0.1 + 0.2 is 0.30000000000000004 in JSON: 17 decimals, outside the numeric domain.
    assert not matches({"x": [{"numeric": ["=", 0.3]}]}, {"x": 0.1 + 0.2})
    assert not matches({"x": [{"numeric": [">", 0]}]}, {"x": 0.1234567})
    assert not matches({"x": [0.3]}, {"x": 0.1 + 0.2})
    assert matches({"x": [0.1234567]}, {"x": 0.1234567})  # the literal match still holds


def test_a_pattern_number_beyond_six_decimals_is_refused():
    with pytest.raises(InvalidEventPatternException, match="Only values upto 6 decimals are supported"):
        matches({"x": [{"numeric": [">", 0.1234567]}]}, {"x": 1})


def test_a_dotted_pattern_name_matches_the_nested_field():
    event = {"detail": {"state": {"status": "running"}}}

    assert matches({"detail": {"state.status": ["running"]}}, event)
    assert not matches({"detail": {"state.status": ["stopped"]}}, event)


def test_a_nested_pattern_matches_the_dotted_field():
    event = {"detail": {"state.status": "running"}}

    assert matches({"detail": {"state": {"status": ["running"]}}}, event)
    assert matches({"detail.state.status": ["running"]}, event)
    assert not matches({"detail": {"state": {"status": ["stopped"]}}}, event)


def test_dotted_and_nested_names_of_one_path_are_one_object():
    pattern = {"detail": {"state.status": ["running"], "state": {"code": [16]}}}

    assert matches(pattern, {"detail": {"state": {"status": "running", "code": 16}}})
    assert matches(pattern, {"detail": {"state.status": "running", "state": {"code": 16}}})
    assert not matches(pattern, {"detail": {"state": {"status": "running", "code": 48}}})


def test_cidr_checks_family_and_range():
    import ipaddress

    net = ipaddress.ip_network("10.0.0.0/24")
    assert match_cidr("10.0.0.255", net)
    assert not match_cidr("10.0.1.0", net)
    assert not match_cidr("::ffff:10.0.0.1", net)
    assert not match_cidr("not-an-ip", net)


def test_anything_but_negates_every_excluded_predicate():
    excluded = (lambda v: v == "a", lambda v: v == "b")
    assert match_anything_but("c", excluded)
    assert not match_anything_but("b", excluded)


def test_anything_but_never_matches_a_missing_field():
    assert not matches({"state": [{"anything-but": "x"}]}, {"other": 1})


def test_anything_but_passes_values_of_another_type():
    assert matches({"state": [{"anything-but": {"prefix": "init"}}]}, {"state": 42})


def test_anything_but_on_array_matches_when_any_element_is_not_excluded():
    assert matches({"tags": [{"anything-but": "a"}]}, {"tags": ["a", "b"]})
    assert not matches({"tags": [{"anything-but": "a"}]}, {"tags": ["a"]})


def test_exists_true_matches_null_and_empty_string():
    assert matches({"x": [{"exists": True}]}, {"x": None})
    assert matches({"x": [{"exists": True}]}, {"x": ""})


def test_exists_on_arrays():
    assert matches({"tags": [{"exists": False}]}, {"tags": []})
    assert not matches({"tags": [{"exists": True}]}, {"tags": []})
    assert matches({"tags": [{"exists": True}]}, {"tags": ["a"]})


def test_exists_true_does_not_match_an_object():
    assert not matches({"detail": {"c-count": [{"exists": True}]}}, {"detail": {"c-count": {"c1": 1}}})


def test_exists_false_matches_when_parent_is_missing():
    assert matches({"detail": {"c-count": [{"exists": False}]}}, {"source": "x"})


def test_leaf_list_mixes_exists_and_values():
    pattern = {"state": ["running", {"exists": False}]}
    assert matches(pattern, {"other": 1})
    assert matches(pattern, {"state": "running"})
    assert not matches(pattern, {"state": "stopped"})


def test_array_of_objects_needs_one_element_to_satisfy_all_fields():
    event = {
        "employees": [
            {"firstName": "John", "lastName": "Doe"},
            {"firstName": "Anna", "lastName": "Smith"},
            {"firstName": "Peter", "lastName": "Jones"},
        ]
    }
    assert matches({"employees": {"firstName": ["Anna"]}}, event)
    assert matches({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, event)
    assert not matches({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, event)


def test_nested_arrays_are_crushed():
    event = {"employees": [[{"firstName": "John"}, {"firstName": "Anna"}], [{"firstName": "Peter"}]]}
    assert matches({"employees": {"firstName": ["Peter"]}}, event)


def test_pattern_object_does_not_match_a_scalar():
    assert not matches({"detail": {"state": ["x"]}}, {"detail": "x"})


def test_field_names_are_case_sensitive():
    assert not matches({"Source": ["aws.ec2"]}, EC2_TERMINATED)


# ------------------------------------------------------------------------------------------ validation

INVALID = {
    "not json": ("{source: [", "Expecting property name"),
    "not an object": ("[1]", "Filter is not an object"),
    "empty object": ({}, "Empty objects are not allowed"),
    "empty nested object": ({"detail": {}}, "Empty objects are not allowed"),
    "empty array": ({"source": []}, "Empty arrays are not allowed"),
    "scalar field": ({"source": "aws.ec2"}, '"source" must be an object or an array'),
    "array in values": ({"source": [["a"]]}, "Match value must be String, number, true, false, or null"),
    "unknown operator": ({"a": [{"regex": "x"}]}, "Unrecognized match type regex"),
    "empty match expression": ({"a": [{}]}, "Match expression name not found"),
    "two operators": ({"a": [{"prefix": "a", "suffix": "b"}]}, "Only one key allowed in match expression"),
    "prefix number": ({"a": [{"prefix": 1}]}, "prefix match pattern must be a string"),
    "prefix unknown modifier": (
        {"a": [{"prefix": {"wildcard": "x"}}]},
        "Unsupported prefix pattern: wildcard",
    ),
    "suffix number": ({"a": [{"suffix": 1}]}, "suffix match pattern must be a string"),
    "equals-ignore-case number": ({"a": [{"equals-ignore-case": 1}]}, "equals-ignore-case match pattern"),
    "exists string": ({"a": [{"exists": "true"}]}, "exists match pattern must be either true or false."),
    "numeric not array": ({"a": [{"numeric": 5}]}, "Value of numeric must be an array."),
    "numeric bad operator": ({"a": [{"numeric": ["!=", 5]}]}, "Unrecognized numeric range operator: !="),
    "numeric string value": ({"a": [{"numeric": [">", "5"]}]}, "Value of > must be numeric"),
    "numeric upper first": (
        {"a": [{"numeric": ["<", 5, ">", 1]}]},
        "Too many elements in numeric expression",
    ),
    "numeric bad upper": ({"a": [{"numeric": [">", 1, ">", 5]}]}, "Bad numeric range operator: >"),
    "numeric empty range": ({"a": [{"numeric": [">", 5, "<", 1]}]}, "Bottom must be less than top"),
    "numeric out of range": ({"a": [{"numeric": [">", 6e9]}]}, "-5.0E9 and +5.0E9"),
    "cidr without slash": ({"a": [{"cidr": "10.0.0.1"}]}, "Malformed CIDR, one '/' required"),
    "cidr bad address": ({"a": [{"cidr": "10.0.0.300/24"}]}, "Nonstandard IP address: 10.0.0.300"),
    "wildcard consecutive": ({"a": [{"wildcard": "a**b"}]}, "Consecutive wildcard characters at pos 2"),
    "wildcard bad escape": ({"a": [{"wildcard": "a\\b"}]}, "Invalid escape character at pos 2"),
    "wildcard trailing escape": ({"a": [{"wildcard": "a\\"}]}, "Invalid escape character at pos 2"),
    "anything-but boolean": (
        {"a": [{"anything-but": True}]},
        "must be an array or single string/number value",
    ),
    "anything-but mixed list": ({"a": [{"anything-but": ["a", 1]}]}, "mixed type is not supported"),
    "anything-but null in list": ({"a": [{"anything-but": [None]}]}, "start|null|boolean is not supported"),
    "anything-but unknown": (
        {"a": [{"anything-but": {"numeric": [">", 1]}}]},
        "Unsupported anything-but pattern",
    ),
    "anything-but empty prefix": (
        {"a": [{"anything-but": {"prefix": ""}}]},
        "Null prefix/suffix not allowed",
    ),
    "anything-but prefix number": ({"a": [{"anything-but": {"prefix": 1}}]}, "prefix/suffix match pattern"),
    "anything-but bad wildcard": ({"a": [{"anything-but": {"wildcard": "**"}}]}, "Consecutive wildcard"),
    "or not array": ({"$or": {"a": ["b"]}}, "It must be an Array followed with $or."),
    "or single branch": ({"$or": [{"a": ["b"]}]}, "There must have at least 2 Objects in $or relationship."),
    "or with scalar": ({"$or": [{"a": ["b"]}, "c"]}, "Only JSON object is allowed in array of $or"),
    "or reserved name": (
        {"$or": [{"numeric": [1]}, {"prefix": ["a"]}]},
        "numeric is Ruler reserved fieldName which cannot be used inside $or.",
    ),
}


@pytest.mark.parametrize("name", INVALID)
def test_invalid_pattern_is_rejected_with_aws_reason(name):
    pattern, reason = INVALID[name]
    with pytest.raises(InvalidEventPatternException) as caught:
        validate_pattern(pattern)
    assert str(caught.value).startswith("Event pattern is not valid. Reason: ")
    assert reason in caught.value.reason


def test_valid_pattern_validates_silently():
    assert validate_pattern(DOCUMENTED["complex example"][0]) is None


def test_matching_an_invalid_pattern_raises():
    with pytest.raises(InvalidEventPatternException):
        matches({"source": "aws.ec2"}, EC2_TERMINATED)


def test_compiled_pattern_matches_many_events():
    compiled = compile_pattern({"detail": {"state": ["running"]}})
    assert compiled.matches(EC2_RUNNING)
    assert not compiled.matches(EC2_TERMINATED)


# ------------------------------------------------------------------------------ Lambda FilterCriteria


def kafka_record(value: bytes | None) -> dict:
    return {
        "topic": "mytopic",
        "partition": 0,
        "offset": 15,
        "timestamp": 1545084650987,
        "timestampType": "CREATE_TIME",
        "value": None if value is None else base64.b64encode(value).decode(),
        "headers": [],
    }


DEVICE_FILTER = [{"Pattern": '{ "value" : { "device_ID" : [ { "prefix": "AB" } ] } }'}]


def test_kafka_filter_matches_decoded_json_value():
    record = kafka_record(b'{"device_ID": "AB1234", "session": {"start_time": "x", "duration": 162}}')
    assert matches_filter_criteria(DEVICE_FILTER, record)


def test_kafka_filter_rejects_other_json_value():
    assert not matches_filter_criteria(DEVICE_FILTER, kafka_record(b'{"device_ID": "CD1234"}'))


def test_kafka_filter_looking_inside_plain_text_never_matches():
    assert not matches_filter_criteria(DEVICE_FILTER, kafka_record(b"Hello, this is a test."))


def test_kafka_plain_text_value_matches_a_leaf_pattern_on_value():
    filters = [{"Pattern": '{"value": [{"prefix": "Hello"}]}'}]
    assert matches_filter_criteria(filters, kafka_record(b"Hello, this is a test."))


def test_kafka_binary_value_matches_only_patterns_not_reading_it():
    record = kafka_record(b"\xff\xfe\x00")
    assert not matches_filter_criteria([{"Pattern": '{"value": [{"prefix": ""}]}'}], record)
    assert matches_filter_criteria([{"Pattern": '{"partition": [0]}'}], record)


def test_filters_are_ored():
    filters = [{"Pattern": '{"value": {"device_ID": ["X"]}}'}, {"Pattern": '{"value": {"device_ID": ["Y"]}}'}]
    assert matches_filter_criteria(filters, kafka_record(b'{"device_ID": "Y"}'))
    assert not matches_filter_criteria(filters, kafka_record(b'{"device_ID": "Z"}'))


def test_no_filters_pass_every_record():
    assert matches_filter_criteria([], kafka_record(b"x"))
    assert matches_filter_criteria({"Filters": []}, kafka_record(b"x"))
    assert matches_filter_criteria(None, kafka_record(b"x"))


def test_filter_criteria_object_is_accepted():
    assert matches_filter_criteria({"Filters": DEVICE_FILTER}, kafka_record(b'{"device_ID": "AB1"}'))


def test_sqs_body_is_parsed_for_filtering():
    record = {"messageId": "1", "body": '{"RequestCode": "BBBB"}'}
    assert matches_filter_criteria([{"Pattern": '{"body": {"RequestCode": ["BBBB"]}}'}], record)


# ------------------------------------------------------------------ poison payloads (issue 9, "Faults")

POISON = b"[" * 5000 + b"]" * 5000  # the 10 KB record that made `localfaas run` die with RecursionError
VALUE_FIELD = [{"Pattern": '{"value": {"type": ["AccessDenied"]}}'}]


def nested_list(depth: int, leaf: object) -> list:
    outer: list = []
    inner = outer
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    inner.append(leaf)
    return outer


def test_deeply_nested_value_does_not_match_a_json_pattern_and_does_not_raise():
    assert not matches_filter_criteria(VALUE_FIELD, kafka_record(POISON))


def test_too_deep_value_is_matched_as_its_plain_text():
    # Nested past MAX_JSON_DEPTH it is "not valid JSON": a plain string, as kafka-filtering treats one.
    assert matches_filter_criteria([{"Pattern": '{"value": [{"prefix": "[[[["}]}'}], kafka_record(POISON))
    assert not matches_filter_criteria([{"Pattern": '{"value": [{"prefix": "]"}]}'}], kafka_record(POISON))


def test_depth_limit_is_the_same_whatever_the_callers_stack():
    from localfaas.pattern import MAX_JSON_DEPTH

    at_limit = (
        b'{"type": ' + b"[" * (MAX_JSON_DEPTH - 1) + b'"AccessDenied"' + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    )
    beyond = b'{"type": ' + b"[" * MAX_JSON_DEPTH + b'"AccessDenied"' + b"]" * MAX_JSON_DEPTH + b"}"

    def at_depth(frames: int, record: dict) -> bool:
        return at_depth(frames - 1, record) if frames else matches_filter_criteria(VALUE_FIELD, record)

    for frames in (0, 300):  # a deep caller used to turn a parse into a RecursionError
        assert at_depth(frames, kafka_record(at_limit))  # arrays match by any element, at any depth
        assert not at_depth(frames, kafka_record(beyond))


def test_brackets_inside_strings_do_not_count_as_depth():
    from localfaas.pattern import json_depth

    assert json_depth('["]]][[[", {"a": "\\"[["}, []]') == 2
    assert json_depth('["unterminated [[[') == 1  # the string runs to the end: only the first bracket counts
    assert json_depth('[[], [[]], {"a": [{}]}]') == 4
    assert json_depth("[" * 5000 + "]" * 5000) == 5000


def test_invalid_utf8_invalid_base64_and_invalid_json_values_answer():
    cases = [
        kafka_record(b"\xff\xfe" + POISON),  # not UTF-8
        {"topic": "t", "partition": 0, "offset": 0, "value": "%%% not base64"},
        kafka_record(b'{"type": "AccessDenied"'),  # truncated JSON: plain text
        kafka_record(b"\x00" * 10_000),
    ]
    for record in cases:
        assert not matches_filter_criteria(VALUE_FIELD, record)


def test_sqs_body_nested_too_deep_is_plain_text():
    record = {"body": POISON.decode()}
    assert not matches_filter_criteria([{"Pattern": '{"body": {"a": ["b"]}}'}], record)
    assert matches_filter_criteria([{"Pattern": '{"body": [{"prefix": "[["}]}'}], record)


def test_deep_eventbridge_events_against_rule_patterns_do_not_raise():
    deep_arrays = {"source": "storefront", "detail": {"tags": nested_list(20_000, "vip")}}
    assert matches({"detail": {"tags": ["vip"]}}, deep_arrays)  # any element of nested arrays, iteratively
    assert not matches({"detail": {"tags": ["other"]}}, deep_arrays)
    deep_objects: dict = {}
    inner = deep_objects
    for _ in range(20_000):
        inner["a"] = {}
        inner = inner["a"]
    event = {"source": "storefront", "detail": deep_objects}
    # An object is not a leaf: only exists:false matches it; the walk goes no deeper than the pattern.
    assert matches({"source": ["storefront"], "detail": {"a": {"a": {"a": [{"exists": False}]}}}}, event)
    assert not matches({"detail": {"a": {"a": ["x"]}}}, event)


def test_event_text_nested_too_deep_is_refused_as_invalid_json():
    with pytest.raises(ValueError, match="nested deeper"):
        matches({"source": ["x"]}, '{"source": "x", "detail": ' + POISON.decode() + "}")


def test_pattern_nested_past_the_recursion_limit_is_invalid_not_a_crash():
    deep: dict = {"a": ["x"]}
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(InvalidEventPatternException, match="nested too deeply"):
        compile_pattern(deep)
    with pytest.raises(InvalidEventPatternException, match="nested deeper"):
        compile_pattern('{"a": ' * 5000 + '["x"]' + "}" * 5000)


def kinesis_record(data: bytes) -> dict:
    """The `kinesis` object of a Kinesis record, as Lambda filters it ("Using event filtering with a
    Kinesis event source")."""
    return {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "1",
        "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
        "data": base64.b64encode(data).decode(),
        "approximateArrivalTimestamp": 1545084650.987,
    }


def test_kinesis_filter_matches_decoded_json_data():
    filters = [{"Pattern": '{"data": {"order": {"type": ["buy"]}}}'}]
    buy = b'{"record": 12345, "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000}}'
    assert matches_filter_criteria(filters, kinesis_record(buy))
    assert not matches_filter_criteria(filters, kinesis_record(buy.replace(b"buy", b"sell")))
    assert not matches_filter_criteria(filters, kinesis_record(b"not json at all"))
