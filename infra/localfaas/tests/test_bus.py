"""The EventBridge bus: PutEvents as AWS answers it, rule delivery, retry policy and DLQ, input
transformation, archive and replay. Time is virtual: minutes of backoff cost nothing."""

from __future__ import annotations

import itertools
import json

import pytest

from localfaas.bus import (
    DeliveryFailed,
    EventBridgeError,
    EventBus,
    JsonLinesArchiveStore,
    Rule,
    Target,
    archives_from_resources,
    entry_size,
    json_path,
    render_input_template,
    rules_from_resources,
)
from localfaas.pattern import MISSING
from localfaas.scheduler import VirtualScheduler

ACCOUNT, REGION = "123456789012", "us-east-1"
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:notify"


def rule_resource(pattern, targets=None, **props) -> dict:
    targets = targets if targets is not None else [{"Id": "t1", "Arn": FUNCTION_ARN}]
    return {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": pattern, "Targets": targets, **props}}


def entry(detail=None, **fields) -> dict:
    return {
        "Source": "storefront.accounts",
        "DetailType": "AccountCreated",
        "Detail": json.dumps(detail or {"a": 1}),
        **fields,
    }


class Target_:
    """A `deliver` stub: records (time, target id, payload) and fails as scripted per target id."""

    def __init__(self, clock, failures: dict[str, list[DeliveryFailed]] | None = None, always_fail=None):
        self.clock = clock
        self.failures = failures or {}
        self.always_fail = always_fail
        self.calls: list[tuple[float, str, object]] = []

    def __call__(self, target: Target, payload) -> None:
        self.calls.append((self.clock.now(), target.id, payload))
        if self.always_fail is not None:
            raise self.always_fail
        scripted = self.failures.get(target.id)
        if scripted:
            raise scripted.pop(0)

    @property
    def payloads(self) -> list:
        return [payload for _, _, payload in self.calls]


class Dlq:
    def __init__(self):
        self.messages: list[tuple[str, dict, dict]] = []

    def __call__(self, arn, body, attributes):
        self.messages.append((arn, json.loads(body), {k: v["StringValue"] for k, v in attributes.items()}))


def make_bus(*resources, failures=None, always_fail=None, **kwargs):
    clock = VirtualScheduler(START)
    deliver = Target_(clock, failures, always_fail)
    dlq = Dlq()
    rules = [Rule.from_resource(f"Rule{i}", r) for i, r in enumerate(resources)]
    bus = EventBus(
        "default", rules, deliver, clock=clock, account_id=ACCOUNT, region=REGION, send_to_dlq=dlq, **kwargs
    )
    return bus, clock, deliver, dlq


ALL = {"source": ["storefront.accounts"]}

# ------------------------------------------------------------------------------------------- PutEvents


def test_put_events_delivers_the_aws_envelope():
    bus, clock, deliver, _ = make_bus(rule_resource(ALL))
    response = bus.put_events([entry({"customerId": "c1"}, Resources=["arn:x"])])
    clock.run_until_idle()
    event_id = response["Entries"][0]["EventId"]
    assert response["FailedEntryCount"] == 0
    assert deliver.payloads == [
        {
            "version": "0",
            "id": event_id,
            "detail-type": "AccountCreated",
            "source": "storefront.accounts",
            "account": ACCOUNT,
            "time": "2023-11-14T22:13:20Z",
            "region": REGION,
            "resources": ["arn:x"],
            "detail": {"customerId": "c1"},
        }
    ]
    assert list(deliver.payloads[0]) == [
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail",
    ]  # fmt: skip


def test_delivery_is_asynchronous_until_the_scheduler_runs():
    bus, clock, deliver, _ = make_bus(rule_resource(ALL))
    bus.put_events([entry()])
    assert deliver.calls == []
    clock.run_until_idle()
    assert len(deliver.calls) == 1


def test_entry_time_is_used_in_the_envelope():
    bus, clock, deliver, _ = make_bus(rule_resource(ALL))
    bus.put_events([entry(Time="2017-12-22T18:43:48Z"), entry(Time=1513968228.9)])
    clock.run_until_idle()
    assert [p["time"] for p in deliver.payloads] == ["2017-12-22T18:43:48Z", "2017-12-22T18:43:48Z"]


@pytest.mark.parametrize(
    ("bad", "code", "message"),
    [
        (
            {"Source": None},
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is a required argument.",
        ),
        (
            {"DetailType": ""},
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
        ),
        (
            {"Detail": None},
            "InvalidArgument",
            "Parameter Detail is not valid. Reason: Detail is a required argument.",
        ),
        ({"Detail": "{not json"}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": "[1, 2]"}, "MalformedDetail", "Detail is malformed."),
        ({"Source": "aws.ec2"}, "NotAuthorizedForSourceException", "Not authorized for the source."),
        ({"EventBusName": "orders"}, "ResourceNotFoundException", "Event bus orders does not exist."),
    ],
)
def test_invalid_entry_fails_alone_with_aws_error(bad, code, message):
    bus, clock, deliver, _ = make_bus(rule_resource({"detail-type": ["AccountCreated"]}))
    response = bus.put_events([entry(), {**entry(), **bad}])
    clock.run_until_idle()
    assert response["FailedEntryCount"] == 1
    assert "EventId" in response["Entries"][0]
    assert response["Entries"][1] == {"ErrorCode": code, "ErrorMessage": message}
    assert len(deliver.calls) == 1


def test_entry_may_name_this_bus_by_name_or_arn():
    bus, _, _, _ = make_bus(rule_resource(ALL))
    response = bus.put_events([entry(EventBusName="default"), entry(EventBusName=bus.arn)])
    assert response["FailedEntryCount"] == 0


def test_more_than_ten_entries_is_a_validation_error():
    bus, _, _, _ = make_bus(rule_resource(ALL))
    with pytest.raises(EventBridgeError) as caught:
        bus.put_events([entry()] * 11)
    assert caught.value.code == "ValidationException"
    assert "less than or equal to 10" in caught.value.message


def test_request_over_256_kb_is_rejected_whole():
    bus, _, _, _ = make_bus(rule_resource(ALL))
    big = entry({"blob": "x" * (256 * 1024)})
    with pytest.raises(EventBridgeError) as caught:
        bus.put_events([big])
    assert caught.value.message == "Total size of the entries in the request is over the limit."


def test_request_just_under_256_kb_is_accepted():
    bus, _, _, _ = make_bus(rule_resource(ALL))
    base = entry({"blob": ""})
    padding = 256 * 1024 - entry_size(base)
    assert bus.put_events([entry({"blob": "x" * padding})])["FailedEntryCount"] == 0


def test_entry_size_counts_time_as_14_bytes_and_utf8_lengths():
    size = entry_size(
        {"Source": "é", "DetailType": "t", "Detail": "{}", "Resources": ["ab", None], "Time": 0}
    )
    assert size == 14 + 2 + 1 + 2 + 2


# -------------------------------------------------------------------------------------------- rules


def test_rule_from_resource_reads_cloudformation_properties():
    rule = Rule.from_resource(
        "OnAccount",
        rule_resource(
            json.dumps(ALL),
            [
                {
                    "Id": "t",
                    "Arn": FUNCTION_ARN,
                    "DeadLetterConfig": {"Arn": QUEUE_ARN},
                    "RetryPolicy": {"MaximumRetryAttempts": 4},
                }
            ],
            Name="on-account",
            EventBusName=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders",
        ),
    )
    assert rule.name == "on-account"
    assert rule.event_bus_name == "orders"
    assert rule.pattern.matches({"source": "storefront.accounts"})
    assert rule.targets[0].dead_letter_arn == QUEUE_ARN
    assert rule.targets[0].retry_policy.maximum_retry_attempts == 4
    assert rule.targets[0].retry_policy.maximum_event_age_seconds == 86_400
    assert rule.arn(ACCOUNT, REGION) == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders/on-account"


def test_rule_defaults_follow_cloudformation():
    rule = Rule.from_resource("OnAccount", rule_resource(ALL))
    assert (rule.name, rule.event_bus_name, rule.state) == ("OnAccount", "default", "ENABLED")
    assert rule.targets[0].retry_policy.maximum_retry_attempts == 185
    assert rule.arn(ACCOUNT, REGION) == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/OnAccount"


def test_rules_from_resources_takes_only_event_rules():
    resources = {"A": rule_resource(ALL), "Q": {"Type": "AWS::SQS::Queue", "Properties": {}}}
    assert [r.name for r in rules_from_resources(resources)] == ["A"]


def test_disabled_rule_and_other_bus_rule_get_nothing():
    bus, clock, deliver, _ = make_bus(
        rule_resource(ALL, [{"Id": "off", "Arn": FUNCTION_ARN}], State="DISABLED"),
        rule_resource(ALL, [{"Id": "elsewhere", "Arn": FUNCTION_ARN}], EventBusName="orders"),
        rule_resource(ALL, [{"Id": "on", "Arn": FUNCTION_ARN}]),
    )
    bus.put_events([entry()])
    clock.run_until_idle()
    assert [target for _, target, _ in deliver.calls] == ["on"]


def test_only_matching_rules_deliver_to_each_of_their_targets():
    bus, clock, deliver, _ = make_bus(
        rule_resource({"detail-type": ["AccountLocked"]}, [{"Id": "locked", "Arn": FUNCTION_ARN}]),
        rule_resource(ALL, [{"Id": "a", "Arn": FUNCTION_ARN}, {"Id": "b", "Arn": QUEUE_ARN}]),
    )
    bus.put_events([entry()])
    clock.run_until_idle()
    assert sorted(target for _, target, _ in deliver.calls) == ["a", "b"]


def test_schedule_rule_without_pattern_matches_no_event():
    bus, clock, deliver, _ = make_bus(
        {"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(1 minute)"}}
    )
    bus.put_events([entry()])
    clock.run_until_idle()
    assert deliver.calls == []


# ------------------------------------------------------------------------------------ retry and DLQ


def retryable(reason="target unavailable"):
    return DeliveryFailed(True, reason)


def with_policy(**policy) -> dict:
    target = {"Id": "t1", "Arn": FUNCTION_ARN, "DeadLetterConfig": {"Arn": QUEUE_ARN}}
    if policy:
        target["RetryPolicy"] = policy
    return rule_resource(ALL, [target])


def test_retryable_failures_are_retried_until_delivered():
    bus, clock, deliver, dlq = make_bus(
        with_policy(), failures={"t1": [retryable(), retryable(), retryable()]}
    )
    bus.put_events([entry()])
    clock.run_until_idle()
    assert len(deliver.calls) == 4
    assert dlq.messages == []
    assert [(o.result, o.attempts) for o in bus.outcomes] == [("delivered", 4)]


def test_retries_back_off_exponentially_in_virtual_time():
    bus, clock, deliver, _ = make_bus(with_policy(), failures={"t1": [retryable()] * 6})
    bus.put_events([entry()])
    clock.run_until_idle()
    times = [at for at, _, _ in deliver.calls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert times[0] == START
    assert all(2**n / 2 <= gap <= 2**n for n, gap in enumerate(gaps))
    assert gaps[-1] > gaps[0]


def test_exhausted_retry_attempts_send_event_to_dlq_with_aws_attributes():
    bus, clock, deliver, dlq = make_bus(
        with_policy(MaximumRetryAttempts=2), always_fail=retryable("503 from target")
    )
    response = bus.put_events([entry({"customerId": "c1"})])
    clock.run_until_idle()
    assert len(deliver.calls) == 3
    [(arn, body, attributes)] = dlq.messages
    assert arn == QUEUE_ARN
    assert body["id"] == response["Entries"][0]["EventId"]
    assert body["detail"] == {"customerId": "c1"}
    assert attributes == {
        "RULE_ARN": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Rule0",
        "TARGET_ARN": FUNCTION_ARN,
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "503 from target",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "2",
    }


def test_event_older_than_maximum_age_goes_to_dlq():
    bus, clock, deliver, dlq = make_bus(with_policy(MaximumEventAgeInSeconds=60), always_fail=retryable())
    bus.put_events([entry()])
    clock.run_until_idle()
    [(_, _, attributes)] = dlq.messages
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert deliver.calls[-1][0] - START <= 60
    assert int(attributes["RETRY_ATTEMPTS"]) == len(deliver.calls) - 1


def test_non_retryable_failure_goes_to_dlq_without_retries():
    failure = DeliveryFailed(False, "Function not found", error_code="RESOURCE_NOT_FOUND")
    bus, clock, deliver, dlq = make_bus(with_policy(), always_fail=failure)
    bus.put_events([entry()])
    clock.run_until_idle()
    assert len(deliver.calls) == 1
    [(_, _, attributes)] = dlq.messages
    assert attributes["ERROR_CODE"] == "RESOURCE_NOT_FOUND"
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes


def test_default_policy_gives_up_within_185_retries_and_24_hours():
    bus, clock, deliver, dlq = make_bus(with_policy(), always_fail=retryable())
    bus.put_events([entry()])
    clock.run_until_idle()
    [(_, _, attributes)] = dlq.messages
    assert len(deliver.calls) <= 186
    assert deliver.calls[-1][0] - START <= 86_400
    if attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts":
        assert len(deliver.calls) == 186


def test_same_seed_gives_same_retry_schedule():
    runs = []
    for _ in range(2):
        bus, clock, deliver, _ = make_bus(with_policy(MaximumRetryAttempts=5), always_fail=retryable())
        bus.put_events([entry()])
        clock.run_until_idle()
        runs.append([at for at, _, _ in deliver.calls])
    assert runs[0] == runs[1]


def test_failure_without_dlq_is_dropped():
    bus, clock, _, dlq = make_bus(rule_resource(ALL), always_fail=DeliveryFailed(False, "gone"))
    bus.put_events([entry()])
    clock.run_until_idle()
    assert dlq.messages == []
    assert [(o.result, o.error) for o in bus.outcomes] == [("dropped", "gone")]


def test_dlq_that_cannot_be_written_drops_the_event():
    def broken_dlq(arn, body, attributes):
        raise RuntimeError("queue does not exist")

    clock = VirtualScheduler(START)
    rules = [Rule.from_resource("R", with_policy())]
    deliver = Target_(clock, always_fail=DeliveryFailed(False, "gone"))
    bus = EventBus(
        "default", rules, deliver, clock=clock, account_id=ACCOUNT, region=REGION, send_to_dlq=broken_dlq
    )
    bus.put_events([entry()])
    clock.run_until_idle()
    assert bus.outcomes[0].result == "dropped"


# ---------------------------------------------------------------------------------- target input

EC2 = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
VARIABLES = {
    "timestamp": "2015-11-11T21:29:54Z",
    "instance": "i-0123456789",
    "state": "RUNNING",
    "aws.events.rule-arn": "arn:aws:events:us-east-2:123456789012:rule/example",
    "aws.events.rule-name": "example",
    "aws.events.event": EC2,
}


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ('"instance <instance> is in <state>"', "instance i-0123456789 is in RUNNING"),
        ('"instance \\"<instance>\\" is in <state>"', 'instance "i-0123456789" is in RUNNING'),
        (
            '{\n  "instance" : <instance>,\n  "state": <state>\n}',
            {"instance": "i-0123456789", "state": "RUNNING"},
        ),
        (
            '{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \\"<instance>\\" is in <state>"}',
            {
                "instance": "i-0123456789",
                "state": "RUNNING",
                "instanceStatus": 'instance "i-0123456789" is in RUNNING',
            },
        ),
        (
            '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
            {"instance": "i-0123456789", "state": [9, "RUNNING", True], "Transformed": "Yes"},
        ),
        (
            '{"instance": <instance>, "ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, '
            '"originalEvent": <aws.events.event>}',
            {
                "instance": "i-0123456789",
                "ruleArn": "arn:aws:events:us-east-2:123456789012:rule/example",
                "ruleName": "example",
                "originalEvent": EC2,
            },
        ),
        ('"<aws.events.rule-name> triggered"', "example triggered"),
    ],
)
def test_input_template_renders_documented_examples(template, output):
    assert render_input_template(template, VARIABLES) == output


