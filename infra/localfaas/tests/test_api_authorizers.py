"""Authorizers in front of the template's APIs, driven with requests: REST TOKEN and REQUEST Lambda
authorizers (policies, 401/403/500), an HTTP API's Lambda authorizer with simple responses, and a JWT
authorizer checked against a local issuer's JWKS (signature, issuer, audience, expiry, scopes)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from infra.localfaas.tests.sam_app import write_app
from localfaas.api_authorizers import AuthorizerCache
from localfaas.api_gateway import ApiGateway, api_gateway_for
from localfaas.api_jwt import jwks_from_file
from localfaas.api_routes import apis_from_stack
from localfaas.local_stack import LocalStack

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Issuer: {Type: String}
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src
Resources:
  Authz:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.authorize}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Events:
        Tok:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /tok, Method: get, Auth: {Authorizer: TokAuth}}
        TokOther:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /tok-other, Method: get, Auth: {Authorizer: TokAuth}}
        Req:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /req, Method: get}
        Open:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /open, Method: get, Auth: {Authorizer: NONE}}
        Simple:
          Type: HttpApi
          Properties: {ApiId: !Ref Http, Path: /simple, Method: get}
        Jwt:
          Type: HttpApi
          Properties:
            ApiId: !Ref Http
            Path: /orders
            Method: get
            Auth: {Authorizer: Jwt, AuthorizationScopes: [orders.read]}
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Auth:
        DefaultAuthorizer: ReqAuth
        Authorizers:
          TokAuth:
            FunctionArn: !GetAtt Authz.Arn
          ReqAuth:
            FunctionArn: !GetAtt Authz.Arn
            FunctionPayloadType: REQUEST
            Identity: {Headers: [X-Key], QueryStrings: [k]}
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Simple
        Authorizers:
          Simple:
            FunctionArn: !GetAtt Authz.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization], ReauthorizeEvery: 0}
          Jwt:
            IdentitySource: "$request.header.Authorization"
            JwtConfiguration:
              issuer: !Ref Issuer
              audience: [shop]
"""

APP = """\
import json


def policy(effect, resource, **context):
    return {
        "principalId": "ada",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


def authorize(event, context):
    if event.get("version") == "2.0":
        return {"isAuthorized": event["identitySource"] == ["let-me-in"], "context": {"tier": "gold"}}
    if event["type"] == "TOKEN":
        token = event["authorizationToken"]
        if token == "raise":
            raise Exception("Unauthorized")
        if token == "broken":
            return "nonsense"
        return policy("Allow" if token == "allow" else "Deny", event["methodArn"], user="ada", level=3)
    key = event["headers"]["X-Key"]
    api_wide = event["methodArn"].split("/")[0] + "/*"  # every method of every stage
    return policy("Allow" if key == "allow" else "Deny", api_wide, key=key, k=event["queryStringParameters"]["k"])


def echo(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"].get("authorizer"))}
"""

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key, kid: str) -> dict:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }


