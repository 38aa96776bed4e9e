"""Opaque ids: a short type prefix and 16 random base62 characters."""

from __future__ import annotations

from clypt_mcp.core.codes import random_code


def new_id(prefix: str) -> str:
    """A fresh id such as `lnk_3kT9...`; 16 base62 characters give about 95 bits."""
    return f"{prefix}_{random_code(16)}"
