"""The LocalStack the integration suite runs on: healthy, on 127.0.0.1 alone, one namespace per
account, and gone with its whole process group once stopped."""

from __future__ import annotations

import os

import boto3
import pytest

from tests.support.localstack import LocalStackProcess, account_for, listening_addresses

pytestmark = [pytest.mark.slow, pytest.mark.localstack]


def session(account: str) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=account, aws_secret_access_key="test", region_name="us-east-1"
    )


def test_localstack_listens_on_the_loopback_address_only(localstack):
    assert listening_addresses(localstack.port) == {"127.0.0.1"}


def test_each_account_sees_only_its_own_tables(localstack):
    mine, theirs = account_for("test-a"), account_for("test-b")
    dynamodb = session(mine).client("dynamodb", endpoint_url=localstack.endpoint_url)
    dynamodb.create_table(
        TableName="isolated",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = dynamodb.describe_table(TableName="isolated")["Table"]["TableArn"]
    other = session(theirs).client("dynamodb", endpoint_url=localstack.endpoint_url)

    assert arn == f"arn:aws:dynamodb:us-east-1:{mine}:table/isolated"
    assert "isolated" not in other.list_tables()["TableNames"]
    assert (
        session(mine).client("sts", endpoint_url=localstack.endpoint_url).get_caller_identity()["Account"]
        == mine
    )


def test_module_accounts_differ_and_are_never_motos_default():
    accounts = {account_for(name) for name in ("a", "b", "c")}
    assert len(accounts) == 3
    assert all(len(a) == 12 and a.isdigit() and a != "123456789012" for a in accounts)


def test_stopping_localstack_ends_its_whole_process_group(tmp_path):
    process = LocalStackProcess(tmp_path).start()
    group = process.process.pid
    port = process.port

    process.stop()

    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
    assert listening_addresses(port) == set()


def test_a_localstack_that_cannot_start_says_why(tmp_path):
    from tests.support.localstack import LocalStackNotStarted

    missing = LocalStackProcess(tmp_path, python=tmp_path / "no-such-venv" / "bin" / "python")
    with pytest.raises(LocalStackNotStarted, match="make setup"):
        missing.start()
