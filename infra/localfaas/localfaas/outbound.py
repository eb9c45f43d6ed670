"""What a stack sent out: SES emails and SNS publishes, read through the services' own APIs.

Neither service keeps a per-stack count that its API returns, so each is measured against a
baseline taken when the stack's state folder is first used (kept in its store, so a resumed run
reports the totals of an uninterrupted one), on any backend that speaks the APIs:

- SES: GetSendQuota's SentLast24Hours is "the number of emails sent during the previous 24 hours"
  by the account in the Region, every stack's and every earlier run's alike; the stack's emails
  are its growth since the baseline.
  https://docs.aws.amazon.com/ses/latest/APIReference/API_GetSendQuota.html
- SNS: no API counts the messages published to a topic (CloudWatch's NumberOfMessagesPublished is
  AWS's alone). An SQS queue subscribed to a topic with raw delivery and no filter policy receives
  every message published to it, so localfaas subscribes one "tap" queue per template topic and
  counts what reached it since the baseline.
  https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
  https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html
  SNS delivers to SQS after Publish returns (LocalStack too, from a thread pool), so a reading
  waits until the tap's count holds still for a moment, at most a few seconds.

On AWS no tap is made (it would be a queue in the user's account, and needs a queue policy): the
published count there is None, "not available on this backend".
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Outbound"]

Clients = Callable[[str], Any]
_SETTLE_READS_S = 0.05
_SETTLE_LIMIT_S = 3.0
_MESSAGE_COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def tap_queue_name(topic_arn: str) -> str:
    # SQS names are at most 80 characters of letters, digits, - and _: a digest of the ARN fits any.
    return "localfaas-tap-" + hashlib.sha256(topic_arn.encode()).hexdigest()[:32]


class Outbound:
    """Emails sent and messages published by one stack since its baseline.

    `topics` are the template's topic names; `tap` says whether taps may be made (local backends).
    """

    def __init__(self, client: Clients, topics: list[str], *, tap: bool) -> None:
        self._client = client
        self._topics = topics
        self._tap = tap
        self._tap_urls: dict[str, str] = {}
        self.baseline: dict[str, Any] = {}

    def start(self, saved: dict[str, Any] | None) -> dict[str, Any]:
        """Attach the taps and take the baseline, or keep `saved` (a resumed run's); the baseline."""
        if self._tap:
            arns = self._topic_arns()
            for name in self._topics:
                if name in arns:
                    self._tap_urls[name] = self._attach_tap(arns[name])
        self.baseline = saved or {
            "ses.sent": self._emails_sent(),
            "sns.published": {name: self._tapped(url) for name, url in self._tap_urls.items()},
        }
        return self.baseline

    def emails_sent(self) -> int | None:
        now, before = self._emails_sent(), self.baseline.get("ses.sent")
        return None if now is None else now - (before or 0)

    def published(self, topic: str) -> int | None:
        url = self._tap_urls.get(topic)
        if url is None:
            return None
        now = self._settled(url)
        before = self.baseline.get("sns.published", {}).get(topic) or 0
        return None if now is None else now - before

    def _topic_arns(self) -> dict[str, str]:
        arns = {}
        for page in self._client("sns").get_paginator("list_topics").paginate():
            for topic in page["Topics"]:
                arns[topic["TopicArn"].rsplit(":", 1)[-1]] = topic["TopicArn"]
        return arns

    def _attach_tap(self, topic_arn: str) -> str:
        """The tap queue of `topic_arn`, created and subscribed once; kept for later runs of the stack."""
        sqs, sns = self._client("sqs"), self._client("sns")
        url = sqs.create_queue(QueueName=tap_queue_name(topic_arn))["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        # Subscribe is idempotent for the same topic, protocol and endpoint: a restart adds no second one.
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        return url

    def _tapped(self, url: str) -> int | None:
        try:
            attributes = self._client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=_MESSAGE_COUNTS
            )
        except Exception:
            return None
        return sum(int(attributes["Attributes"].get(name, 0)) for name in _MESSAGE_COUNTS)

    def _settled(self, url: str) -> int | None:
        deadline = time.monotonic() + _SETTLE_LIMIT_S
        count = self._tapped(url)
        while time.monotonic() < deadline:
            time.sleep(_SETTLE_READS_S)
            again = self._tapped(url)
            if again == count:
                return count
            count = again
        return count

    def _emails_sent(self) -> int | None:
        try:
            return int(self._client("ses").get_send_quota()["SentLast24Hours"])
        except Exception:
            return None
