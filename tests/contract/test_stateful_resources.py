"""What holds business data outlives its stack, and the audit trail records who touched it.

Every table, queue and bucket is kept when the stack is deleted or the resource replaced
(DeletionPolicy and UpdateReplacePolicy Retain, "DeletionPolicy attribute" and "UpdateReplacePolicy
attribute", AWS CloudFormation User Guide), except the bookkeeping below, which is rebuilt as it is
used. The audit bucket logs its requests ("Enabling Amazon S3 server access logging", Amazon S3 User
Guide) to a bucket of its own, private and encrypted, whose lifecycle expires the logs; the trail
itself has no lifecycle, so nothing expires it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localfaas.template import load_stack

ROOT = Path(__file__).resolve().parents[2]
STATEFUL = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket")
# Resources of those types that hold no business data, and why losing them loses nothing.
NOT_RETAINED: dict[str, str] = {}


@pytest.fixture(scope="module")
def resources():
    return load_stack(ROOT / "template.yaml").template["Resources"]


def _ref(value):
    return value.get("Ref") if isinstance(value, dict) else None


def test_every_table_queue_and_bucket_with_business_data_is_retained(resources):
    stateful = {k: r for k, r in resources.items() if r["Type"] in STATEFUL}
    assert {"FulfilmentRequestsQueue", "FailedRecordsQueue", "AuditArchiveBucket"} <= set(stateful)
    not_kept = sorted(
        logical_id
        for logical_id, r in stateful.items()
        if logical_id not in NOT_RETAINED
        and (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")) != ("Retain", "Retain")
    )
    assert not_kept == []
    assert set(NOT_RETAINED) <= set(stateful), "a justified exception names a resource that is gone"


def test_the_audit_bucket_logs_its_access_to_a_bucket_of_its_own(resources):
    audit = resources["AuditArchiveBucket"]["Properties"]
    logging = audit["LoggingConfiguration"]
    target_id = _ref(logging["DestinationBucketName"])
    assert target_id and target_id != "AuditArchiveBucket"
    target = resources[target_id]
    assert target["Type"] == "AWS::S3::Bucket"
    assert "LoggingConfiguration" not in target["Properties"]  # AWS: a target should not log itself
    # S3 refuses PutBucketLogging until the target's policy lets the logging service write.
    assert resources["AuditArchiveBucket"].get("DependsOn") in (
        "AuditAccessLogsBucketPolicy",
        ["AuditAccessLogsBucketPolicy"],
    )
    assert logging["LogFilePrefix"]


def test_the_access_log_bucket_is_private_encrypted_and_expires_only_logs(resources):
    audit = resources["AuditArchiveBucket"]["Properties"]
    logs = resources[_ref(audit["LoggingConfiguration"]["DestinationBucketName"])]["Properties"]
    assert logs["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    # Server access log delivery takes SSE-S3 (AES256) as the target's default encryption.
    (rule,) = logs["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    expiring = [r for r in logs["LifecycleConfiguration"]["Rules"] if r["Status"] == "Enabled"]
    assert expiring and all(r.get("ExpirationInDays", 0) > 365 for r in expiring)
    assert "LifecycleConfiguration" not in audit


def test_only_the_logging_service_writes_the_audit_logs_and_only_under_their_prefix(resources):
    audit = resources["AuditArchiveBucket"]["Properties"]
    target_id = _ref(audit["LoggingConfiguration"]["DestinationBucketName"])
    policies = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and _ref(r["Properties"]["Bucket"]) == target_id
    ]
    (policy,) = policies
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert grant["Effect"] == "Allow"
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Action"] == "s3:PutObject"
    prefix = audit["LoggingConfiguration"]["LogFilePrefix"]
    assert grant["Resource"] == {"Fn::Sub": f"${{{target_id}.Arn}}/{prefix}*"}
    assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
