"""Events from AWS services: the envelope an AWS service fills for the events it sends to EventBridge.

A source starting with ``aws.`` is reserved: PutEvents refuses it, per entry, with
NotAuthorizedForSourceException ("PutEvents", https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html;
"Events from AWS services", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events.html).
So that rules on aws.s3 or aws.ec2 can be exercised locally, a scenario's event with `"asService":
true`, and `localfaas put-events --as-service`, put the entry as the service would send it: in the
stack's account and region (as any event), and with the `resources` the service names in them when
the entry gives none: the bucket's ARN for Amazon S3 ("Amazon S3 Event Notifications with
EventBridge", "EventBridge event message structure",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html) and the instance's ARN for an
EC2 instance state change ("Amazon EC2 instance state change events",
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html).
Other services' events keep the Resources the entry gives. Functions' PutEvents (the events endpoint)
are never put as a service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["service_resources"]


def service_resources(event: Mapping[str, Any], account_id: str, region: str) -> list[str]:
    """The envelope's `resources` as the service of `event["source"]` fills them."""
    given = list(event.get("resources") or [])
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    if given:
        return given
    source = event.get("source")
    if source == "aws.s3":
        bucket = (detail.get("bucket") or {}).get("name") if isinstance(detail.get("bucket"), dict) else None
        return [f"arn:aws:s3:::{bucket}"] if bucket else []
    if source == "aws.ec2" and detail.get("instance-id"):
        return [f"arn:aws:ec2:{region}:{account_id}:instance/{detail['instance-id']}"]
    return given
