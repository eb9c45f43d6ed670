"""Where the read model lives: the database URL from the environment, and the engine for it.

Locally `DATABASE_URL` names it (a SQLite file, or PostgreSQL). In the cloud it is Aurora
PostgreSQL: the host, port and database name come from the template, and the credentials from
the secret that RDS manages for the cluster (`ManageMasterUserPassword`), which holds only
`username` and `password` (RDS User Guide, "Password management with Amazon RDS and AWS
Secrets Manager", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html).
The driver there is pg8000, pure Python, so the Lambda layer builds anywhere.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url


class DatabaseNotConfigured(RuntimeError):
    """Neither DATABASE_URL nor the Aurora settings (secret, host, database) are set."""


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


def make_engine(url: URL | str, *, ssl_mode: str = "disable", ca_bundle: str | None = None) -> Engine:
    """An engine for the read model. `ssl_mode` (pg8000 only): "disable", "require" (encrypted,
    server not verified), or "verify-full" (against `ca_bundle`, e.g. the RDS CA bundle)."""
    url = make_url(url)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        connect_args["timeout"] = 30  # several local workers may write one file; wait, don't fail
    elif url.get_driver_name() == "pg8000" and ssl_mode != "disable":
        connect_args["ssl_context"] = _ssl_context(ssl_mode, ca_bundle)
    # pre_ping: a warm Lambda's pooled connection may have been closed by the server since.
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _ssl_context(mode: str, ca_bundle: str | None) -> ssl.SSLContext:
    if mode == "verify-full":
        return ssl.create_default_context(cafile=ca_bundle)
    if mode != "require":
        raise ValueError(f"DATABASE_SSL must be disable, require or verify-full, not {mode!r}")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # encrypted in the VPC; verify-full needs the RDS CA bundle
    return context
