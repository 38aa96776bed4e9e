"""PostgreSQL-only store tests are collected only when CLYPT_TEST_DATABASE_URL names a server."""

from __future__ import annotations

from tests.store.pg import database_url

collect_ignore_glob = [] if database_url() else ["test_postgres_*.py"]
