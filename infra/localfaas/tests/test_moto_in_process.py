"""localfaas.moto_in_process: moto patched for less work a call answers as moto does, and says so
loudly when moto is not the version it was written against."""

from __future__ import annotations

import hashlib
import inspect
import pkgutil

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localfaas import moto_in_process

# What the patches replace or lean on (the expression memos: the code that reads what is kept and
# must not change it), as moto 5.2.5 has it: a change here means the patch is to be
# read again against the new code (and these digests updated), not trusted.
PATCHED_CODE = {
    "moto.core.botocore_stubber.BotocoreStubber.process_request": "f79a1a778c7e755f0c7f234cdab9e36312ed2b16d7051baf06b04872f79dd5b2",
    "moto.core.responses.BaseResponse.call_action": "26076963fd17fd1a40be642032b5a8d90f159c19d01b80a5f0b0c839770ee0d6",
    "moto.core.utils.method_names_from_class": "9dbac89d082b655fee902c450e69de9dbadf9699ad06411298494984b55138c3",
    "moto.dynamodb.comparisons.ConditionExpressionParser._lex_condition_expression": "a815288359216b2e4dfec54d1a3d032d52d9faa3e7a17a6ff127841e457301fa",
    "moto.dynamodb.comparisons.ConditionExpressionParser._lex_one_node": "58485dd15b2f6df58f0d3b939c22743b0eb39b98b5205a190696fa9f36024f4b",
    "moto.dynamodb.comparisons.ConditionExpressionParser._parse_paths": "d220e7d1e991761da993d001954b4e09793d7b5a7efdce3f5d3c988d4e7497d8",
    "moto.dynamodb.comparisons.ConditionExpressionParser.parse": "5c9b63c5f49ed5d5d644eb0ac7422fb3c2ac4bbd310374f4161686bc4e10c453",
    "moto.dynamodb.models.DynamoDBBackend.update_item": "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f",
    "moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser": "ec3e3b9cd5fdd87f65cd0a2ac3627ffa7f8200d0c72f0e3f8b44eabadb3a3df5",
    "moto.dynamodb.parsing.expressions.UpdateExpressionParser.make": "2c00ed96d6e191f243b449166e75bfb38f307b2e19405bc0981847061e0dbee3",
    "moto.dynamodb.parsing.validators.ActionCountValidator": "3fe995f04a9c4a2d1edcdef932cbdcb8781c9229148d2475c63d8ede6e17f528",
    "moto.dynamodb.parsing.validators.OverlappingPathsValidator": "27f48a77a1762303e8de34cb7b9b58020e972805e470c03dfd500fb5b4b8f20f",
    "moto.dynamodb.parsing.validators.UpdateExpressionValidator.get_ast_processors": "918400bbecd67e8321619b3141e6a276e91a5112c8e8b602fbbc748d83329af6",
    "moto.dynamodb.parsing.validators.UpdateHashRangeKeyValidator": "18ca06e4b0d82e64d0999d03d079dd08e71e7832914f2f0d374e18d26ff1518d",
    "moto.dynamodb.parsing.validators.Validator.__init__": "9489b532dd0fb359e273711c1a67971f1b73af47ddbaa91868e9cc42a26ddbb3",
    "moto.dynamodb.parsing.validators.Validator.validate": "5a99f0d36c7b7b8ebfa3e745203515f57a9b99109cfca55a039153a8f6b081c6",
    "moto.dynamodb.responses.DynamoHandler.transact_write_items": "61c163fff213f33a39317a17fda194a9c1e800992421575d2080f4500bf45372",
    "moto.dynamodb.responses.DynamoHandler.update_item": "638893af1afd43d274f3788d61ac13b447729de915c6f5ad3bbf008b92dd8e80",
    "moto.sqs.models.Queue._set_attributes": "4b7aaf3f46363f13788975ac5d49c63ee3d85c75538692d12d22f7f71cedc2f2",
    "moto.sqs.models.SQSBackend.get_queue_attributes": "58417223da457b5a0aac5ccc31b6646ed9b22c3b276a0f0d9fd5f3f13bd797ec",
    "moto.sqs.models.SQSBackend.is_message_valid_based_on_retention_period": "cca23b94a5f3af9d9c5af1c09ee5e615017bdf6bd032301cb321c06c7e595d4b",
}


