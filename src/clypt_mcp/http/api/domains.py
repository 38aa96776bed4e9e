"""/domains: a workspace's custom domains: list, add, verify, make default, remove."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.errors import BadRequestError
from clypt_mcp.http.api.body import rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint, json_body, path_id
from clypt_mcp.http.api.params import no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Domain, DomainCreate, DomainList, DomainUpdate, Principal, Scope


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def list_domains(request: Request, principal: Principal) -> DomainList:
        no_params(request)
        return await service.list_domains(principal)

    async def get_domain(request: Request, principal: Principal) -> Domain:
        no_params(request)
        return await service.get_domain(principal, path_id(request))

    async def add_domain(request: Request, principal: Principal) -> Domain:
        no_params(request)
        data = await rest_body(request, DomainCreate)
        return await service.add_domain(principal, data.domain)

    async def verify_domain(request: Request, principal: Principal) -> Domain:
        no_params(request)
        if await json_body(request) not in ({}, None):
            raise BadRequestError("request body: verify takes no fields — send none, or {}")
        return await service.verify_domain(principal, path_id(request))

    async def update_domain(request: Request, principal: Principal) -> DomainList:
        no_params(request)
        data = await rest_body(request, DomainUpdate)
        return await service.set_default_domain(principal, path_id(request), data.default)

    async def remove_domain(request: Request, principal: Principal) -> Domain:
        no_params(request)
        return await service.remove_domain(principal, path_id(request))

    read, write = Scope.DOMAINS_READ, Scope.DOMAINS_WRITE
    return [
        Endpoint(
            "GET",
            "/domains",
            "List the workspace's domains and its default domain",
            list_domains,
            read,
            DomainList,
        ),
        Endpoint(
            "POST",
            "/domains",
            "Add a custom domain (pending until verified)",
            add_domain,
            write,
            Domain,
            status=201,
            body=DomainCreate,
            errors=BODY_ERRORS,
            description="Answers the domain with txtName and txtValue: publish a TXT record of "
            "that name and value, then POST /domains/{id}/verify. A domain another workspace "
            "verified answers 409 conflict.",
        ),
        Endpoint(
            "GET",
            "/domains/{id}",
            "Get one domain",
            get_domain,
            read,
            Domain,
            errors=(404, 422),
            description="By id (the host name works too).",
        ),
        Endpoint(
            "POST",
            "/domains/{id}/verify",
            "Verify a domain by its DNS TXT record",
            verify_domain,
            write,
            Domain,
            errors=(400, 404, 409, 422),
            description="Looks up the TXT records at txtName; verified when one equals "
            "txtValue. Otherwise 409 domain_not_verified, changing nothing, with txtName and "
            "txtValue in the body beside the error.",
        ),
        Endpoint(
            "PATCH",
            "/domains/{id}",
            "Make a domain the workspace's default",
            update_domain,
            write,
            DomainList,
            body=DomainUpdate,
            errors=(404, *BODY_ERRORS),
            description='{"default": true}: links created without a domain go on it (it must '
            'be verified); {"default": false} on the default: back to the server\'s own host. '
            "Existing links stay where they are. Answers the workspace's domains.",
        ),
        Endpoint(
            "DELETE",
            "/domains/{id}",
            "Remove a domain",
            remove_domain,
            write,
            Domain,
            errors=(404, 409, 422),
            description="Refused (409 conflict) while links use it, deleted ones included: "
            "move them (PATCH /links/{id} with domain) or delete them for good first.",
        ),
    ]
