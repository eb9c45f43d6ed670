"""SNS subscriptions with protocol lambda (localfaas.sns_source): a publish invokes the function
asynchronously with the event SNS sends ("Invoking Lambda functions with Amazon SNS notifications",
https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html), the subscription's filter policy decides
what it takes, and what Lambda refuses goes to the subscription's dead-letter queue ("Amazon SNS
dead-letter queues")."""

from __future__ import annotations

import json

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.backend import MotoBackend
from localfaas.local_stack import LocalStack
from localfaas.outbound import tap_queue_name

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Alerts:
    Type: AWS::SNS::Topic
  Undeliverable:
    Type: AWS::SQS::Queue
    Properties: {QueueName: undeliverable}
  GivenUp:
    Type: AWS::SQS::Queue
    Properties: {QueueName: given-up}
  Seen:
    Type: AWS::SQS::Queue
    Properties: {QueueName: seen}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Environment:
        Variables: {SEEN_URL: !Ref Seen}
      Policies: [SQSSendMessagePolicy: {QueueName: !GetAtt Seen.QueueName}]
      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt GivenUp.Arn}
      EventInvokeConfig: {MaximumRetryAttempts: 1}
      Events:
        FromAlerts:
          Type: SNS
          Properties:
            Topic: !Ref Alerts
EVENT_PROPERTIES
"""

APP = """\
import json, os
import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["SEEN_URL"], MessageBody=json.dumps(event))
    if event["Records"][0]["Sns"]["Message"] == "poison":
        raise ValueError("a poison alert")