def _source_digest(dotted: str) -> str:
    code = inspect.unwrap(pkgutil.resolve_name(dotted))
    return hashlib.sha256(inspect.getsource(code).encode()).hexdigest()


def test_moto_is_the_version_the_patches_were_written_against():
    assert moto.__version__ == moto_in_process.MOTO_VERSION, (
        f"moto {moto.__version__} is installed; localfaas.moto_in_process was written against "
        f"{moto_in_process.MOTO_VERSION}: read its patches against the new moto, then update MOTO_VERSION"
    )


@pytest.mark.parametrize("dotted", sorted(PATCHED_CODE))
def test_the_code_patched_is_the_code_read(dotted):
    assert _source_digest(dotted) == PATCHED_CODE[dotted], (
        f"{dotted} changed in this moto: read localfaas.moto_in_process against it, then update the digest"
    )


@pytest.fixture
def patched():
    with mock_aws():
        undo = moto_in_process.install()
        try:
            yield boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
            )
        finally:
            undo()


def _table(session):
    ddb = session.client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return ddb


def test_one_update_expression_sent_again_applies_each_time_its_own_values(patched):
    ddb = _table(patched)
    for count in ("1", "2"):
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET #c = :c",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":c": {"N": count}},
        )
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["count"] == {"N": count}


def test_an_update_expression_that_does_not_parse_fails_every_time(patched):
    ddb = _table(patched)
    for _ in range(2):
        with pytest.raises(ClientError) as error:
            ddb.update_item(
                TableName="t",
                Key={"pk": {"S": "a"}},
                UpdateExpression="SET = :c",
                ExpressionAttributeValues={":c": {"N": "1"}},
            )
        assert error.value.response["Error"]["Code"] == "ValidationException"


def test_an_update_expression_kept_is_still_validated_against_each_request(patched):
    ddb = _table(patched)
    expression = "SET #c = :c"
    ddb.update_item(
        TableName="t",
        Key={"pk": {"S": "a"}},
        UpdateExpression=expression,
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":c": {"N": "1"}},
    )
    with pytest.raises(ClientError) as error:  # the same string, now without the value it names
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#c": "c"},
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_a_service_sharing_its_host_with_another_is_still_reached(patched):
    # SES and SES v2 are both email.<region>.amazonaws.com: v1 is tried first and has no /v2/ URL.
    patched.client("ses").verify_email_identity(EmailAddress="a@example.com")
    identities = patched.client("sesv2").list_email_identities()["EmailIdentities"]
    assert [i["IdentityName"] for i in identities] == ["a@example.com"]


def test_a_path_that_names_an_aws_domain_is_routed_as_moto_routes_it(patched):
    s3 = patched.client("s3")
    s3.create_bucket(Bucket="bucket-a")
    s3.put_object(Bucket="bucket-a", Key="sqs.us-east-1.amazonaws.com/x", Body=b"kept")
    body = s3.get_object(Bucket="bucket-a", Key="sqs.us-east-1.amazonaws.com/x")["Body"].read()
    assert body == b"kept"


def test_an_aws_service_moto_lacks_is_answered_as_moto_answers_it(patched):
    from botocore.awsrequest import AWSPreparedRequest
    from moto.core.models import botocore_stubber

    request = AWSPreparedRequest("POST", "https://nosuchservice.us-east-1.amazonaws.com/", {}, b"", False)
    assert botocore_stubber.process_request(request) == (404, {}, "Not yet implemented")
    outside = AWSPreparedRequest("GET", "http://127.0.0.1:9/", {}, b"", False)
    assert botocore_stubber.process_request(outside) is None


