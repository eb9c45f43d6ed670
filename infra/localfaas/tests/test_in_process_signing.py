"""localfaas.in_process_signing: a call moto answers in this process carries SigV4's scope, not its
signature; every other request is signed by botocore as before."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore import auth
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localfaas import in_process_signing
from localfaas.sdk_hooks import SdkCall

SCOPE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def _session(key: str = "AKIDFUNCTION") -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        aws_session_token="token",
        region_name="eu-west-1",
    )


def _sent(client, call, answer: bytes = b"{}") -> list:
    """The requests the client sends (as signed) while `call` runs; answered with `answer` when no
    one else answers (a request that would otherwise go out over the network)."""
    seen = []

    def look(request, **_):
        seen.append(request)

    client.meta.events.register_first("before-send", look)
    client.meta.events.register_last(
        "before-send", lambda request, **_: AWSResponse(request.url, 200, {}, _Body(answer))
    )
    call()
    return seen


@pytest.fixture
def installed():
    undo = in_process_signing.install()
    yield
    undo()


def test_a_call_moto_answers_here_names_its_key_region_and_service_but_computes_no_signature(installed):
    with mock_aws():
        client = _session().client("dynamodb")
        (request,) = _sent(client, client.list_tables)
    header = request.headers["Authorization"].decode()
    scope = SCOPE.match(header)
    assert scope, header
    assert (scope["key"], scope["region"], scope["service"]) == ("AKIDFUNCTION", "eu-west-1", "dynamodb")
    assert scope["signature"] == in_process_signing.UNCOMPUTED
    assert "x-amz-date" in scope["signed"].split(";")
    assert request.headers["X-Amz-Security-Token"] == b"token"


def test_the_role_enforcement_reads_the_same_identity_from_it(installed):
    with mock_aws():
        client = _session("AKIDROLE").client("sqs")
        (request,) = _sent(client, client.list_queues)
    call = SdkCall(request.method, request.url, request.headers, request.body)
    assert (call.access_key_id, call.region, call.api) == ("AKIDROLE", "eu-west-1", "sqs")


def test_moto_still_answers_it_in_the_account_and_region_asked(installed):
    with mock_aws():
        sqs = _session().client("sqs")
        url = sqs.create_queue(QueueName="signed-less")["QueueUrl"]
        assert url.endswith("/123456789012/signed-less")
        assert sqs.list_queues()["QueueUrls"] == [url]
        assert _session().client("sqs", region_name="us-east-1").list_queues().get("QueueUrls", []) == []


def test_s3_gets_its_content_hash_header_as_sigv4_writes_it(installed):
    with mock_aws():
        s3 = _session().client("s3")
        s3.create_bucket(Bucket="kept", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        (request,) = _sent(s3, lambda: s3.put_object(Bucket="kept", Key="k", Body=b"body"))
        assert s3.get_object(Bucket="kept", Key="k")["Body"].read() == b"body"
    assert request.headers["X-Amz-Content-SHA256"]
    assert SCOPE.match(request.headers["Authorization"].decode())["service"] == "s3"


def test_a_request_that_leaves_the_process_is_signed_for_real(installed):
    with mock_aws():  # on, but this endpoint is not one it takes
        client = _session().client("dynamodb", endpoint_url="http://127.0.0.1:9")
        (request,) = _sent(client, client.list_tables, b'{"TableNames": []}')
    signature = SCOPE.match(request.headers["Authorization"].decode())["signature"]
    assert signature != in_process_signing.UNCOMPUTED


def test_without_the_mock_aws_requests_are_signed_for_real(installed):
    client = _session().client("dynamodb")
    (request,) = _sent(client, client.list_tables, b'{"TableNames": []}')
    assert (
        SCOPE.match(request.headers["Authorization"].decode())["signature"] != in_process_signing.UNCOMPUTED
    )


def test_presigned_urls_are_signed_for_real(installed):
    with mock_aws():
        s3 = _session().client("s3", config=Config(signature_version="s3v4"))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", url)[1]
    assert len(signature) == 64 and signature != in_process_signing.UNCOMPUTED


def test_moto_authenticating_requests_gets_real_signatures(installed, monkeypatch):
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with mock_aws():
        client = _session().client("dynamodb")

        def refused():  # moto checks the signature, and knows no such key
            with pytest.raises(ClientError, match="InvalidClientTokenId"):
                client.list_tables()

        (request,) = _sent(client, refused)
    assert (
        SCOPE.match(request.headers["Authorization"].decode())["signature"] != in_process_signing.UNCOMPUTED
    )


def test_botocores_signers_are_back_once_every_install_is_undone():
    before = dict(auth.AUTH_TYPE_MAPS)
    first, second = in_process_signing.install(), in_process_signing.install()
    assert auth.AUTH_TYPE_MAPS["v4"] is not before["v4"]
    assert issubclass(auth.AUTH_TYPE_MAPS["v4"], before["v4"])
    first()
    first()  # undoing twice counts once
    assert auth.AUTH_TYPE_MAPS["s3v4"] is not before["s3v4"]
    second()
    assert before == auth.AUTH_TYPE_MAPS
