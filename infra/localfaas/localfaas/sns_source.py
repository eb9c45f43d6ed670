"""SNS subscriptions with protocol lambda: what a topic's publish does to a function.

Emulates "Invoking Lambda functions with Amazon SNS notifications"
(https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html): SNS invokes the function
asynchronously, one message per event, `Records[0].Sns` holding Type, MessageId, TopicArn, Subject
(null when none), Message, Timestamp, SignatureVersion, Signature, SigningCertUrl, UnsubscribeUrl and
MessageAttributes ({name: {Type, Value}}), beside EventSource "aws:sns", EventVersion and
EventSubscriptionArn; retries, the function's dead-letter queue and destinations are then Lambda's
("Lambda asynchronous invocation", invocation-async.html: services.invoke_async). The subscription's
FilterPolicy and FilterPolicyScope decide which messages it takes (localfaas.sns_filter). Its
RedrivePolicy is the SQS queue for messages SNS cannot deliver ("Amazon SNS dead-letter queues",
https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html): a client-side error goes
there at once, "for example, when ... the endpoint has been deleted" or its resource-based policy
does not let SNS invoke it; without one the message is gone. Here that is a subscription to a
function the template does not have, or one no AWS::Lambda::Permission lets sns.amazonaws.com invoke
from this topic (SAM's `Type: SNS` writes that permission). The dead-lettered message is the
notification as SNS sends it to a queue; its ErrorCode and ErrorMessage attributes are localfaas's,
so whoever reads the queue can tell why (the page documents none). `localfaas redrive` invokes the
function again with such a message (`redelivery`).

How localfaas sees a publish, through AWS APIs only, on moto and LocalStack alike: each subscription
gets a queue of localfaas's own, `localfaas-sns-<its physical name>`, subscribed to the topic with
protocol sqs and the notification envelope (not raw: the envelope is what carries MessageId, Timestamp,
Subject and the typed MessageAttributes the Lambda event needs), polled with ReceiveMessage and
deleted once the message is filtered, dead-lettered or handed to asynchronous invocation (which is
durable in the store). So whoever publishes (a function, a rule's target, a destination, the AWS CLI)
is seen, and a message published before a kill of localfaas is still in the queue after it (one
taken but not yet handed on when it was killed comes back after the queue's 5 s visibility
timeout, which the next poll waits for: at least once, as SNS delivers). The
backend is never subscribed with protocol lambda (provision.py): it would invoke its own Lambda, which
has none of these functions, and fail the publish.

Not emulated: SNS's delivery retry policy for server-side errors (an asynchronous invoke is accepted
or refused, never throttled, here), FIFO topics (Lambda cannot subscribe to them), cross-region
subscriptions, delivery status logging, and inline Subscription entries of an AWS::SNS::Topic (named
at start as not run).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localfaas.esm import PollReport
from localfaas.event_sources import StackServices, register
from localfaas.report import source_summary
from localfaas.sns_filter import FilterPolicy
from localfaas.template import FunctionNotFound

if TYPE_CHECKING:
    from localfaas.template import Resource, Stack

__all__ = [
    "UNDELIVERABLE",
    "SnsSubscriptionSource",
    "dead_letter_arn",
    "lambda_event",
    "redelivery",
    "sns_may_invoke",
    "subscription_arn",
]

_PRINCIPAL = "sns.amazonaws.com"
UNDELIVERABLE = "(undeliverable)"  # how parked.py and redrive.py name a subscription's dead-letter queue
_BATCH = 10  # ReceiveMessage's most
# Handing a batch on takes milliseconds; a short timeout brings back soon what a killed run had taken.
_VISIBILITY_S = 5


@register("AWS::SNS::Subscription")
def _subscription_source(resource: Resource, services: StackServices) -> SnsSubscriptionSource | None:
    props = resource.properties
    if str(props.get("Protocol", "")).lower() != "lambda":
        return None
    try:
        policy = (
            FilterPolicy.parse(props["FilterPolicy"], props.get("FilterPolicyScope"))
            if props.get("FilterPolicy")
            else None
        )
        dead_letter_arn(props.get("RedrivePolicy"))
    except ValueError as e:
        services.warn(f"{resource.logical_id}: {e}; skipped")
        return None
    try:
        return SnsSubscriptionSource(resource, services, policy)
    except ClientError as e:  # a topic outside the template that the backend does not have
        services.warn(f"{resource.logical_id}: cannot subscribe to {props.get('TopicArn')}: {e}; skipped")
        return None


def dead_letter_arn(redrive: Any) -> str | None:
    """The subscription's RedrivePolicy ({"deadLetterTargetArn": queue ARN}, or its JSON text)."""
    if isinstance(redrive, str):
        try:
            redrive = json.loads(redrive)
        except ValueError as e:
            raise ValueError(f"Invalid parameter: RedrivePolicy: failed to parse JSON: {e}") from None
    if redrive and not (isinstance(redrive, dict) and isinstance(redrive.get("deadLetterTargetArn"), str)):
        raise ValueError("Invalid parameter: RedrivePolicy: deadLetterTargetArn is missing")
    return redrive.get("deadLetterTargetArn") if redrive else None


