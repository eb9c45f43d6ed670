"""Security alerts published to an SNS topic (the security team subscribes by email, chat or pager)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storefront.security import SecurityAlert

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class SecurityAlertsTopic:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, alert: SecurityAlert, *, event_type: str, event_id: str) -> str:
        """Publish one alert; its SNS MessageId. Attributes let subscriptions filter by event type."""
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=alert.subject,
            Message=alert.message,
            MessageAttributes={
                "eventType": {"DataType": "String", "StringValue": event_type},
                "eventId": {"DataType": "String", "StringValue": event_id},
            },
        )
        return response["MessageId"]
