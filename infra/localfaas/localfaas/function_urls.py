"""Lambda function URLs (SAM's `FunctionUrlConfig`, AWS::Lambda::Url) on 127.0.0.1, one port each:
a function URL owns every path of its host, as `https://<url-id>.lambda-url.<region>.on.aws` does.

"Invoking Lambda function URLs" (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html)
gives the request and response payloads: those of an HTTP API's payload format 2.0 with the route
key and stage `$default`, `requestContext.accountId` "anonymous" for AuthType NONE and the URL id as
`apiId`; the answer maps as 2.0 does (a response without `statusCode` is a 200 JSON body). The URL's
Cors is applied as an HTTP API's CorsConfiguration (localfaas.api_gateway), and a function error
is a 502.

Not emulated: AuthType AWS_IAM's signature check (requests are let through; the event carries the
stack's account), InvokeMode RESPONSE_STREAM (answered whole, buffered), qualifiers (aliases).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from localfaas.api_gateway import ApiGateway
from localfaas.api_routes import DEFAULT_ROUTE, URL, Api, Route, cors_from_config
from localfaas.template import FunctionNotFound

if TYPE_CHECKING:
    from localfaas.local_stack import LocalStack

__all__ = ["FunctionUrls", "function_url_apis", "function_urls_for"]


def function_url_apis(stack: LocalStack) -> list[Api]:
    """One single-route API per function URL of the template, named after the URL's logical id."""
    apis = []
    for resource in stack.template.resources_of_type("AWS::Lambda::Url"):
        try:
            function = stack.function(str(resource.properties.get("TargetFunctionArn", "")))
        except FunctionNotFound as e:
            stack.warnings.append(f"{resource.logical_id}: {e}; not served")
            continue
        # The URL id is 32 lowercase letters and digits; derived from the function, it stays put.
        url_id = hashlib.sha256(function.arn.encode()).hexdigest()[:32]
        api = Api(
            resource.logical_id,
            URL,
            url_id,
            DEFAULT_ROUTE,
            cors=cors_from_config(resource.properties.get("Cors")),
            auth_type=str(resource.properties.get("AuthType", "NONE")),
        )
        api.routes.append(Route(api, "ANY", DEFAULT_ROUTE, function.arn, "2.0"))
        apis.append(api)
    return apis


class FunctionUrls:
    """Every function URL of a stack, each served by its own gateway on a free port."""

    def __init__(self, stack: LocalStack, apis: list[Api]) -> None:
        self.gateways = {
            api.logical_id: ApiGateway([api], stack.invoke, account_id=stack.account_id) for api in apis
        }

    @property
    def urls(self) -> dict[str, str]:
        """Logical id of each AWS::Lambda::Url (the function's id + "Url") -> its local endpoint."""
        return {name: gateway.endpoint_url for name, gateway in self.gateways.items()}

    def start(self) -> FunctionUrls:
        for gateway in self.gateways.values():
            gateway.start()
        return self

    def stop(self) -> None:
        for gateway in self.gateways.values():
            gateway.stop()

    def __enter__(self) -> FunctionUrls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def function_urls_for(stack: LocalStack) -> FunctionUrls | None:
    """The stack's function URLs (not started), or None when the template has none."""
    apis = function_url_apis(stack)
    return FunctionUrls(stack, apis) if apis else None
