"""/conversions: the customer's server reports a conversion for a click id (#15)."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.http.api.body import rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint
from clypt_mcp.http.api.params import no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Conversion, ConversionCreate, Principal, Scope


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def create_conversion(request: Request, principal: Principal) -> Conversion:
        no_params(request)
        data = await rest_body(request, ConversionCreate)
        conversion, _ = await service.record_conversion(principal, data)
        return conversion

    return [
        Endpoint(
            "POST",
            "/conversions",
            "Record a conversion for a click id",
            create_conversion,
            Scope.CONVERSIONS_WRITE,
            Conversion,
            status=201,
            also=(200,),
            status_of=lambda conversion: 200 if conversion.duplicate else 201,
            body=ConversionCreate,
            errors=(404, *BODY_ERRORS),
            description=(
                "From the customer's server, with the clypt_cid a tracked link's redirect gave "
                "the landing page. 201 with the new conversion; the same externalId and event "
                "again in the workspace answers 200 with the first (nothing counted twice). "
                "404 names an unknown, other workspace's or over-90-days-old click id; 422 a "
                "bad field (value needs currency, an ISO 4217 code; occurredAt at most 90 days "
                "after the click)."
            ),
        ),
    ]