def test_input_template_leaves_nothing_for_a_missing_path():
    assert render_input_template('"a<gone>b"', {"gone": MISSING}) == "ab"


def test_input_template_keeps_unknown_angle_brackets():
    assert render_input_template('"<b>bold</b>"', {}) == "<b>bold</b>"


def test_input_template_that_is_not_json_is_passed_as_text():
    assert render_input_template("instance <instance>", VARIABLES) == 'instance "i-0123456789"'


def test_json_path_reads_nested_fields_and_indexes():
    assert json_path(EC2, "$.detail.instance-id") == "i-0123456789"
    assert json_path(EC2, "$.resources[0]").endswith("i-abcd1111")
    assert json_path(EC2, "$['detail-type']") == EC2["detail-type"]
    assert json_path(EC2, "$") is EC2
    assert json_path(EC2, "$.detail.missing") is MISSING
    assert json_path(EC2, "$.resources[3]") is MISSING


def test_targets_receive_input_inputpath_or_transformed_event():
    targets = [
        {"Id": "constant", "Arn": FUNCTION_ARN, "Input": '{"fixed": true}'},
        {"Id": "path", "Arn": FUNCTION_ARN, "InputPath": "$.detail"},
        {
            "Id": "transformed",
            "Arn": FUNCTION_ARN,
            "InputTransformer": {
                "InputPathsMap": {"customer": "$.detail.customerId"},
                "InputTemplate": '{"who": <customer>, "rule": <aws.events.rule-name>, "at": <aws.events.event.ingestion-time>}',
            },
        },
    ]
    bus, clock, deliver, _ = make_bus(rule_resource(ALL, targets, Name="accounts"))
    bus.put_events([entry({"customerId": "c1"})])
    clock.run_until_idle()
    received = {target: payload for _, target, payload in deliver.calls}
    assert received["constant"] == {"fixed": True}
    assert received["path"] == {"customerId": "c1"}
    assert received["transformed"] == {"who": "c1", "rule": "accounts", "at": "2023-11-14T22:13:20Z"}