class SnsSubscriptionSource:
    """One lambda subscription, fed by the queue localfaas subscribes to the same topic."""

    def __init__(self, resource: Resource, services: StackServices, policy: FilterPolicy | None) -> None:
        props = resource.properties
        self.logical_id = resource.logical_id
        self.topic_arn = str(props["TopicArn"])
        self.endpoint = str(props["Endpoint"])
        self.stats = PollReport()
        self._services, self._policy = services, policy
        self._sqs = services.client("sqs")
        self.refusal = _refusal(services.template, self.endpoint, self.topic_arn)
        try:
            self.function_name = services.template.function(self.endpoint).function_name
        except FunctionNotFound:
            self.function_name = (
                self.endpoint.split(":")[6] if self.endpoint.count(":") >= 6 else self.endpoint
            )
        if self.refusal:
            services.warn(f"{self.logical_id}: SNS cannot invoke {self.function_name}: {self.refusal[1]}")
        self.dead_letter_arn = dead_letter_arn(props.get("RedrivePolicy"))
        self.subscription_arn = subscription_arn(self.topic_arn, self.logical_id)
        # Named after the subscription's physical name, so two stacks on one backend keep apart.
        self.queue_url = self._feed_queue(f"localfaas-sns-{resource.physical_name}"[:80])

    def _feed_queue(self, name: str) -> str:
        """The queue of localfaas's own that the topic delivers to (made once; kept across restarts)."""
        url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        arn = attributes["QueueArn"]
        # On AWS (--backend aws) SNS delivers to a queue only if its policy lets the topic send.
        self._sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={"Policy": self._queue_policy(arn), "VisibilityTimeout": str(_VISIBILITY_S)},
        )
        sns = self._services.client("sns")
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=self.topic_arn):
            if any(s.get("Endpoint") == arn for s in page.get("Subscriptions", [])):
                return url
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
        return url

    def _queue_policy(self, queue_arn: str) -> str:
        """The queue policy SNS needs ("Subscribing an Amazon SQS queue to an Amazon SNS topic")."""
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": _PRINCIPAL},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}},
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    # -- the contract (localfaas.event_sources) ----------------------------------------------------

    def poll_once(self, *, flush: bool = False) -> PollReport:
        report = PollReport()
        messages = self._receive(wait_s=0)
        if not messages and not self._services.real_time and self._waiting():
            # Taken by a run killed before it handed them on: they come back when their visibility
            # timeout ends, the one wait on the wall clock, and only after a kill (in real time a
            # later poll finds them).
            messages = self._receive(wait_s=_VISIBILITY_S)
        done: list[dict[str, str]] = []
        try:
            for message in messages:
                self._deliver(message["Body"], report)
                done.append({"Id": str(len(done)), "ReceiptHandle": message["ReceiptHandle"]})
        finally:  # what was handed on is settled; the rest comes back after the visibility timeout
            if done:
                self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
            self.stats.add(report)
        return report

    def _receive(self, *, wait_s: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=_BATCH, WaitTimeSeconds=wait_s
        )
        return answer.get("Messages", [])

    def _deliver(self, body: str, report: PollReport) -> None:
        try:
            notification = json.loads(body)
        except ValueError:
            notification = None
        if not isinstance(notification, dict) or notification.get("Type") != "Notification":
            return  # not a publish (nothing else comes to this queue): nothing of the topic's to settle
        message, attributes = str(notification.get("Message", "")), notification.get("MessageAttributes")
        if self._policy is not None and not self._policy.accepts(message, attributes):
            report.records_filtered += 1
        elif self.refusal:
            self._dead_letter(body, report)
        else:
            self._services.invoke_async(self.function_name, lambda_event(notification, self.subscription_arn))
            report.invocations += 1
            report.records_delivered += 1

    def _dead_letter(self, body: str, report: PollReport) -> None:
        if not self.dead_letter_arn:
            report.records_discarded += 1
            return
        code, why = self.refusal or ("", "")
        attributes = {
            "ErrorCode": {"DataType": "String", "StringValue": code},
            "ErrorMessage": {"DataType": "String", "StringValue": why},
        }
        try:
            self._services.send_message(self.dead_letter_arn, body, attributes)
        except Exception:  # an unreachable dead-letter queue: SNS drops the message
            report.destination_errors += 1
            report.records_discarded += 1
            return
        report.records_to_destination += 1

    def caught_up(self) -> bool:
        """Nothing in the queue: asked of the queue, since a function that ran after the last poll may
        have published to the topic (and a killed run may have left messages in flight)."""
        return self._waiting() == 0

    def idle_rounds(self) -> int:
        return 1

    def summary(self, function: str, lost: list[str], *, stopped: bool) -> dict[str, Any]:
        waiting = self._waiting()
        topic = self.topic_arn.rsplit(":", 1)[-1]
        records = self.stats.records_settled + waiting
        return source_summary(
            self.logical_id, function, topic, self.stats, records, lost, stopped=stopped, unsettled=waiting
        )

    def _waiting(self) -> int:
        """Messages published but not yet settled: visible in localfaas's queue, or in flight."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)[
            "Attributes"
        ]
        return sum(int(attributes.get(name, 0)) for name in names)

    def close(self) -> None:
        """The queue and its subscription stay: what is published while localfaas is down waits there."""


def subscription_arn(topic_arn: str, logical_id: str) -> str:
    """The ARN the function's events name the subscription by: stable, so a resumed run's events and a
    redriven message name the same subscription as the first run's."""
    return f"{topic_arn}:{uuid.uuid5(uuid.NAMESPACE_URL, f'{topic_arn}/{logical_id}')}"