"""


def app(tmp_path, properties: str = "", template: str = TEMPLATE) -> str:
    indented = "".join(f"            {line}\n" for line in properties.splitlines())
    return str(write_app(tmp_path, template.replace("EVENT_PROPERTIES\n", indented), {"src/app.py": APP}))


def messages(stack: LocalStack, queue: str) -> list[dict]:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    )
    return found.get("Messages", [])


def seen(stack: LocalStack) -> list[dict]:
    return [json.loads(m["Body"]) for m in messages(stack, "seen")]


def topic_arn(stack: LocalStack) -> str:
    return f"arn:aws:sns:{stack.region}:{stack.account_id}:{stack.physical_name('Alerts')}"


def publish(stack: LocalStack, message: str, **attributes: tuple[str, str]) -> str:
    request = {"TopicArn": topic_arn(stack), "Message": message}
    if attributes:
        request["MessageAttributes"] = {
            name: {"DataType": kind, "StringValue": value} for name, (kind, value) in attributes.items()
        }
    return stack.client("sns").publish(**request)["MessageId"]


def test_a_publish_invokes_the_function_with_the_event_sns_sends(tmp_path):
    with LocalStack(app(tmp_path)) as stack:
        topic = topic_arn(stack)
        message_id = stack.client("sns").publish(
            TopicArn=topic,
            Message="disk full",
            Subject="Alarm",
            MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}},
        )["MessageId"]
        assert stack.run_until_idle()
        (event,) = seen(stack)
        row = stack.report().data["esm"]["TakeFromAlerts"]
    (record,) = event["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    sns = record["Sns"]
    assert (sns["Type"], sns["MessageId"], sns["TopicArn"]) == ("Notification", message_id, topic)
    assert (sns["Subject"], sns["Message"]) == ("Alarm", "disk full")
    assert sns["MessageAttributes"] == {"severity": {"Type": "String", "Value": "high"}}
    assert {"Timestamp", "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl"} <= set(sns)
    assert sns["UnsubscribeUrl"].endswith("SubscriptionArn=" + record["EventSubscriptionArn"])
    assert (row["function"], row["topic"], row["delivered"], row["lost"]) == (
        "Take",
        "localfaas-Alerts",
        1,
        0,
    )


def test_the_event_parses_with_powertools_sns_model(tmp_path):
    # Powertools' parser models the event SNS sends Lambda field by field; a required field missing or
    # misspelt (UnsubscribeUrl, not the queue envelope's UnsubscribeURL) fails here.
    from aws_lambda_powertools.utilities.parser.models import SnsModel

    with LocalStack(app(tmp_path)) as stack:
        publish(stack, "parsed", severity=("String", "high"), count=("Number", "3"))
        stack.run_until_idle()
        (event,) = seen(stack)
    record = SnsModel.model_validate(event).Records[0]
    assert (record.EventSource, record.Sns.Message, record.Sns.Type) == ("aws:sns", "parsed", "Notification")
    assert {name: a.Value for name, a in record.Sns.MessageAttributes.items()} == {
        "severity": "high",
        "count": "3",
    }
    assert str(record.Sns.UnsubscribeUrl).endswith(record.EventSubscriptionArn)
    assert (
        record.Sns.SigningCertUrl is not None and record.Sns.Signature
    )  # optional to the model, sent by SNS


def test_a_message_without_a_subject_has_a_null_subject(tmp_path):
    with LocalStack(app(tmp_path)) as stack:
        publish(stack, "plain")
        stack.run_until_idle()
        ((record,),) = [event["Records"] for event in seen(stack)]
    assert record["Sns"]["Subject"] is None and record["Sns"]["MessageAttributes"] == {}


def test_the_filter_policy_on_message_attributes_decides_what_the_subscription_takes(tmp_path):
    policy = "FilterPolicy: {severity: [high], count: [{numeric: ['>', 3]}]}"
    with LocalStack(app(tmp_path, policy)) as stack:
        publish(stack, "taken", severity=("String", "high"), count=("Number", "4"))
        publish(stack, "low", severity=("String", "low"), count=("Number", "4"))
        publish(stack, "few", severity=("String", "high"), count=("Number", "2"))
        publish(stack, "no attributes")
        stack.run_until_idle()
        taken = [event["Records"][0]["Sns"]["Message"] for event in seen(stack)]
        row = stack.report().data["esm"]["TakeFromAlerts"]
    assert taken == ["taken"]
    assert (row["records"], row["delivered"], row["filtered"], row["lost"]) == (4, 1, 3, 0)


def test_the_filter_policy_on_the_message_body(tmp_path):
    policy = "FilterPolicyScope: MessageBody\nFilterPolicy: {order: {total: [{numeric: ['>=', 100]}]}}"
    with LocalStack(app(tmp_path, policy)) as stack:
        publish(stack, json.dumps({"order": {"total": 120}}))
        publish(stack, json.dumps({"order": {"total": 5}}))
        publish(stack, "not json")
        stack.run_until_idle()
        taken = [json.loads(event["Records"][0]["Sns"]["Message"]) for event in seen(stack)]
    assert taken == [{"order": {"total": 120}}]


def test_a_failing_function_gets_lambdas_asynchronous_retries_then_its_dead_letter_queue(tmp_path):
    with LocalStack(app(tmp_path)) as stack:
        publish(stack, "poison")
        assert stack.run_until_idle()
        attempts = len(seen(stack))
        parked = messages(stack, "given-up")
        report = stack.report()
    assert attempts == 2  # the first invocation and MaximumRetryAttempts 1
    assert json.loads(parked[0]["Body"])["Records"][0]["Sns"]["Message"] == "poison"
    assert report.data["esm"]["TakeFromAlerts"]["delivered"] == 1  # SNS delivered; Lambda gave up


HAND_WRITTEN = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Alerts:
    Type: AWS::SNS::Topic
  Undeliverable:
    Type: AWS::SQS::Queue
    Properties: {QueueName: undeliverable}
  Seen:
    Type: AWS::SQS::Queue
    Properties: {QueueName: seen}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Environment:
        Variables: {SEEN_URL: !Ref Seen}
      Policies: [SQSSendMessagePolicy: {QueueName: !GetAtt Seen.QueueName}]
  TakeAlerts:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Alerts
      Protocol: lambda
      Endpoint: !GetAtt Take.Arn
EVENT_PROPERTIES
"""


def test_a_subscription_lambda_refuses_goes_to_its_dead_letter_queue(tmp_path):
    # No AWS::Lambda::Permission lets SNS invoke Take: Lambda refuses, a client-side error.
    redrive = "RedrivePolicy: {deadLetterTargetArn: !GetAtt Undeliverable.Arn}"
    indented = "".join(f"      {line}\n" for line in redrive.splitlines())
    template = HAND_WRITTEN.replace("EVENT_PROPERTIES\n", indented)
    with LocalStack(str(write_app(tmp_path, template, {"src/app.py": APP}))) as stack:
        warnings = [w for w in stack.warnings if w.startswith("TakeAlerts:")]
        publish(stack, "refused")
        stack.run_until_idle()
        assert seen(stack) == []
        (parked,) = messages(stack, "undeliverable")
        report = stack.report()
    assert warnings == [
        "TakeAlerts: SNS cannot invoke localfaas-Take: no AWS::Lambda::Permission lets sns.amazonaws.com "
        "invoke it from arn:aws:sns:us-east-1:123456789012:localfaas-Alerts"
    ]
    assert json.loads(parked["Body"])["Message"] == "refused"
    assert parked["MessageAttributes"]["ErrorCode"]["StringValue"] == "AccessDeniedException"
    row = report.data["esm"]["TakeAlerts"]
    assert (row["to_destination"], row["lost"]) == (1, 0)


