"""TLS to the read model: verify-full checks the server's chain against the RDS CA bundle and its
name; what each DATABASE_SSL mode gives pg8000, asserted on the SSLContext (no TLS server needed)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storefront.read_model import database
from storefront.read_model.database import RDS_CA_BUNDLE, DatabaseNotConfigured, make_engine, ssl_context

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = "postgresql+pg8000://u:p@read-model.cluster-abc.us-east-1.rds.amazonaws.com/storefront"


def _names(cert: dict, field: str) -> dict[str, str]:
    return {key: value for rdn in cert[field] for key, value in rdn}


def test_verify_full_checks_the_chain_and_the_host_name():
    context = ssl_context("verify-full")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_verify_full_trusts_the_rds_authorities_and_nothing_else():
    trusted = ssl_context("verify-full").get_ca_certs()
    assert len(trusted) == 115
    assert {_names(c, "subject")["organizationalUnitName"] for c in trusted} == {"Amazon RDS"}
    names = {_names(c, "subject")["commonName"] for c in trusted}
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in names


def test_verify_ca_checks_the_chain_but_not_the_name():
    context = ssl_context("verify-ca")
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, False)


def test_require_encrypts_without_verifying():
    context = ssl_context("require")
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)


def test_another_bundle_replaces_the_rds_one(tmp_path):
    one = tmp_path / "one-ca.pem"
    pem = RDS_CA_BUNDLE.read_text()
    one.write_text(pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n")
    assert len(ssl_context("verify-full", one).get_ca_certs()) == 1


def test_a_missing_bundle_is_a_one_line_error(tmp_path):
    with pytest.raises(DatabaseNotConfigured, match=r"DATABASE_CA_BUNDLE .*nowhere\.pem") as error:
        ssl_context("verify-full", tmp_path / "nowhere.pem")
    assert "\n" not in str(error.value)


def test_an_unknown_mode_names_the_ones_there_are():
    with pytest.raises(DatabaseNotConfigured, match="disable, require, verify-ca, verify-full, not 'prefer'"):
        ssl_context("prefer")


def test_the_engine_hands_pg8000_the_verifying_context(monkeypatch):
    seen = {}
    monkeypatch.setattr(database, "create_engine", lambda url, **kwargs: seen.update(kwargs))
    make_engine(CLUSTER, ssl_mode="verify-full")
    context = seen["connect_args"]["ssl_context"]
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    make_engine(CLUSTER, ssl_mode="disable")
    assert "ssl_context" not in seen["connect_args"]


def test_the_shipped_bundle_holds_certificates_only_each_an_rds_root_or_issued_by_one():
    text = RDS_CA_BUNDLE.read_text()
    assert "PRIVATE KEY" not in text
    trusted = ssl.create_default_context(cafile=str(RDS_CA_BUNDLE)).get_ca_certs()
    roots = {_names(c, "subject")["commonName"] for c in trusted if c["subject"] == c["issuer"]}
    for cert in trusted:
        assert _names(cert, "issuer")["commonName"] in roots, cert["subject"]
    # The G1 roots RDS signs with today, valid on a fixed day rather than on the day the test runs.
    day = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    current = {
        _names(c, "subject")["commonName"]
        for c in trusted
        if ssl.cert_time_to_seconds(c["notBefore"]) < day < ssl.cert_time_to_seconds(c["notAfter"])
    }
    for region in ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"):
        assert f"Amazon RDS {region} Root CA RSA2048 G1" in current


def test_the_bundle_is_in_the_layer_and_the_template_verifies():
    assert RDS_CA_BUNDLE.is_relative_to(ROOT / "functions" / "common")  # the layer's ContentUri
    template = (ROOT / "template.yaml").read_text()
    assert "DATABASE_SSL: verify-full" in template
    assert "DATABASE_SSL: require" not in template
