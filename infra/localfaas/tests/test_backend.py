"""Backends: moto's server in a thread, LocalStack's and AWS's configuration (no network for those)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from localfaas.backend import (
    AwsBackend,
    BackendError,
    LocalStackBackend,
    MotoBackend,
    RemoteMotoBackend,
    make_backend,
)


@pytest.fixture(scope="module")
def moto():
    with MotoBackend(account_id="111122223333") as backend:
        yield backend


@pytest.fixture
def fresh_moto(moto):
    moto.reset()
    return moto


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST", "USE_SSL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_moto_listens_on_loopback_with_a_free_port(moto):
    assert moto.endpoint_url.startswith("http://127.0.0.1:")
    assert not moto.endpoint_url.endswith(":0")


def test_moto_client_is_made_once_per_service(moto):
    assert moto.client("sqs") is moto.client("sqs")
    assert moto.client("sqs") is not moto.client("sns")


def test_moto_client_talks_to_the_server_in_the_backends_region(fresh_moto):
    sqs = fresh_moto.client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    assert url.startswith(fresh_moto.endpoint_url)
    assert sqs.meta.region_name == "us-east-1"


def test_moto_answers_in_the_stacks_account(fresh_moto):
    sqs = fresh_moto.client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn == "arn:aws:sqs:us-east-1:111122223333:orders"


def test_moto_reset_forgets_every_resource(moto):
    moto.client("s3").create_bucket(Bucket="kept-until-reset")
    moto.reset()
    assert moto.client("s3").list_buckets()["Buckets"] == []


def test_moto_reset_on_start_empties_state_left_by_an_earlier_run(moto):
    moto.reset()
    moto.client("dynamodb").create_table(
        TableName="left-over",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # moto's state is per process, so a second server sees the first one's table unless it resets.
    with MotoBackend(reset=True) as second:
        assert second.client("dynamodb").list_tables()["TableNames"] == []


def test_moto_function_env_points_a_plain_boto3_client_at_the_server(fresh_moto, clean_env):
    fresh_moto.client("sqs").create_queue(QueueName="seen-by-the-function")
    child = "import boto3, json; print(json.dumps(boto3.client('sqs').list_queues().get('QueueUrls', [])))"
    env = {"PATH": os.environ.get("PATH", ""), **fresh_moto.function_env()}
    out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, check=True)
    urls = json.loads(out.stdout)
    assert [url.rsplit("/", 1)[-1] for url in urls] == ["seen-by-the-function"]


def test_moto_function_env_has_dummy_credentials_and_the_region(moto):
    env = moto.function_env()
    assert env["AWS_ENDPOINT_URL"] == moto.endpoint_url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= env.keys()


def test_remote_moto_sees_and_keeps_what_the_owners_server_holds(fresh_moto):
    fresh_moto.client("s3").create_bucket(Bucket="made-by-the-owner")
    with RemoteMotoBackend(fresh_moto.endpoint_url + "/", account_id="111122223333") as remote:
        assert remote.kind == "moto" and remote.endpoint_url == fresh_moto.endpoint_url
        remote.client("s3").create_bucket(Bucket="made-by-a-child")
        assert remote.function_env()["AWS_ENDPOINT_URL"] == fresh_moto.endpoint_url
    # Stopping the remote leaves the server and its resources to their owner.
    names = {b["Name"] for b in fresh_moto.client("s3").list_buckets()["Buckets"]}
    assert names == {"made-by-the-owner", "made-by-a-child"}


def test_stopped_moto_has_no_endpoint_to_give_functions():
    backend = MotoBackend().start()
    backend.stop()
    assert backend.endpoint_url is None
    with pytest.raises(BackendError):
        backend.function_env()


def test_localstack_defaults_to_the_edge_port_on_localhost(clean_env):
    assert LocalStackBackend().endpoint_url == "http://localhost:4566"


def test_localstack_follows_localstack_host(clean_env, monkeypatch):
    monkeypatch.setenv("LOCALSTACK_HOST", "127.0.0.1:4510")
    assert LocalStackBackend().endpoint_url == "http://127.0.0.1:4510"


def test_localstack_explicit_endpoint_wins_and_clients_use_it(clean_env):
    backend = LocalStackBackend("http://127.0.0.1:4599/", region="eu-west-1")
    client = backend.client("dynamodb")
    assert client.meta.endpoint_url == "http://127.0.0.1:4599"
    assert client.meta.region_name == "eu-west-1"


def test_localstack_access_key_is_the_account_id_for_namespacing(clean_env):
    env = LocalStackBackend(account_id="000000000042").function_env()
    assert env["AWS_ACCESS_KEY_ID"] == "000000000042"
    assert env["AWS_ENDPOINT_URL"] == "http://localhost:4566"


def test_localstack_start_fails_clearly_when_nothing_listens(clean_env):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendError, match="LocalStack is not reachable"):
        LocalStackBackend(f"http://127.0.0.1:{port}").start()


def test_aws_has_no_endpoint_override(clean_env):
    backend = AwsBackend(region="eu-central-1")
    assert backend.endpoint_url is None
    assert backend.client("sqs").meta.endpoint_url == "https://sqs.eu-central-1.amazonaws.com"


def test_aws_function_env_passes_no_credentials(clean_env):
    env = AwsBackend(profile="storefront-dev", region="eu-central-1").function_env()
    assert env == {
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_PROFILE": "storefront-dev",
    }


@pytest.mark.parametrize(
    ("kind", "backend_class"), [("moto", MotoBackend), ("localstack", LocalStackBackend), ("aws", AwsBackend)]
)
def test_make_backend_builds_each_kind_without_starting_it(kind, backend_class, clean_env):
    backend = make_backend(kind, region="ap-southeast-2")
    assert isinstance(backend, backend_class)
    assert backend.kind == kind
    assert backend.region == "ap-southeast-2"
    if kind == "moto":
        assert backend.endpoint_url is None


def test_make_backend_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="moto, localstack, aws"):
        make_backend("docker")