def test_a_refused_message_without_a_dead_letter_queue_is_lost_in_the_verdict(tmp_path):
    template = HAND_WRITTEN.replace("EVENT_PROPERTIES\n", "")
    with LocalStack(str(write_app(tmp_path, template, {"src/app.py": APP}))) as stack:
        publish(stack, "refused")
        stack.run_until_idle()
        report = stack.report()
    assert report.data["lost"]["details"] == ["TakeAlerts: 1 record(s) discarded (no on-failure destination)"]
    assert "LOST: 1" in report.render()


def test_a_permission_for_the_topic_lets_the_hand_written_subscription_deliver(tmp_path):
    permission = """\
  TakeAlertsPermission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Take
      Principal: sns.amazonaws.com
      SourceArn: !Ref Alerts
"""
    template = HAND_WRITTEN.replace("EVENT_PROPERTIES\n", "") + permission
    with LocalStack(str(write_app(tmp_path, template, {"src/app.py": APP}))) as stack:
        assert not [w for w in stack.warnings if w.startswith("TakeAlerts:")]
        publish(stack, "allowed")
        stack.run_until_idle()
        assert [e["Records"][0]["Sns"]["Message"] for e in seen(stack)] == ["allowed"]


def test_a_filter_policy_sns_refuses_is_named_and_the_subscription_skipped(tmp_path):
    policy = "FilterPolicy: {a: [x], b: [x], c: [x], d: [x], e: [x], f: [x]}"
    with LocalStack(app(tmp_path, policy)) as stack:
        warnings = [w for w in stack.warnings if w.startswith("TakeFromAlerts:")]
        assert "TakeFromAlerts" not in stack.report().data["esm"]
    assert warnings == [
        "TakeFromAlerts: Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys; skipped"
    ]


def test_what_is_published_while_localfaas_is_down_is_delivered_when_it_starts_again(tmp_path):
    template = app(tmp_path)
    with MotoBackend(reset=True) as backend:
        with LocalStack(template, backend=backend) as stack:
            topic = topic_arn(stack)
        backend.client("sns").publish(TopicArn=topic, Message="while down")
        with LocalStack(template, backend=backend) as stack:
            assert stack.run_until_idle()
            assert [e["Records"][0]["Sns"]["Message"] for e in seen(stack)] == ["while down"]


@pytest.mark.parametrize("protocol", ["lambda", "LAMBDA"])
def test_the_backend_is_never_subscribed_with_protocol_lambda(tmp_path, protocol):
    template = HAND_WRITTEN.replace("Protocol: lambda", f"Protocol: {protocol}").replace(
        "EVENT_PROPERTIES\n", ""
    )
    with LocalStack(str(write_app(tmp_path, template, {"src/app.py": APP}))) as stack:
        topic = topic_arn(stack)
        subscriptions = stack.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    # localfaas.outbound's tap counts the topic's publishes; the rest is the subscription's feed queue.
    tap = f"arn:aws:sqs:us-east-1:123456789012:{tap_queue_name(topic)}"
    assert [s["Protocol"] for s in subscriptions if s["Endpoint"] != tap] == ["sqs"]
    assert len(subscriptions) == 2