# ----------------------------------------------------------------------------------- archive, replay


def put_at(bus, clock, when, detail):
    clock.run_until_idle(until=when)
    bus.put_events([entry(detail)])


def test_archive_keeps_only_events_matching_its_pattern():
    bus, _clock, _, _ = make_bus(rule_resource(ALL))
    bus.create_archive("locked", {"detail": {"kind": ["locked"]}})
    bus.create_archive("everything")
    bus.put_events([entry({"kind": "locked"}), entry({"kind": "created"})])
    assert [e["detail"]["kind"] for e in bus.archived_events("locked")] == ["locked"]
    assert len(bus.archived_events("everything")) == 2


def test_replay_resends_in_time_order_with_replay_name():
    bus, clock, deliver, _ = make_bus(rule_resource(ALL))
    bus.create_archive("all")
    put_at(bus, clock, START + 10, {"n": 1})
    put_at(bus, clock, START + 20, {"n": 2})
    put_at(bus, clock, START + 30, {"n": 3})
    clock.run_until_idle()
    deliver.calls.clear()
    replay = bus.start_replay("rebuild", "all", START + 15, START + 31)
    clock.run_until_idle()
    assert [p["detail"]["n"] for p in deliver.payloads] == [2, 3]
    assert all(p["replay-name"] == "rebuild" for p in deliver.payloads)
    assert list(deliver.payloads[0])[-1] == "replay-name"
    assert replay["State"] == "COMPLETED"
    assert replay["ReplayArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:replay/rebuild"


def test_replayed_events_are_not_archived_again():
    bus, clock, _, _ = make_bus(rule_resource(ALL))
    bus.create_archive("all")
    bus.put_events([entry()])
    bus.start_replay("again", "all", START - 1, START + 1)
    clock.run_until_idle()
    assert len(bus.archived_events("all")) == 1


def test_replay_reaches_only_the_rules_named_and_patterns_can_exclude_replays():
    bus, clock, deliver, _ = make_bus(
        rule_resource(ALL, [{"Id": "named", "Arn": FUNCTION_ARN}], Name="named"),
        rule_resource(ALL, [{"Id": "other", "Arn": FUNCTION_ARN}], Name="other"),
        rule_resource({"replay-name": [{"exists": False}]}, [{"Id": "live-only", "Arn": FUNCTION_ARN}]),
    )
    bus.create_archive("all")
    bus.put_events([entry()])
    clock.run_until_idle()
    deliver.calls.clear()
    bus.start_replay(
        "r1", "all", START - 1, START + 1, rule_arns=[f"arn:aws:events:{REGION}:{ACCOUNT}:rule/named"]
    )
    bus.start_replay("r2", "all", START - 1, START + 1)
    clock.run_until_idle()
    assert sorted(target for _, target, _ in deliver.calls) == ["named", "named", "other"]


def test_replay_name_must_be_unique_and_archive_must_exist():
    bus, _, _, _ = make_bus(rule_resource(ALL))
    bus.create_archive("all")
    bus.start_replay("r", "all", START - 1, START + 1)
    with pytest.raises(EventBridgeError) as caught:
        bus.start_replay("r", "all", START - 1, START + 1)
    assert caught.value.code == "ResourceAlreadyExistsException"
    with pytest.raises(EventBridgeError) as caught:
        bus.start_replay("s", "none", START - 1, START + 1)
    assert caught.value.code == "ResourceNotFoundException"


def test_archive_retention_drops_old_events():
    bus, clock, _, _ = make_bus(rule_resource(ALL))
    bus.create_archive("week", retention_days=7)
    bus.put_events([entry()])
    clock.advance(6 * 86_400)
    assert len(bus.archived_events("week")) == 1
    clock.advance(2 * 86_400)
    assert bus.archived_events("week") == []


def test_json_lines_archive_survives_a_new_bus(tmp_path):
    store = JsonLinesArchiveStore(tmp_path)
    archive = {"Type": "AWS::Events::Archive", "Properties": {"ArchiveName": "all", "SourceArn": "default"}}
    archives = archives_from_resources({"Archive": archive, "Rule": rule_resource(ALL)})
    first, _clock, _, _ = make_bus(rule_resource(ALL), archive_store=store, archives=archives)
    first.put_events([entry({"n": 1})])
    second, clock2, deliver, _ = make_bus(
        rule_resource(ALL), archive_store=JsonLinesArchiveStore(tmp_path), archives=archives
    )
    second.start_replay("from-disk", "all", START - 1, START + 1)
    clock2.run_until_idle()
    assert [p["detail"] for p in deliver.payloads] == [{"n": 1}]
    assert (tmp_path / "all.jsonl").read_text().count("\n") == 1


def test_archive_resource_for_another_bus_is_ignored():
    archive = {
        "Type": "AWS::Events::Archive",
        "Properties": {
            "SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders",
            "EventPattern": ALL,
        },
    }
    [loaded] = archives_from_resources({"OrdersArchive": archive})
    assert (loaded.name, loaded.event_bus_name) == ("OrdersArchive", "orders")
    bus, _, _, _ = make_bus(rule_resource(ALL), archives=[loaded])
    with pytest.raises(EventBridgeError):
        bus.archived_events("OrdersArchive")


def test_duplicate_archive_is_rejected():
    bus, _, _, _ = make_bus(rule_resource(ALL))
    bus.create_archive("a")
    with pytest.raises(EventBridgeError) as caught:
        bus.create_archive("a")
    assert caught.value.code == "ResourceAlreadyExistsException"


# ----------------------------------------------------------------------------- durability (issue 9)


def durable_bus(tmp_path, *resources, **kwargs):
    from localfaas.durable import DurableStore

    store = DurableStore(tmp_path / "state")
    return (*make_bus(*resources, store=store, **kwargs), store)


def test_an_accepted_entry_is_kept_before_put_events_answers_and_settled_once_delivered(tmp_path):
    two_targets = rule_resource(ALL, [{"Id": "t1", "Arn": FUNCTION_ARN}, {"Id": "t2", "Arn": FUNCTION_ARN}])
    bus, clock, deliver, _, store = durable_bus(tmp_path, two_targets)
    [result] = bus.put_events([entry()])["Entries"]
    assert [event["id"] for event, _ in store.unsettled_events("default")] == [result["EventId"]]
    clock.run_until_idle()
    assert len(deliver.calls) == 2
    assert store.unsettled_events("default") == []
    assert store.event_counts() == {"storefront.accounts/AccountCreated": 1}


def test_an_entry_no_rule_matches_is_settled_at_once(tmp_path):
    bus, _, _, _, store = durable_bus(tmp_path, rule_resource({"source": ["elsewhere"]}))
    bus.put_events([entry()])
    assert store.unsettled_events("default") == []


def test_a_dead_lettered_or_dropped_entry_is_settled(tmp_path):
    bus, clock, _, dlq, store = durable_bus(
        tmp_path, with_policy(), always_fail=DeliveryFailed(False, "gone")
    )
    bus.put_events([entry()])
    clock.run_until_idle()
    assert len(dlq.messages) == 1
    assert store.unsettled_events("default") == []


def test_a_new_bus_on_the_store_resumes_an_unsettled_entry_with_its_id_to_the_targets_left(tmp_path):
    two_targets = rule_resource(ALL, [{"Id": "t1", "Arn": FUNCTION_ARN}, {"Id": "t2", "Arn": FUNCTION_ARN}])
    bus, clock, deliver, _, store = durable_bus(tmp_path, two_targets, failures={"t2": [retryable()]})
    [result] = bus.put_events([entry()])["Entries"]
    clock.run_until_idle(until=START + 0.1)  # t1 delivered, t2 waiting out its backoff: then the kill
    assert [target for _, target, _ in deliver.calls] == ["t1", "t2"]

    again, clock2, deliver2, _, _ = durable_bus(tmp_path, two_targets)
    assert again.resume() == 1
    clock2.run_until_idle()
    assert [(target, payload["id"]) for _, target, payload in deliver2.calls] == [("t2", result["EventId"])]
    assert store.unsettled_events("default") == []
    assert again.resume() == 0


def test_resume_archives_what_the_killed_bus_had_not(tmp_path):
    from localfaas.bus import Archive

    archive = Archive("all", pattern=None)
    bus, _, _, _, store = durable_bus(tmp_path, rule_resource(ALL), archives=[archive])
    store.accept_events("default", [{**bus._envelope(entry()), "id": "e-killed"}])  # kept, then killed
    again, clock, _, _, _ = durable_bus(tmp_path, rule_resource(ALL), archives=[archive])
    again.resume()
    clock.run_until_idle()
    assert [event["id"] for event in again.archived_events("all")] == ["e-killed"]


def test_a_detail_nested_too_deeply_is_malformed_not_a_recursion_error():
    bus, *_ = make_bus(rule_resource(ALL))
    answer = bus.put_events([entry() | {"Detail": '{"a":' + "[" * 5000 + "]" * 5000 + "}"}])
    assert answer["Entries"] == [{"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}]
