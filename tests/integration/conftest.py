"""Integration fixtures: the Tansu broker from localfaas's tests (a real Kafka protocol peer)."""

from infra.localfaas.tests.tansu import tansu_bootstrap  # noqa: F401 - a fixture, used by name