def test_a_scenario_publishes_to_the_topic_through_localfaas_run(tmp_path, capsys):
    from localfaas.cli import main

    app(tmp_path, "FilterPolicy: {severity: [high]}")
    high = {"severity": {"DataType": "String", "StringValue": "high"}}
    low = {"severity": {"DataType": "String", "StringValue": "low"}}
    scenario = {
        "template": "template.yaml",
        "publish": [
            {"Topic": "Alerts", "Message": {"disk": "full"}, "Subject": "Alarm", "MessageAttributes": high},
            {"Topic": "Alerts", "Message": "ignored", "MessageAttributes": low},
        ],
        "checks": [
            {"name": "high alerts taken", "metric": "esm.delivered[TakeFromAlerts]", "equals": 1},
            {"name": "the low one filtered", "metric": "esm.filtered[TakeFromAlerts]", "equals": 1},
            {"name": "one invocation", "metric": "functions.invocations[Take]", "equals": 1},
        ],
    }
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    report_path = tmp_path / "report.json"
    assert main(["run", "--scenario", str(tmp_path / "scenario.json"), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    out, err = capsys.readouterr()
    assert out.rstrip().endswith("NOTHING LOST")
    assert "0 records, 0 events, 2 SNS messages" in err


def test_a_scenario_publish_naming_an_unknown_field_is_refused(tmp_path, capsys):
    from localfaas.cli import main

    app(tmp_path)
    scenario = {"template": "template.yaml", "publish": [{"Topic": "Alerts", "Message": "m", "Subjct": "x"}]}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    assert main(["run", "--scenario", str(tmp_path / "scenario.json")]) == 2
    assert "publish[0].Subjct: unknown field" in capsys.readouterr().err


def test_a_scenario_publish_to_no_such_topic_is_one_line_not_a_traceback(tmp_path, capsys):
    from localfaas.cli import main

    app(tmp_path)
    scenario = {"template": "template.yaml", "publish": [{"Topic": "Nowhere", "Message": "m"}]}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    assert main(["run", "--scenario", str(tmp_path / "scenario.json")]) == 2
    err = capsys.readouterr().err
    assert "publish[0]: " in err and "Traceback" not in err


def test_in_real_time_a_publish_reaches_the_function_while_the_stack_serves(tmp_path):
    import threading
    import time

    with LocalStack(app(tmp_path), real_time=True) as stack:
        stop = threading.Event()
        serving = threading.Thread(target=stack.serve_forever, args=(stop,), daemon=True)
        serving.start()
        try:
            publish(stack, "live")
            deadline, found = time.monotonic() + 30, []
            while not found and time.monotonic() < deadline:  # waits for the outcome; asserts no duration
                found = seen(stack)
                time.sleep(0.05)
        finally:
            stop.set()
            serving.join()
        row = stack.report(stopped=True).data["esm"]["TakeFromAlerts"]
    assert [e["Records"][0]["Sns"]["Message"] for e in found] == ["live"]
    assert (row["delivered"], row["lost"]) == (1, 0)


CHAIN = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.11, CodeUri: src/}
Resources:
  Alerts:
    Type: AWS::SNS::Topic
  Escalations:
    Type: AWS::SNS::Topic
  Seen:
    Type: AWS::SQS::Queue
    Properties: {QueueName: seen}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.take
      Environment:
        Variables: {SEEN_URL: !Ref Seen, ESCALATIONS: !Ref Escalations}
      Policies: [SNSPublishMessagePolicy: {TopicName: !GetAtt Escalations.TopicName}]
      Events:
        FromAlerts: {Type: SNS, Properties: {Topic: !Ref Alerts}}
  Escalate:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.escalate
      Environment:
        Variables: {SEEN_URL: !Ref Seen}
      Policies: [SQSSendMessagePolicy: {QueueName: !GetAtt Seen.QueueName}]
      Events:
        FromEscalations: {Type: SNS, Properties: {Topic: !Ref Escalations}}
"""

CHAIN_APP = """\
import json, os
import boto3

sqs, sns = boto3.client("sqs"), boto3.client("sns")


def take(event, context):
    sns.publish(TopicArn=os.environ["ESCALATIONS"], Message="escalated: " + event["Records"][0]["Sns"]["Message"])


def escalate(event, context):
    sqs.send_message(QueueUrl=os.environ["SEEN_URL"], MessageBody=json.dumps(event))
"""


def test_what_a_function_publishes_while_the_run_goes_on_is_delivered_before_it_is_idle(tmp_path):
    template = write_app(tmp_path, CHAIN, {"src/app.py": CHAIN_APP})
    with LocalStack(template) as stack:
        publish(stack, "disk full")
        assert stack.run_until_idle()
        escalated = [e["Records"][0]["Sns"]["Message"] for e in seen(stack)]
        rows = stack.report().data["esm"]
    assert escalated == ["escalated: disk full"]
    assert (rows["TakeFromAlerts"]["delivered"], rows["EscalateFromEscalations"]["delivered"]) == (1, 1)


def test_a_redrive_policy_that_is_not_json_is_named_and_the_subscription_skipped(tmp_path):
    template = HAND_WRITTEN.replace("EVENT_PROPERTIES\n", "      RedrivePolicy: '{not json'\n")
    with LocalStack(str(write_app(tmp_path, template, {"src/app.py": APP}))) as stack:
        warnings = [w for w in stack.warnings if w.startswith("TakeAlerts:")]
    assert len(warnings) == 1 and "Invalid parameter: RedrivePolicy: failed to parse JSON" in warnings[0]


def test_the_feed_queue_lets_only_its_topic_send_as_aws_requires(tmp_path):
    with LocalStack(app(tmp_path)) as stack:
        sqs = stack.client("sqs")
        url = sqs.get_queue_url(QueueName="localfaas-sns-localfaas-TakeFromAlerts")["QueueUrl"]
        policy = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
        )
        topic = topic_arn(stack)
    (statement,) = policy["Statement"]
    assert (
        statement["Principal"] == {"Service": "sns.amazonaws.com"}
        and statement["Action"] == "sqs:SendMessage"
    )
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic}}


def test_a_subscription_to_a_topic_the_backend_does_not_have_is_named_and_skipped(tmp_path):
    template = TEMPLATE.replace("Topic: !Ref Alerts", "Topic: arn:aws:sns:us-east-1:123456789012:elsewhere")
    with LocalStack(app(tmp_path, template=template)) as stack:
        warnings = [w for w in stack.warnings if w.startswith("TakeFromAlerts:")]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "TakeFromAlerts: cannot subscribe to arn:aws:sns:us-east-1:123456789012:elsewhere"
    )
    assert warnings[0].endswith("; skipped")


def test_a_run_killed_after_the_first_invocation_delivers_every_publish_once_resumed(tmp_path, capfd):
    from localfaas.cli import main

    app(tmp_path)
    alerts = [{"Topic": "Alerts", "Message": f"alert {n}"} for n in range(3)]
    (tmp_path / "scenario.json").write_text(json.dumps({"template": "template.yaml", "publish": alerts}))
    report_path = tmp_path / "report.json"
    with MotoBackend() as moto:
        status = main(
            [
                "run",
                "--scenario",
                str(tmp_path / "scenario.json"),
                "--json",
                str(report_path),
                "--faults",
                "kill-after=1,seed=1",
                "--moto-endpoint",
                moto.endpoint_url,
            ]
        )
        sqs = moto.client("sqs")
        url = sqs.get_queue_url(QueueName="seen")["QueueUrl"]
        bodies = []
        while found := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            bodies += [json.loads(m["Body"])["Records"][0]["Sns"]["Message"] for m in found]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(found)],
            )
    assert "killed after invocation 1; resuming" in capfd.readouterr().err
    report = json.loads(report_path.read_text())
    assert set(bodies) == {
        "alert 0",
        "alert 1",
        "alert 2",
    }  # at least once: the killed invocation may run again
    assert report["sns"]["Alerts"]["published"] == 3  # the resumed run did not publish them again
    assert report["esm"]["TakeFromAlerts"]["delivered"] == 3 and report["lost"]["total"] == 0
    assert status == 0


def test_a_message_a_killed_run_had_taken_but_not_handed_on_is_delivered_when_it_comes_back(tmp_path):
    template = app(tmp_path)
    with MotoBackend(reset=True) as backend:
        with LocalStack(template, backend=backend) as stack:
            publish(stack, "in flight")
        sqs = backend.client("sqs")
        feed = sqs.get_queue_url(QueueName="localfaas-sns-localfaas-TakeFromAlerts")["QueueUrl"]
        assert sqs.receive_message(QueueUrl=feed)["Messages"]  # taken, as the killed poll took it
        with LocalStack(template, backend=backend) as stack:
            assert stack.run_until_idle()
            assert [e["Records"][0]["Sns"]["Message"] for e in seen(stack)] == ["in flight"]


def test_what_sns_could_not_deliver_is_parked_in_the_verdict_and_redriven_to_the_function(tmp_path):
    from localfaas.redrive import Redriver

    redrive = "      RedrivePolicy: {deadLetterTargetArn: !GetAtt Undeliverable.Arn}\n"
    template = HAND_WRITTEN.replace("EVENT_PROPERTIES\n", redrive)
    with LocalStack(str(write_app(tmp_path, template, {"src/app.py": APP}))) as stack:
        message_id = publish(stack, "refused")
        stack.run_until_idle()
        report = stack.report()
        results = Redriver(stack.template, stack.client, stack.log, stack.invoke).redrive()
        redelivered = seen(stack)
        left = messages(stack, "undeliverable")
    parked = report.data["parked"]["destinations"]["arn:aws:sqs:us-east-1:123456789012:undeliverable"]
    assert (parked["count"], parked["source"]) == (1, "TakeAlerts (undeliverable)")
    assert (
        report.render().rstrip().splitlines()[-1].startswith("NOTHING LOST (1 parked in failure destinations")
    )
    assert [(r.what, r.ok) for r in results] == [(f"TakeAlerts message {message_id}", True)]
    (event,) = redelivered
    assert event["Records"][0]["Sns"]["Message"] == "refused"
    assert event["Records"][0]["EventSubscriptionArn"].startswith(topic_arn(stack) + ":")
    assert left == []