def lambda_event(notification: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event SNS invokes a function with, from the notification SNS sends to a queue (whose URL
    fields are spelled SigningCertURL and UnsubscribeURL; Lambda's are ...Url)."""
    region = subscription_arn.split(":")[3]
    sns = {
        "Type": notification.get("Type", "Notification"),
        "MessageId": notification.get("MessageId"),
        "TopicArn": notification.get("TopicArn"),
        "Subject": notification.get("Subject"),
        "Message": notification.get("Message"),
        "Timestamp": notification.get("Timestamp"),
        "SignatureVersion": notification.get("SignatureVersion"),
        "Signature": notification.get("Signature"),
        "SigningCertUrl": notification.get("SigningCertURL") or notification.get("SigningCertUrl"),
        "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}",
        "MessageAttributes": dict(notification.get("MessageAttributes") or {}),
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": sns,
            }
        ]
    }


def redelivery(
    template: Stack, sources: list[str], notification: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any]] | None:
    """For `localfaas redrive`: the subscription among a dead-letter queue's `sources` (parked.py's
    labels) that parked this notification, as (its logical id, its function's name, the event to
    invoke it with again); None when none of the template's did."""
    for source in sources:
        logical_id = source.removesuffix(f" {UNDELIVERABLE}")
        if logical_id == source or logical_id not in template.resources:
            continue
        props = template.resource(logical_id).properties
        if props.get("TopicArn") != notification.get("TopicArn"):
            continue
        try:
            function = template.function(str(props.get("Endpoint", "")))
        except FunctionNotFound:
            return None
        event = lambda_event(notification, subscription_arn(str(props["TopicArn"]), logical_id))
        return logical_id, function.function_name, event
    return None


def sns_may_invoke(template: Stack, function_arn: str, topic_arn: str) -> bool:
    """Whether some AWS::Lambda::Permission of the template lets SNS invoke the function from the topic
    ("Granting function access to AWS services", https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-services.html)."""
    try:
        wanted = template.function(function_arn).function_name
    except FunctionNotFound:
        return False
    for permission in template.resources_of_type("AWS::Lambda::Permission"):
        props = permission.properties
        if str(props.get("Principal")) not in (_PRINCIPAL, "*"):
            continue
        if str(props.get("Action", "")) not in ("lambda:InvokeFunction", "lambda:*", "*"):
            continue
        try:
            if template.function(str(props.get("FunctionName", ""))).function_name != wanted:
                continue
        except FunctionNotFound:
            continue
        source = props.get("SourceArn")
        if source is None or fnmatchcase(topic_arn, str(source)):
            return True
    return False


def _refusal(template: Stack, endpoint: str, topic_arn: str) -> tuple[str, str] | None:
    """Why Lambda refuses SNS's invocation (a client-side error), or None when it takes it."""
    try:
        template.function(endpoint)
    except FunctionNotFound:
        return "ResourceNotFoundException", f"Function not found: {endpoint}"
    if not sns_may_invoke(template, endpoint, topic_arn):
        return (
            "AccessDeniedException",
            f"no AWS::Lambda::Permission lets {_PRINCIPAL} invoke it from {topic_arn}",
        )
    return None