def token(issuer: str, *, key=KEY, kid: str = "k1", **claims) -> str:
    now = int(time.time())
    body = {
        "iss": issuer,
        "aud": "shop",
        "sub": "c-1",
        "exp": now + 600,
        "iat": now - 10,
        "scope": "orders.read",
    }
    body.update(claims)
    signing_input = (
        f"{b64url(json.dumps({'alg': 'RS256', 'kid': kid}).encode())}.{b64url(json.dumps(body).encode())}"
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


@pytest.fixture(scope="module")
def issuer():
    """A local identity provider: its OpenID configuration and its JWKS (one key, kid k1)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            documents = {
                "/.well-known/openid-configuration": {"issuer": base, "jwks_uri": f"{base}/jwks"},
                "/jwks": {"keys": [jwk(KEY, "k1")]},
            }
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, issuer):
    template = write_app(tmp_path_factory.mktemp("authorizers"), TEMPLATE, {"src/app.py": APP})
    with LocalStack(template, parameters={"Issuer": issuer}) as stack:
        yield stack


@pytest.fixture(scope="module")
def url(stack):
    with api_gateway_for(stack) as gateway:
        yield gateway.endpoint_url


def get(url: str, path: str, **headers: str) -> requests.Response:
    return requests.get(f"{url}{path}", headers=headers, timeout=30)


# -- REST Lambda authorizers --------------------------------------------------------------------


def test_a_token_authorizer_s_allow_lets_the_request_through_with_its_context(url):
    response = get(url, "/tok", Authorization="allow")
    assert response.status_code == 200
    assert response.json() == {"principalId": "ada", "user": "ada", "level": 3, "integrationLatency": 0}


def test_a_token_authorizer_s_deny_is_a_403(url):
    response = get(url, "/tok", Authorization="deny")
    assert response.status_code == 403
    assert response.json() == {
        "Message": "User is not authorized to access this resource with an explicit deny"
    }


@pytest.mark.parametrize("headers", [{}, {"Authorization": "raise"}])
def test_no_token_or_an_unauthorized_error_is_a_401(url, headers):
    response = get(url, "/tok", **headers)
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})


def test_an_authorizer_answer_that_is_no_policy_is_a_500(url):
    assert get(url, "/tok", Authorization="broken").status_code == 500


def test_a_request_authorizer_sees_the_identity_sources_and_a_wildcard_policy_allows(url):
    response = requests.get(f"{url}/req?k=q1", headers={"X-Key": "allow"}, timeout=30)
    assert response.status_code == 200
    assert response.json()["k"] == "q1"
    assert get(url, "/req?k=q1", **{"X-Key": "nope"}).status_code == 403


def test_a_request_authorizer_missing_one_identity_source_is_a_401(url):
    assert get(url, "/req", **{"X-Key": "allow"}).status_code == 401  # no ?k=


def test_a_route_with_authorizer_none_is_open(url):
    response = get(url, "/open")
    assert (response.status_code, response.json()) == (200, None)


# -- HTTP API Lambda authorizer, simple responses ------------------------------------------------


def test_an_http_simple_response_authorizer_lets_through_with_its_context_under_lambda(url):
    response = get(url, "/simple", Authorization="let-me-in")
    assert (response.status_code, response.json()) == (200, {"lambda": {"tier": "gold"}})


def test_an_http_simple_response_refusal_is_a_403_and_no_identity_a_401(url):
    assert (get(url, "/simple", Authorization="other").status_code, get(url, "/simple").status_code) == (
        403,
        401,
    )


# -- JWT authorizer ------------------------------------------------------------------------------


def test_a_valid_jwt_lets_through_with_its_claims_and_scopes(url, issuer):
    response = get(url, "/orders", Authorization=f"Bearer {token(issuer)}")
    assert response.status_code == 200
    jwt = response.json()["jwt"]
    assert jwt["claims"]["sub"] == "c-1"
    assert jwt["scopes"] == ["orders.read"]


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"exp": -1},  # seconds from now, made a time when the test runs, not when it is collected
        {"nbf": 600},
        {"iss": "https://elsewhere.example"},
    ],
    ids=["audience", "expired", "not-yet", "issuer"],
)
def test_a_jwt_with_a_wrong_claim_is_a_401(url, issuer, claims):
    claims = {k: int(time.time()) + v if k in ("exp", "nbf") else v for k, v in claims.items()}
    response = get(url, "/orders", Authorization=token(issuer, **claims))
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})


def test_a_jwt_signed_by_another_key_or_an_unknown_kid_is_a_401(url, issuer):
    assert get(url, "/orders", Authorization=token(issuer, key=OTHER_KEY)).status_code == 401
    assert get(url, "/orders", Authorization=token(issuer, kid="k2")).status_code == 401
    assert get(url, "/orders", Authorization="not-a-jwt").status_code == 401
    assert get(url, "/orders").status_code == 401


def test_a_jwt_without_the_route_s_scope_is_a_403(url, issuer):
    response = get(url, "/orders", Authorization=token(issuer, scope="profile"))
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})


def test_client_id_stands_for_the_audience(url, issuer):
    assert get(url, "/orders", Authorization=token(issuer, aud=None, client_id="shop")).status_code == 200


def test_a_jwks_file_given_to_localfaas_stands_for_the_issuer_s_own(stack, issuer, tmp_path):
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk(OTHER_KEY, "k1")]}))
    with api_gateway_for(stack, jwks=jwks_from_file(str(tmp_path / "jwks.json"))) as gateway:
        assert (
            get(gateway.endpoint_url, "/orders", Authorization=token(issuer, key=OTHER_KEY)).status_code
            == 200
        )
        assert get(gateway.endpoint_url, "/orders", Authorization=token(issuer)).status_code == 401


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "is not valid JSON"), ('{"kid": "k1"}', 'must hold {"keys": [...]}')],
)
def test_an_unusable_jwks_file_is_one_line(tmp_path, text, message):
    (tmp_path / "jwks.json").write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        jwks_from_file(str(tmp_path / "jwks.json"))


# -- caching -------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fresh_gateway(stack, clock: Clock) -> ApiGateway:
    apis = apis_from_stack(stack.template)
    return ApiGateway(
        apis, stack.invoke, account_id=stack.account_id, authorizer_cache=AuthorizerCache(clock)
    )


def authorizer_runs(stack) -> int:
    return stack.report().data["functions"].get("Authz", {}).get("invocations", 0)


def test_a_cached_policy_naming_one_method_refuses_another_until_it_expires(stack):
    clock = Clock()
    with fresh_gateway(stack, clock) as gateway:
        assert get(gateway.endpoint_url, "/tok", Authorization="allow").status_code == 200
        refused = get(gateway.endpoint_url, "/tok-other", Authorization="allow")
        assert (refused.status_code, refused.json()) == (
            403,
            {"Message": "User is not authorized to access this resource"},
        )
        clock.now += 301  # REST's default TTL is 300 s
        assert get(gateway.endpoint_url, "/tok-other", Authorization="allow").status_code == 200


def test_an_authorizer_runs_once_per_identity_while_cached_and_every_time_with_a_ttl_of_0(stack):
    with fresh_gateway(stack, Clock()) as gateway:
        before = authorizer_runs(stack)
        for _ in range(2):
            get(gateway.endpoint_url, "/tok", Authorization="allow")
        assert authorizer_runs(stack) == before + 1
        for _ in range(2):
            get(gateway.endpoint_url, "/simple", Authorization="let-me-in")
        assert authorizer_runs(stack) == before + 3