def test_moto_code_is_back_once_every_install_is_undone():
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    stubber_code, make = vars(BotocoreStubber)["process_request"], vars(UpdateExpressionParser)["make"]
    first, second = moto_in_process.install(), moto_in_process.install()
    first()
    first()  # undoing twice counts once
    assert moto_in_process.installed()
    second()
    assert not moto_in_process.installed()
    assert vars(BotocoreStubber)["process_request"] is stubber_code
    assert vars(UpdateExpressionParser)["make"] is make


def test_answers_only_for_aws_endpoints_while_the_mock_is_on():
    url = "https://dynamodb.us-east-1.amazonaws.com/"
    assert not moto_in_process.answers(url)
    with mock_aws():
        assert moto_in_process.answers(url)
        assert not moto_in_process.answers("http://127.0.0.1:5000/")
    assert not moto_in_process.answers(url)


def test_one_condition_expression_sent_again_is_judged_each_time_on_its_own_values(patched):
    ddb = _table(patched)
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})

    def update_if_n_is(expected: str) -> None:
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET #n = :n",
            ConditionExpression="#n = :expected",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":n": {"N": "1"}, ":expected": {"N": expected}},
        )

    update_if_n_is("1")
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        update_if_n_is("2")
    update_if_n_is("1")


def test_a_condition_expression_that_does_not_lex_fails_every_time(patched):
    ddb = _table(patched)
    for _ in range(2):  # moto 5.2.5 lets its lexer's ValueError through the mock, each time
        with pytest.raises(ValueError, match="Cannot parse condition starting at:~"):
            ddb.put_item(
                TableName="t", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk) ~"
            )


def test_a_key_condition_sent_again_finds_each_time_its_own_items(patched):
    ddb = _table(patched)
    for key in ("a", "b"):
        ddb.put_item(TableName="t", Item={"pk": {"S": key}})
    for key in ("a", "b"):
        items = ddb.query(
            TableName="t", KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": key}}
        )["Items"]
        assert items == [{"pk": {"S": key}}]


def test_an_expression_checked_once_is_checked_again_with_other_names(patched):
    ddb = _table(patched)

    def set_through_a_name(attribute: str) -> None:
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET #k = :v",
            ExpressionAttributeNames={"#k": attribute},
            ExpressionAttributeValues={":v": {"S": "x"}},
        )

    set_through_a_name("other")
    with pytest.raises(ClientError, match="This attribute is part of the key"):
        set_through_a_name("pk")  # the same string, now naming the key: refused as moto refuses it
    set_through_a_name("other")


def test_an_expression_that_fails_its_checks_fails_them_every_time(patched):
    ddb = _table(patched)
    for _ in range(2):
        with pytest.raises(ClientError, match="Two document paths overlap"):
            ddb.update_item(
                TableName="t",
                Key={"pk": {"S": "a"}},
                UpdateExpression="SET a = :v, a.b = :v",
                ExpressionAttributeValues={":v": {"S": "x"}},
            )


def test_the_validator_is_moto_s_own_again_once_undone():
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator, Validator

    moto_in_process.install()()
    assert UpdateExpressionValidator.validate is Validator.validate
    assert UpdateExpressionValidator.__init__ is Validator.__init__


def test_a_message_is_received_within_its_queues_retention_and_not_past_it(patched, monkeypatch):
    from moto.sqs import models

    sqs = patched.client("sqs")
    url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="within")
    sent = models.unix_time()
    monkeypatch.setattr(models, "unix_time", lambda: sent + 59)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["within"]

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "30"})  # read per call
    sqs.send_message(QueueUrl=url, MessageBody="past")
    monkeypatch.setattr(models, "unix_time", lambda: sent + 59 + 31)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_the_sqs_retention_check_is_moto_s_own_again_once_undone():
    from moto.sqs.models import SQSBackend

    own = vars(SQSBackend)["is_message_valid_based_on_retention_period"]
    moto_in_process.install()()
    assert vars(SQSBackend)["is_message_valid_based_on_retention_period"] is own
