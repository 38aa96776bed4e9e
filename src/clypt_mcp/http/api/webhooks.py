"""/webhooks: endpoints that receive signed events (#16), and their delivery attempts."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.errors import BadRequestError
from clypt_mcp.http.api.body import rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint, json_body, path_id
from clypt_mcp.http.api.params import Params, no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import (
    Principal,
    Scope,
    Webhook,
    WebhookCreate,
    WebhookDeliveries,
    WebhookDeliveriesQuery,
    WebhookList,
    WebhookQueued,
    WebhookUpdate,
    WebhookWithSecret,
)

DELIVERY_PARAMS = Params(WebhookDeliveriesQuery)


async def empty_body(request: Request) -> None:
    """An action that takes no fields: its body is `{}`.

    Raises: BadRequestError naming the first field, or when the body is not an object.
    """
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object: send {}")
    for key in body:
        raise BadRequestError(f"{key}: is not a known field (this takes none: send {{}})")


def endpoints(state: AppState) -> list[Endpoint]:
    hooks = state.service.webhooks

    async def list_webhooks(request: Request, principal: Principal) -> WebhookList:
        no_params(request)
        return await hooks.list(principal)

    async def create_webhook(request: Request, principal: Principal) -> WebhookWithSecret:
        no_params(request)
        return await hooks.create(principal, await rest_body(request, WebhookCreate))

    async def get_webhook(request: Request, principal: Principal) -> Webhook:
        no_params(request)
        return await hooks.get(principal, path_id(request))

    async def update_webhook(request: Request, principal: Principal) -> Webhook:
        no_params(request)
        data = await rest_body(request, WebhookUpdate)
        return await hooks.update(principal, path_id(request), data)

    async def delete_webhook(request: Request, principal: Principal) -> Webhook:
        no_params(request)
        return await hooks.delete(principal, path_id(request))

    async def rotate_webhook_secret(request: Request, principal: Principal) -> WebhookWithSecret:
        no_params(request)
        await empty_body(request)
        return await hooks.rotate_secret(principal, path_id(request))

    async def test_webhook(request: Request, principal: Principal) -> WebhookQueued:
        no_params(request)
        await empty_body(request)
        return await hooks.test(principal, path_id(request))

    async def list_webhook_deliveries(request: Request, principal: Principal) -> WebhookDeliveries:
        query: WebhookDeliveriesQuery = DELIVERY_PARAMS.parse(request)
        return await hooks.deliveries(principal, path_id(request), query.limit, query.cursor)

    async def redeliver_webhook(request: Request, principal: Principal) -> WebhookQueued:
        no_params(request)
        await empty_body(request)
        delivery = str(request.path_params["delivery"])
        return await hooks.redeliver(principal, path_id(request), delivery)

    read, write = Scope.WEBHOOKS_READ, Scope.WEBHOOKS_WRITE
    secret_note = (
        "The answer holds the endpoint's signing secret (`whsec_…`): it is shown here and by "
        "rotate-secret only, never again."
    )
    return [
        Endpoint("GET", "/webhooks", "List webhook endpoints", list_webhooks, read, WebhookList),
        Endpoint(
            "POST",
            "/webhooks",
            "Create a webhook endpoint",
            create_webhook,
            write,
            WebhookWithSecret,
            status=201,
            body=WebhookCreate,
            errors=BODY_ERRORS,
            keeps_secret=True,
            description="`events` defaults to every event type. A URL whose host resolves to "
            "a private, loopback, link-local or metadata address is refused (422). " + secret_note,
        ),
        Endpoint(
            "GET",
            "/webhooks/{id}",
            "Get a webhook endpoint",
            get_webhook,
            read,
            Webhook,
            errors=(404,),
        ),
        Endpoint(
            "PATCH",
            "/webhooks/{id}",
            "Change a webhook endpoint's URL, events, filter or enabled flag",
            update_webhook,
            write,
            Webhook,
            body=WebhookUpdate,
            errors=(404, *BODY_ERRORS),
            description="Enabling an endpoint that was disabled clears its reason; its pending "
            "deliveries go out again.",
        ),
        Endpoint(
            "DELETE",
            "/webhooks/{id}",
            "Delete a webhook endpoint",
            delete_webhook,
            write,
            Webhook,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/webhooks/{id}/rotate-secret",
            "Replace a webhook endpoint's signing secret",
            rotate_webhook_secret,
            write,
            WebhookWithSecret,
            errors=(404, *BODY_ERRORS),
            keeps_secret=True,
            description=secret_note,
        ),
        Endpoint(
            "POST",
            "/webhooks/{id}/test",
            "Queue a webhook.test event for one endpoint",
            test_webhook,
            write,
            WebhookQueued,
            status=202,
            errors=(404, *BODY_ERRORS),
        ),
        Endpoint(
            "GET",
            "/webhooks/{id}/deliveries",
            "List a webhook endpoint's delivery attempts, newest first",
            list_webhook_deliveries,
            read,
            WebhookDeliveries,
            params=DELIVERY_PARAMS,
            errors=(404, 422),
            description="Every attempt of the last 30 days: HTTP status (null when none came "
            "back), time, error, and its delivery's state (pending, delivered, failed).",
        ),
        Endpoint(
            "POST",
            "/webhooks/{id}/deliveries/{delivery}/redeliver",
            "Send a delivery again",
            redeliver_webhook,
            write,
            WebhookQueued,
            status=202,
            errors=(404, *BODY_ERRORS),
            description="By delivery id or event id; it keeps its `webhook-id`.",
        ),
    ]
