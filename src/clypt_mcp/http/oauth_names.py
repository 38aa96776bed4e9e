"""The prefixes and hash of OAuth secrets, apart from `oauth.py`.

Light on purpose: the dashboard's sign-in links and the MCP gate need these, and importing them
from `oauth.py` would load the MCP SDK (and what it brings) into every process that serves
redirects, before any OAuth or MCP request has come (#20).
"""

from __future__ import annotations

import hashlib

ACCESS_PREFIX = "clypt_oat_"
REFRESH_PREFIX = "clypt_ort_"
CODE_PREFIX = "clypt_oac_"
SIGNIN_PREFIX = "clypt_sil_"
REQUEST_PREFIX = "req_"


def digest(secret: str) -> str:
    """How a secret (token, code, client secret, sign-in link) is kept: its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()
