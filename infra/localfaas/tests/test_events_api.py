"""The EventBridge endpoint functions talk to: boto3's own client, pointed at it by endpoint_url or by
AWS_ENDPOINT_URL_EVENTBRIDGE, gets PutEvents answered as the API answers it; other operations go to
the backend, or fail with UnknownOperationException when there is none."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from localfaas.backend import MotoBackend
from localfaas.bus import EventBus
from localfaas.events_api import ENDPOINT_VARIABLE, EventsApi
from localfaas.scheduler import VirtualScheduler

CREDENTIALS = {
    "aws_access_key_id": "localfaas",
    "aws_secret_access_key": "localfaas",
    "region_name": "us-east-1",
}


def entry(**fields) -> dict:
    return {
        "Source": "shop.orders",
        "DetailType": "OrderTaken",
        "Detail": json.dumps({"orderId": "o-1"}),
        **fields,
    }


@pytest.fixture
def bus():
    clock = VirtualScheduler(1_700_000_000.0)
    return EventBus(
        "default",
        [],
        lambda target, payload: None,
        clock=clock,
        account_id="123456789012",
        region="us-east-1",
    )


@pytest.fixture
def received():
    return []


@pytest.fixture
def api(bus, received):
    def put_events(entries):
        received.extend(entries)
        return bus.put_events(entries)

    with EventsApi(put_events) as api:
        yield api


def events_client(endpoint_url: str | None = None):
    return boto3.client("events", endpoint_url=endpoint_url, **CREDENTIALS)


def test_put_events_is_answered_with_an_event_id_per_entry(api):
    response = events_client(api.endpoint_url).put_events(Entries=[entry(), entry()])
    assert response["FailedEntryCount"] == 0
    assert [len(e["EventId"]) for e in response["Entries"]] == [36, 36]


def test_an_entry_the_bus_refuses_fails_alone_with_its_error_code(api):
    response = events_client(api.endpoint_url).put_events(Entries=[entry(), entry(Detail="not json")])
    assert response["FailedEntryCount"] == 1
    assert "EventId" in response["Entries"][0]
    assert response["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}


def test_a_request_refused_as_a_whole_raises_a_validation_exception(api):
    with pytest.raises(ClientError) as raised:
        events_client(api.endpoint_url).put_events(Entries=[entry() for _ in range(11)])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 10" in raised.value.response["Error"]["Message"]


def test_boto3_finds_the_endpoint_through_the_eventbridge_endpoint_variable(api, received, monkeypatch):
    monkeypatch.setenv(ENDPOINT_VARIABLE, api.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the backend's; the specific one wins
    events_client().put_events(Entries=[entry(EventBusName="default")])
    assert [e["EventBusName"] for e in received] == ["default"]


def test_other_operations_without_a_backend_are_unknown(api):
    with pytest.raises(ClientError) as raised:
        events_client(api.endpoint_url).list_rules()
    assert raised.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "PutEvents only" in raised.value.response["Error"]["Message"]


def test_other_operations_are_forwarded_to_the_backend(bus):
    with MotoBackend(reset=True) as backend, EventsApi(bus.put_events, proxy_url=backend.endpoint_url) as api:
        backend.client("events").create_event_bus(Name="orders")
        names = [b["Name"] for b in events_client(api.endpoint_url).list_event_buses()["EventBuses"]]
    assert "orders" in names


def test_a_body_that_is_not_json_is_a_serialization_error(api):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        api.endpoint_url, data=b"{not json", headers={"X-Amz-Target": "AWSEvents.PutEvents"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400
    assert json.loads(raised.value.read())["__type"] == "SerializationException"


def test_only_the_as_service_path_puts_an_aws_source_and_only_when_the_stack_serves_it(bus):
    from localfaas.events_api import AS_SERVICE_PATH

    service_entry = entry(Source="aws.ec2", DetailType="EC2 Instance State-change Notification")
    as_service = lambda entries: bus.put_events(entries, as_service=True)  # noqa: E731
    with EventsApi(bus.put_events, put_service_events=as_service) as api:
        root = boto3.client("events", endpoint_url=api.endpoint_url, **CREDENTIALS)
        service = boto3.client("events", endpoint_url=api.endpoint_url + AS_SERVICE_PATH, **CREDENTIALS)
        refused = root.put_events(Entries=[service_entry])["Entries"][0]
        accepted = service.put_events(Entries=[service_entry])["Entries"][0]
    assert refused["ErrorCode"] == "NotAuthorizedForSourceException"
    assert "EventId" in accepted
    with EventsApi(bus.put_events) as api:
        service = boto3.client("events", endpoint_url=api.endpoint_url + AS_SERVICE_PATH, **CREDENTIALS)
        with pytest.raises(ClientError, match="UnknownOperationException"):
            service.put_events(Entries=[service_entry])
