"""Short codes: the random generator (the custom-code rules are a model's: models.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from clypt_mcp.models import BASE62

GENERATED_LENGTH = 7

CodeGenerator = Callable[[], str]


def random_code(length: int = GENERATED_LENGTH) -> str:
    """A code of `length` base62 characters from the OS's CSPRNG."""
    return "".join(secrets.choice(BASE62) for _ in range(length))
