"""The domain use cases (#14): a workspace's domains, their verification, a link's domain.

The rules and DNS lookups live in clypt_mcp.core.domains."""

from __future__ import annotations

import secrets

from clypt_mcp.core.areas.base import ServiceBase
from clypt_mcp.core.domains import TOKEN_BYTES, host_name, lookup_txt, txt_name
from clypt_mcp.errors import (
    ConflictError,
    DomainNotVerifiedError,
    InvalidInputError,
    NotFoundError,
)
from clypt_mcp.models import (
    Domain,
    DomainList,
    Principal,
    Scope,
    check_domain_name,
    is_domain,
    new_id,
)
from clypt_mcp.store.base import DomainRecord


def _domain(rec: DomainRecord) -> Domain:
    return Domain(
        id=rec.id,
        domain=rec.name,
        verified=rec.verified_at is not None,
        default=rec.is_default,
        links=rec.links,
        txt_name=txt_name(rec.name),
        txt_value=rec.token,
        created_at=rec.created_at,
        verified_at=rec.verified_at,
    )


def _publish(rec: DomainRecord) -> str:
    return f"publish a TXT record {txt_name(rec.name)} with the value {rec.token}"


class DomainsArea(ServiceBase):
    """The domain use cases of ClyptService."""

    def _domain_changed(self, name: str) -> None:
        for listener in self.domain_listeners:
            listener(name)

    @staticmethod
    def _name(value: str) -> str:
        try:
            return check_domain_name(value)
        except ValueError as exc:
            raise InvalidInputError(f"domain: {exc}", field="domain") from None

    async def _find_domain(self, principal: Principal, ref: str) -> DomainRecord:
        ws = principal.workspace_id
        rec = None
        if ref.startswith("dom_"):
            rec = await self.store.get_domain(ws, domain_id=ref)
        else:
            rec = await self.store.get_domain(ws, name=self._name(ref))
        if rec is None:
            raise NotFoundError(
                f"domain: '{ref}' is not a domain of this workspace — see them with "
                "manage_domains(action='list'), or add it with manage_domains(action='add')",
                field="domain",
            )
        return rec

    async def link_domain(self, principal: Principal, ref: str | None) -> str | None:
        """The id of the domain a link goes on (None: the server's own host): the named one,
        which must be a verified domain of the workspace, else the workspace's default."""
        if ref is None:
            default = await self.store.get_domain(principal.workspace_id)
            return default.id if default is not None and default.verified_at else None
        if self._name(ref) == self.base_host:
            return None
        rec = await self._find_domain(principal, ref)
        if rec.verified_at is None:
            raise InvalidInputError(
                f"domain: '{rec.name}' is not verified yet — {_publish(rec)}, then "
                "manage_domains(action='verify')",
                field="domain",
            )
        return rec.id

    async def domain_for_host(self, host: str | None) -> str | None:
        """The id of the verified domain named `host` (`Host` header, port ignored); None for
        the server's own host. Until some workspace has a verified domain, every host is the
        server's own (as before domains existed: a proxy that rewrites `Host` keeps working).
        Raises: NotFoundError for a host this server does not serve."""
        name = host_name(host)
        if not name or name == self.base_host:
            return None
        rec = await self.store.get_domain(None, name=name)
        if rec is not None:
            return rec.id
        if not await self.store.any_verified_domain():
            return None
        raise NotFoundError("this server does not serve that host")

    async def tls_allowed(self, host: str) -> bool:
        """Whether a certificate may be issued for `host`: the server's own host or a
        verified domain."""
        name = host_name(host)
        if not name:
            return False
        if name == self.base_host:
            return True
        return await self.store.get_domain(None, name=name) is not None

    # --- the use cases ------------------------------------------------------------------

    async def list_domains(self, principal: Principal) -> DomainList:
        self.require(principal, Scope.DOMAINS_READ)
        records = await self.store.list_domains(principal.workspace_id)
        default = next((r.name for r in records if r.is_default), self.base_host)
        return DomainList(domains=[_domain(r) for r in records], default_domain=default)

    async def get_domain(self, principal: Principal, ref: str) -> Domain:
        self.require(principal, Scope.DOMAINS_READ)
        return _domain(await self._find_domain(principal, ref))

    async def add_domain(self, principal: Principal, domain: str) -> Domain:
        """Add a pending domain; its TXT record is in the answer.

        Raises: InvalidInputError, ConflictError (already here, or verified elsewhere)."""
        self.require(principal, Scope.DOMAINS_WRITE)
        ws = await self._workspace(principal)
        return _domain(await self._insert(ws, self._name(domain), verified=False))

    async def operator_add_domain(self, workspace_id: str, domain: str, verified: bool) -> Domain:
        """The operator's `clypt-mcp domains add`: no scope, optionally verified at once."""
        await self._workspace(Principal(workspace_id=workspace_id, scopes=frozenset()))
        return _domain(await self._insert(workspace_id, self._name(domain), verified=verified))

    async def _insert(self, ws: str, name: str, verified: bool) -> DomainRecord:
        if not is_domain(name):
            raise InvalidInputError(
                f"domain: '{name}' is not a domain name — give a name with a dot, like "
                "'go.example.com' (not an IP address)",
                field="domain",
            )
        if name == self.base_host:
            raise ConflictError(
                f"domain: '{name}' is this server's own host (CLYPT_BASE_URL), every "
                "workspace's default already",
                field="domain",
            )
        owner = await self.store.get_domain(None, name=name)
        if owner is not None and owner.workspace_id != ws:
            raise ConflictError(
                f"domain '{name}' is already verified by another workspace — a domain serves "
                "one workspace only",
                field="domain",
            )
        now = self.clock()
        rec = DomainRecord(
            id=new_id("dom"),
            workspace_id=ws,
            name=name,
            token=f"clypt-verify={secrets.token_urlsafe(TOKEN_BYTES)}",
            created_at=now,
            verified_at=now if verified else None,
        )
        await self.store.insert_domain(rec)
        self._domain_changed(name)
        found = await self.store.get_domain(ws, domain_id=rec.id)
        assert found is not None
        return found

    async def verify_domain(self, principal: Principal, ref: str) -> Domain:
        """Look the domain's TXT record up; verified when a value equals its token.

        Raises: DomainNotVerifiedError (nothing changed; names the record to publish),
        ConflictError when another workspace verified the name first."""
        self.require(principal, Scope.DOMAINS_WRITE)
        rec = await self._find_domain(principal, ref)
        if rec.verified_at is not None:
            return _domain(rec)
        owner = await self.store.get_domain(None, name=rec.name)
        if owner is not None and owner.workspace_id != rec.workspace_id:
            raise ConflictError(
                f"domain '{rec.name}' is already verified by another workspace — a domain "
                "serves one workspace only",
                field="domain",
            )
        details = {"txt_name": txt_name(rec.name), "txt_value": rec.token}
        try:
            values = await lookup_txt(txt_name(rec.name), self.dns_resolver)
        except LookupError as exc:
            raise DomainNotVerifiedError(
                f"domain '{rec.name}' is not verified: {exc} — {_publish(rec)}, and verify "
                "again once DNS answers",
                field="domain",
                **details,
            ) from None
        if rec.token not in values:
            found = "no TXT record there" if not values else "TXT records there, none with it"
            raise DomainNotVerifiedError(
                f"domain '{rec.name}' is not verified: {found} — {_publish(rec)} (other "
                "records may stay), wait for DNS to pick it up, then verify again",
                field="domain",
                **details,
            )
        await self.store.verify_domain(rec.workspace_id, rec.id, self.clock())
        self._domain_changed(rec.name)
        return await self.get_domain(principal, rec.id)

    async def set_default_domain(
        self, principal: Principal, ref: str, default: bool = True
    ) -> DomainList:
        """Links that name no domain go on `ref` from now on (the server's own host: back to
        it); `default=False` on the current default goes back to the server's own host. Links
        made before stay where they are."""
        self.require(principal, Scope.DOMAINS_WRITE)
        if not ref.startswith("dom_") and self._name(ref) == self.base_host:
            await self.store.set_default_domain(principal.workspace_id, None)
            return await self.list_domains(principal)
        rec = await self._find_domain(principal, ref)
        if not default:
            if rec.is_default:
                await self.store.set_default_domain(principal.workspace_id, None)
            return await self.list_domains(principal)
        if rec.verified_at is None:
            raise InvalidInputError(
                f"domain: '{rec.name}' is not verified yet — {_publish(rec)}, then "
                "manage_domains(action='verify')",
                field="domain",
            )
        await self.store.set_default_domain(principal.workspace_id, rec.id)
        return await self.list_domains(principal)

    async def remove_domain(self, principal: Principal, ref: str) -> Domain:
        """Raises: ConflictError while links use the domain (they stay; move them first)."""
        self.require(principal, Scope.DOMAINS_WRITE)
        rec = await self._find_domain(principal, ref)
        used = await self.store.delete_domain(principal.workspace_id, rec.id)
        if used:
            raise ConflictError(
                f"domain '{rec.name}' still has {used} link(s) (deleted ones count) — move "
                "each with update_link(domain=…) or delete it for good, then remove the domain",
                field="domain",
            )
        self._domain_changed(rec.name)
        return _domain(rec)
