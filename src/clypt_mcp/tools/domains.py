"""manage_domains: a workspace's custom domains (list, add, verify, set_default, remove)."""

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.models import Domain, DomainAction, DomainList, DomainName, Scope
from clypt_mcp.tools.common import tool_errors
from clypt_mcp.tools.shaping import object_result


class DomainResult(BaseModel):
    """`domains` and `default_domain` for list and set_default; `domain` for the others."""

    action: str
    domains: list[Domain] | None
    default_domain: str | None
    domain: Domain | None


def _line(d: Domain) -> str:
    state = "verified" if d.verified else f"pending: TXT {d.txt_name} = {d.txt_value}"
    default = ", default" if d.default else ""
    return f"{d.domain} ({state}{default}; {d.links} links)"


def _listing(action: str, listing: DomainList) -> dict[str, Any]:
    return {
        "action": action,
        "domains": [d.model_dump(mode="json") for d in listing.domains],
        "default_domain": listing.default_domain,
        "domain": None,
    }


def register(mcp: MCPServer, backends: BackendProvider, scopes: frozenset[Scope]) -> None:
    """Add manage_domains when the scopes allow reading domains."""
    if Scope.DOMAINS_READ not in scopes:
        return
    read_only = Scope.DOMAINS_WRITE not in scopes

    @mcp.tool(
        title="Manage custom domains",
        annotations=ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=not read_only,
            idempotent_hint=False,
            open_world_hint=True,  # verify asks DNS
        ),
    )
    @tool_errors
    async def manage_domains(
        action: Annotated[
            DomainAction,
            Field(
                description="list: the workspace's domains and its default; add: a new domain "
                "(pending until verified); verify: check its DNS TXT record; set_default: "
                "where links that name no domain go; remove: a domain no link uses."
            ),
        ],
        domain: Annotated[
            DomainName | None,
            Field(description="The host name, e.g. 'go.example.com'."),
        ] = None,
    ) -> Annotated[CallToolResult, DomainResult]:
        """Custom domains for short links. add gives a TXT record (txt_name = txt_value) for the
        user to publish at their DNS provider; then verify. A verified domain serves its links
        and can be named as `domain` in create_link, update_link, bulk_create_links and
        list_links. A failed verify changes nothing and says which record to publish. remove is
        refused while links use the domain: move them with update_link(domain=…) first."""
        backend = backends()
        if action == "list":
            listing = await backend.list_domains()
            lines = [_line(d) for d in listing.domains] or ["no custom domains yet"]
            text = f"default domain: {listing.default_domain}\n" + "\n".join(lines)
            return object_result(_listing(action, listing), text)
        if domain is None:
            raise ToolError(f"domain: required when action is '{action}'")
        if action == "set_default":
            listing = await backend.set_default_domain(domain)
            text = f"New links go on {listing.default_domain} by default"
            return object_result(_listing(action, listing), text)
        if action == "add":
            found = await backend.add_domain(domain)
            text = (
                f"Added {found.domain}, pending. Ask the user to publish a TXT record named "
                f"{found.txt_name} with the value {found.txt_value}, then call "
                "manage_domains(action='verify')."
            )
        elif action == "verify":
            found = await backend.verify_domain(domain)
            text = f"Verified {found.domain}: it serves short links now"
        else:
            found = await backend.remove_domain(domain)
            text = f"Removed {found.domain}"
        data: dict[str, Any] = {"action": action, "domains": None, "default_domain": None}
        data["domain"] = found.model_dump(mode="json")
        return object_result(data, text)
