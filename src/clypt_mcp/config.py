"""Settings: the only place environment variables are read."""

from __future__ import annotations

import os
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from clypt_mcp.models import ALL_SCOPES, Scope, parse_scopes

Network = IPv4Network | IPv6Network


def default_database_path() -> Path:
    """`$XDG_DATA_HOME/clypt/clypt.db`, i.e. `~/.local/share/clypt/clypt.db`."""
    root = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(root) / "clypt" / "clypt.db"


def is_unset(raw: str) -> bool:
    """An empty variable, or a placeholder a desktop host left unreplaced, counts as unset.

    MCP bundle hosts pass an optional setting the user left empty either as "" or as the raw
    `${user_config.name}` placeholder, depending on the host's version.
    """
    value = raw.strip()
    return not value or (value.startswith("${user_config.") and value.endswith("}"))


class Settings(BaseModel):
    """Clypt's configuration, from `CLYPT_*` variables; arguments (CLI flags) override.

    A plain model that reads the environment itself: pydantic-settings (and dotenv) cost the
    stdio server's cold start about 35 ms for nothing it needs.
    """

    model_config = ConfigDict(extra="ignore")

    database_url: str | None = None
    base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8080")
    api_url: AnyHttpUrl | None = None
    api_key: SecretStr | None = None
    scopes: frozenset[Scope] = ALL_SCOPES
    workspace: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    trusted_proxies: tuple[Network, ...] = ()
    geoip_db: Path | None = None
    rate_limit: str = Field(default="1000/minute", pattern=r"^\d+/(second|minute|hour|day)$")
    click_rate: str = Field(default="60/minute", pattern=r"^\d+/(second|minute|hour|day)$")
    api_timeout: float = Field(default=10.0, gt=0, le=300)
    # The query parameter a link that tracks conversions appends its click id as (#15).
    click_id_param: str = Field(default="clypt_cid", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    click_retention_days: int | None = Field(default=None, ge=1, le=36500)
    # The DNS server that domain verification asks (`host:port`, an IP address); default: the
    # system's resolvers.
    dns_resolver: str | None = None
    # Guest links (#14 item 6): POST /api/v1/guest-links without a key, off unless `on`.
    guest_links: bool = False
    guest_rate_limit: str = Field(default="10/hour", pattern=r"^\d+/(second|minute|hour|day)$")
    guest_links_max: int = Field(default=1000, ge=1, le=10_000_000)  # live guest links at most
    # Outgoing requests (client metadata documents, …) may reach loopback: tests and local use.
    dev_allow_loopback: bool = False

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        values = dict(data) if isinstance(data, dict) else {}
        for name in cls.model_fields:
            raw = os.environ.get(f"CLYPT_{name.upper()}")
            if raw is not None and not is_unset(raw) and name not in values:
                values[name] = raw.strip()
        return values

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes(cls, value: Any) -> Any:
        return parse_scopes(value) if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip())
        return value

    @field_validator("dns_resolver")
    @classmethod
    def _dns_resolver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        try:
            ip_address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise ValueError("must be host:port with an IP address, e.g. 127.0.0.1:53") from None
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port with a port 1-65535, e.g. 127.0.0.1:53")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            return value
        raise ValueError("must start with sqlite:/// or postgresql://")

    @model_validator(mode="after")
    def _remote_pair(self) -> Settings:
        if (self.api_url is None) != (self.api_key is None):
            raise ValueError("CLYPT_API_URL and CLYPT_API_KEY go together: set both or neither")
        return self

    @property
    def base(self) -> str:
        return str(self.base_url).rstrip("/")

    def sqlite_path(self) -> Path:
        """The SQLite file to open in embedded mode."""
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///")).expanduser()
        return default_database_path()
