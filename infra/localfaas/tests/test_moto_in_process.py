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
# must not change it; the transaction's rollback: the writes whose changes it puts back), as moto 5.2.5 has it: a change here means the patch is to be
# read again against the new code (and these digests updated), not trusted.
PATCHED_CODE = {
    "moto.core.botocore_stubber.BotocoreStubber.process_request": "f79a1a778c7e755f0c7f234cdab9e36312ed2b16d7051baf06b04872f79dd5b2",
    "moto.core.responses.BaseResponse.call_action": "26076963fd17fd1a40be642032b5a8d90f159c19d01b80a5f0b0c839770ee0d6",
    "moto.core.utils.method_names_from_class": "9dbac89d082b655fee902c450e69de9dbadf9699ad06411298494984b55138c3",
    "moto.dynamodb.comparisons.ConditionExpressionParser._lex_condition_expression": "a815288359216b2e4dfec54d1a3d032d52d9faa3e7a17a6ff127841e457301fa",
    "moto.dynamodb.comparisons.ConditionExpressionParser._lex_one_node": "58485dd15b2f6df58f0d3b939c22743b0eb39b98b5205a190696fa9f36024f4b",
    "moto.dynamodb.comparisons.ConditionExpressionParser._parse_paths": "d220e7d1e991761da993d001954b4e09793d7b5a7efdce3f5d3c988d4e7497d8",
    "moto.dynamodb.comparisons.ConditionExpressionParser.parse": "5c9b63c5f49ed5d5d644eb0ac7422fb3c2ac4bbd310374f4161686bc4e10c453",
    "moto.dynamodb.models.DynamoDBBackend.delete_item": "083a4bb1af18f6fd2feef40195a4c9c803da66cb2cacd14f87916c6e76930ea5",
    "moto.dynamodb.models.DynamoDBBackend.get_item": "290b95c46b38bc5ac8079668e9c449bba9b6b26f4a2872d80ca262115023e189",
    "moto.dynamodb.models.DynamoDBBackend.get_keys_value": "1f948797496ddc2cd4e4752e29e470d19ce757ca3406e07fed6bd90b331c1caa",
    "moto.dynamodb.models.DynamoDBBackend.get_table": "a738146035fc206b81e0659a004dcc62ae70eb356ef7c5ab771ba68bdd2d7ab0",
    "moto.dynamodb.models.DynamoDBBackend.put_item": "f5d9a5042c77b89e5f4c88b5884f7966b9dccd95b8b04090ee9e07afc5eea675",
    "moto.dynamodb.models.DynamoDBBackend.transact_write_items": "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4",
    "moto.dynamodb.models.DynamoDBBackend.update_item": "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f",
    "moto.dynamodb.models.table.Table.delete_item": "1594f7b07616c8cb8cdf0fbf58d6f54eeac83f25d7ac7b14e832a08e10efd8f9",
    "moto.dynamodb.models.table.Table.get_item": "b08e98fe37b7e5836afe03b010d637ef50df5dea6cbecd9cf8816eef326a21cd",
    "moto.dynamodb.models.table.Table.put_item": "de23933013ef842639046c19bcf7e418bce0474d810f6719368be4cedce11d47",
    "moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser": "ec3e3b9cd5fdd87f65cd0a2ac3627ffa7f8200d0c72f0e3f8b44eabadb3a3df5",
    "moto.dynamodb.parsing.executors.UpdateExpressionExecutor": "9c4ec4ab713474c122d5c81b05880446104b7245630b4abbb711a3356bf81aae",
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


# -- TransactWriteItems: all or nothing, its rollback item by item --------------------------------


def _store(session):
    """An orders table (hash key) and an order lines table (hash and range keys), with items."""
    ddb = session.client("dynamodb")
    ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName="lines",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for pk in ("o1", "o2", "o3", "o4"):
        ddb.put_item(TableName="orders", Item={"pk": {"S": pk}, "total": {"N": "10"}, "tags": {"SS": ["x"]}})
    for pk, n in (("a", "1"), ("a", "2"), ("b", "1")):
        ddb.put_item(TableName="lines", Item={"pk": {"S": pk}, "n": {"N": n}, "sku": {"S": f"{pk}{n}"}})
    return ddb


def _contents(ddb):
    """Each table's items as a scan reads them, its item count, and how moto holds them: the order
    of its dicts (partitions and items) and the empty partitions its reads leave, which a scan (it
    sorts) does not show, as moto's own rollback leaves them."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    return {
        name: (
            ddb.scan(TableName=name)["Items"],
            ddb.describe_table(TableName=name)["Table"]["ItemCount"],
            [
                (key.value, [r.value for r in held] if tables[name].range_key_attr else held.to_json())
                for key, held in tables[name].items.items()
            ],
        )
        for name in ("orders", "lines")
    }


def _order(pk):
    return {"pk": {"S": pk}}


def _line(pk, n):
    return {"pk": {"S": pk}, "n": {"N": n}}


_WRITES = [  # a mix across both tables: a new item, updates in place, deletes, a new partition
    {"Put": {"TableName": "orders", "Item": {**_order("o9"), "total": {"N": "1"}}}},
    {
        "Update": {
            "TableName": "orders",
            "Key": _order("o2"),
            "UpdateExpression": "SET #t = #t + :one ADD tags :y",
            "ExpressionAttributeNames": {"#t": "total"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":y": {"SS": ["y"]}},
        }
    },
    {"Delete": {"TableName": "orders", "Key": _order("o1")}},
    {"Delete": {"TableName": "lines", "Key": _line("a", "1")}},
    {"Put": {"TableName": "lines", "Item": {**_line("c", "1"), "sku": {"S": "c1"}}}},
    {
        "Update": {
            "TableName": "lines",
            "Key": _line("b", "1"),
            "UpdateExpression": "REMOVE sku",
        }
    },
]

_FAILING = {
    # a condition fails last: TransactionCanceledException, once every other action has run
    "a condition": [
        *_WRITES,
        {
            "ConditionCheck": {
                "TableName": "orders",
                "Key": _order("o3"),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ],
    # two operations on one item: moto raises ValidationException from inside its loop
    "one item twice": [*_WRITES, {"Delete": {"TableName": "orders", "Key": _order("o2")}}],
    # an update that makes its item, then finds no attribute to add to
    "an update of a new item": [
        *_WRITES,
        {
            "Update": {
                "TableName": "lines",
                "Key": _line("d", "1"),
                "UpdateExpression": "SET q = q + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
    ],
    # one item under two spellings of its key, which moto's check for one operation an item lets
    # through: checked, then updated in place, then a condition fails
    "one item spelt twice": [
        {
            "ConditionCheck": {
                "TableName": "lines",
                "Key": _line("a", "2.0"),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": "lines",
                "Key": _line("a", "2"),
                "UpdateExpression": "SET sku = :v",
                "ExpressionAttributeValues": {":v": {"S": "changed"}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": "orders",
                "Key": _order("o3"),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ],
    # a key missing its range key, and a check on a partition that is not there
    "a key without its range": [
        {
            "ConditionCheck": {
                "TableName": "lines",
                "Key": _line("e", "1"),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
        *_WRITES,
        {"Delete": {"TableName": "lines", "Key": {"pk": {"S": "a"}}}},
    ],
}


def _a_day_of_transactions(session):
    """Every failing transaction, what it answered and what it left; then writes after them, whose
    places show what the rollback left of each table's order."""
    ddb = _store(session)
    seen = [_contents(ddb)]
    for items in _FAILING.values():
        with pytest.raises(ClientError) as error:
            ddb.transact_write_items(TransactItems=items)
        seen.append((error.value.response["Error"], error.value.response.get("CancellationReasons")))
        seen.append(_contents(ddb))
    ddb.put_item(TableName="lines", Item=_line("f", "1"))
    ddb.put_item(TableName="lines", Item=_line("e", "1"))  # after f: e's empty partition went back
    ddb.put_item(TableName="orders", Item=_order("o0"))
    ddb.transact_write_items(TransactItems=_WRITES)
    seen.append(_contents(ddb))
    return seen


@pytest.mark.parametrize("failing", sorted(_FAILING))
def test_a_failed_transaction_leaves_every_item_as_it_was(patched, failing):
    ddb = _store(patched)
    before = _contents(ddb)
    with pytest.raises(ClientError) as error:
        ddb.transact_write_items(TransactItems=_FAILING[failing])
    assert error.value.response["Error"]["Code"] in ("TransactionCanceledException", "ValidationException")
    assert _contents(ddb) == before  # the same items and values, held in the same order


def test_a_transaction_that_succeeds_applies_every_action(patched):
    ddb = _store(patched)
    ddb.transact_write_items(TransactItems=_WRITES)
    orders = {i["pk"]["S"]: i for i in ddb.scan(TableName="orders")["Items"]}
    assert sorted(orders) == ["o2", "o3", "o4", "o9"]
    assert orders["o2"]["total"] == {"N": "11"} and sorted(orders["o2"]["tags"]["SS"]) == ["x", "y"]
    lines = {(i["pk"]["S"], i["n"]["N"]): i for i in ddb.scan(TableName="lines")["Items"]}
    assert sorted(lines) == [("a", "2"), ("b", "1"), ("c", "1")]
    assert "sku" not in lines[("b", "1")]


def test_transactions_answer_and_leave_the_tables_as_moto_s_own_code_does():
    def day(install):
        with mock_aws():
            undo = install()
            try:
                return _a_day_of_transactions(
                    boto3.session.Session(
                        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
                    )
                )
            finally:
                undo()

    assert day(moto_in_process.install) == day(lambda: lambda: None)


def test_a_failed_transaction_on_a_table_with_a_stream_leaves_no_record_of_its_writes(patched):
    ddb = _store(patched)
    ddb.update_table(
        TableName="orders", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    )
    ddb.put_item(TableName="orders", Item=_order("o5"))
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(TransactItems=_FAILING["a condition"])
    # moto 5.2.5 routes only the endpoint's "/" path, which botocore leaves off unless it is given
    streams = patched.client(
        "dynamodbstreams", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com/"
    )
    arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]) for r in records] == [("INSERT", _order("o5"))]


def test_transact_write_items_is_moto_s_own_again_once_undone():
    from moto.dynamodb.models import DynamoDBBackend

    own = vars(DynamoDBBackend)["transact_write_items"]
    moto_in_process.install()()
    assert vars(DynamoDBBackend)["transact_write_items"] is own


def test_another_moto_is_left_as_it_is(monkeypatch, caplog):
    from moto.core.botocore_stubber import BotocoreStubber

    own = vars(BotocoreStubber)["process_request"]
    monkeypatch.setattr(moto_in_process, "MOTO_VERSION", "0.0.0")
    undo = moto_in_process.install()
    assert not moto_in_process.installed()
    assert vars(BotocoreStubber)["process_request"] is own
    assert "in-process cuts are off" in caplog.text
    undo()
