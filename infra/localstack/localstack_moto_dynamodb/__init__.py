"""DynamoDB in LocalStack served by its bundled moto, selected with PROVIDER_OVERRIDE_DYNAMODB=moto.

LocalStack's own DynamoDB providers forward every request to DynamoDB Local, which LocalStack
downloads (a Java runtime and a zip) the first time the service starts; on a machine that reaches
only package registries that download fails and DynamoDB never comes up. This provider implements
no operation itself, so LocalStack's MotoFallbackDispatcher hands each one to moto's DynamoDB
backend, as LocalStack does for its moto-backed services (ACM, Config, ...). What differs from
DynamoDB Local is moto's fidelity: https://docs.getmoto.org/en/latest/docs/services/dynamodb.html

LocalStack finds providers through the `localstack.aws.provider` entry point group, named
"<service>:<name>", and picks the one PROVIDER_OVERRIDE_<SERVICE> names:
https://docs.localstack.cloud/aws/capabilities/config/configuration/#core
"""

from __future__ import annotations

from localstack.services.plugins import aws_provider


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():  # returns a LocalStack Service, whose imports exist only inside LocalStack
    from localstack.aws.api.dynamodb import DynamodbApi
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service

    class MotoDynamoDBProvider(DynamodbApi):
        """Every operation falls through to moto."""

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)
