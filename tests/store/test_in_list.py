"""`Dialect.in_list` on SQLite: few statement texts, exact matches, and long lists still run."""

from __future__ import annotations

import sqlite3

from clypt_mcp.store.sql import SQLITE


def matches(conn: sqlite3.Connection, values: list[str]) -> tuple[list[str], int]:
    args: dict[str, object] = {}
    where = SQLITE.in_list("v", "vals", values, args)
    rows = conn.execute(f"SELECT v FROM t WHERE {where} ORDER BY v", args).fetchall()
    return [r[0] for r in rows], len(args)


def test_lists_are_padded_to_a_power_of_two_and_match_exactly() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (v TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"k{i:05d}",) for i in range(100)])
    sizes = set()
    for n in range(1, 101):
        wanted = [f"k{i:05d}" for i in range(0, 2 * n, 2) if i < 100] + ["absent"] * (n % 3)
        got, params = matches(conn, wanted)
        assert got == sorted(v for v in wanted if v != "absent")
        assert params >= len(wanted)
        sizes.add(params)
    assert sizes <= {1, 2, 4, 8, 16, 32, 64, 128}
    assert matches(conn, []) == ([], 0)


def test_a_list_longer_than_the_padding_limit_still_runs() -> None:
    """Padding 20,000 values to 32,768 would pass SQLite's default limit of 32,766 parameters
    (Debian's build allows more; the limit is set here as SQLite ships it)."""
    conn = sqlite3.connect(":memory:")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
    conn.execute("CREATE TABLE t (v TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"k{i:05d}",) for i in range(20_000)])
    got, params = matches(conn, [f"k{i:05d}" for i in range(20_000)])
    assert len(got) == 20_000 and params == 20_000
