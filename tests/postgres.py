"""The test database on PostgreSQL: a fresh `<name>_test` on the server DATABASE_URL names."""

from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connections

from ltplabs.schema import create_postgres_schema


def server_connection() -> psycopg.Connection:
    """An autocommit connection to the server of the default database, for CREATE and DROP DATABASE."""
    config = settings.DATABASES["default"]
    params = {"user": config["USER"] or None, "password": config["PASSWORD"] or None, "host": config["HOST"] or None}
    try:
        return psycopg.connect(dbname="postgres", port=config["PORT"] or None, autocommit=True, **params)
    except psycopg.OperationalError:  # no access to the maintenance database: the configured one will do
        return psycopg.connect(dbname=config["NAME"], port=config["PORT"] or None, autocommit=True, **params)


def database_url(name: str) -> str:
    """A postgres:// URL for the database `name` on the server of the default database."""
    config = settings.DATABASES["default"]
    credentials = quote(config["USER"] or "", safe="") + (f":{quote(config['PASSWORD'], safe='')}" if config["PASSWORD"] else "")
    return f"postgres://{credentials}@{config['HOST'] or 'localhost'}:{config['PORT'] or 5432}/{quote(name, safe='')}"


def recreate_database(name: str) -> None:
    """Drop `name` (closing its sessions) and create it empty."""
    with server_connection() as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')


def scratch_database(suffix: str) -> str:
    """A new empty database beside the test database (`<test name>_<suffix>`); its URL."""
    name = f"{settings.DATABASES['default']['NAME']}_{suffix}"
    recreate_database(name)
    return database_url(name)


def create_test_database() -> str:
    """A new `<name>_test` database with schema.postgres.sql, and every connection pointed at it."""
    name = settings.DATABASES["default"]["NAME"]
    if not name.endswith("_test"):
        name = f"{name}_test"
    for alias in connections:
        connections[alias].close()
    recreate_database(name)
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name
    create_postgres_schema(connections["default"])
    return name
