"""Integration fixtures: the Tansu broker from localfaas's tests (a real Kafka protocol peer), and
LocalStack (tests/support/localstack.py), the storefront's second backend."""

from infra.localfaas.tests.tansu import tansu_bootstrap  # noqa: F401 - a fixture, used by name
from tests.support.localstack import localstack  # noqa: F401 - a fixture, used by name
