"""Test fixtures shared by every app: a real ltplabs.db file built from database/schema.sql,
staff users with chosen permissions, API clients, and a real gunicorn for HTTP-level tests."""

pytest_plugins = ["tests.fixtures"]
