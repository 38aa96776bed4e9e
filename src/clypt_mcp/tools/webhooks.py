"""manage_webhooks (#16): endpoints that receive signed events, one tool dispatching on
`action`. The secret shows only in the answers of create and rotate_secret."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.models import WebhookEvent
from clypt_mcp.tools.common import result, tool_errors

Action = Literal[
    "create", "list", "update", "delete", "rotate_secret", "test", "deliveries", "redeliver"
]
_NEEDS_WEBHOOK = {"update", "delete", "rotate_secret", "test", "deliveries", "redeliver"}
SUMMARY = {
    "create": "Created webhook {id} — keep its secret now: it is not shown again",
    "list": "{n} webhook endpoints",
    "update": "Updated webhook {id}",
    "delete": "Deleted webhook {id}",
    "rotate_secret": "New secret for webhook {id} — the old one no longer signs; keep this one",
    "test": "Queued a webhook.test event for {id}",
    "deliveries": "{n} delivery attempts of {id}",
    "redeliver": "Queued delivery again for {id}",
}


def register(mcp: MCPServer, backends: BackendProvider) -> None:
    @mcp.tool(
        title="Manage webhooks",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    @tool_errors
    async def manage_webhooks(
        action: Annotated[
            Action,
            Field(
                description="create/list/update/delete endpoints; rotate_secret; test (queue "
                "a webhook.test event); deliveries (recent attempts); redeliver."
            ),
        ],
        webhook: Annotated[
            str | None, Field(description="The endpoint's id (all actions but create, list).")
        ] = None,
        url: Annotated[
            str | None,
            Field(description="https:// URL that receives POSTed events (create, update)."),
        ] = None,
        events: Annotated[
            list[WebhookEvent] | None,
            Field(description="Event types wanted; default every type (create, update)."),
        ] = None,
        filter: Annotated[
            dict[str, Any] | None,
            Field(
                description="Only these links: {folder: path or id} (with subfolders), "
                "{tag: name} or {links: [ids or codes]} (create, update)."
            ),
        ] = None,
        enabled: Annotated[bool | None, Field(description="On or off (create, update).")] = None,
        delivery: Annotated[
            str | None, Field(description="A delivery or event id, for redeliver.")
        ] = None,
        limit: Annotated[
            int | None, Field(ge=1, le=200, description="Attempts per page (deliveries).")
        ] = None,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous deliveries page.")
        ] = None,
    ) -> CallToolResult:
        """Webhooks: Clypt POSTs signed events (Standard Webhooks: webhook-id,
        webhook-timestamp, webhook-signature) to your endpoint for link.created,
        link.updated, link.deleted, link.expired, link.click_limit_reached and link.clicked
        (clicks in batches). The secret is shown once, by create and rotate_secret."""
        if action in _NEEDS_WEBHOOK and not webhook:
            raise ToolError(f"webhook: give the endpoint's id for action '{action}'")
        if action == "create" and not url:
            raise ToolError("url: give the https:// URL that receives events")
        if action == "redeliver" and not delivery:
            raise ToolError("delivery: give a delivery or event id from action 'deliveries'")
        data: dict[str, Any] = {}
        for key, value in (("url", url), ("events", events), ("filter", filter),
                           ("enabled", enabled), ("delivery", delivery), ("limit", limit),
                           ("cursor", cursor)):  # fmt: skip
            if value is not None:
                data[key] = value
        answer = await backends().manage_webhooks(action, webhook, data)
        dumped = answer.model_dump(mode="json")
        n = len(dumped.get("webhooks") or dumped.get("deliveries") or [])
        return result(answer, SUMMARY[action].format(id=webhook or dumped.get("id"), n=n))
