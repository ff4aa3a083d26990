"""Who may call an operation, declared once per route and enforced before the handler runs.

A route takes its caller as `who: Annotated[Principal, may(Permission.X)]`: the dependency
authenticates the caller the way the route accepts (staff Bearer token, terminal signature, or
either), then checks that the policy grants them the permissions, before the body is parsed and
before any object is looked up (so a caller who may not call an operation learns nothing from a
404 or a 409 either). `describe_access` turns the same dependency into the "Who may call"
sentence of the operation's OpenAPI description, so the documentation is the policy and cannot
drift from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import fastapi.routing
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from facepay.access.rbac import AccessPolicy, Permission, Principal, Role, TerminalKind
from facepay.api.deps import api_state
from facepay.shared.errors import Forbidden

WHO_MAY_CALL = "Who may call:"


class Allowed:
    """A dependency: the authenticated caller, if the policy grants them every one of
    `permissions` (with `any_of`, at least one of them).

    `staff` / `terminals` say which credentials the route accepts at all. `any_of` is for an
    operation that serves different callers differently (a hospital's auditors read their own
    chain with `audit.read`, the platform operator any chain with `platform_audit.read`): its
    handler tells them apart.
    """

    __slots__ = ("any_of", "permissions", "staff", "terminals")

    def __init__(
        self,
        *permissions: Permission,
        any_of: bool = False,
        staff: bool = True,
        terminals: bool = True,
    ) -> None:
        if not permissions or not (staff or terminals):
            raise ValueError("an operation needs a permission and a way to authenticate")
        self.permissions = frozenset(permissions)
        self.any_of = any_of
        self.staff = staff
        self.terminals = terminals

    def __repr__(self) -> str:
        names = ", ".join(sorted(p.value for p in self.permissions))
        flags = f"any_of={self.any_of}, staff={self.staff}, terminals={self.terminals}"
        return f"Allowed({names}, {flags})"

    def grants(self, granted: frozenset[Permission]) -> bool:
        """Whether a caller holding `granted` passes."""
        return bool(granted & self.permissions) if self.any_of else self.permissions <= granted

    async def __call__(self, request: Request) -> Principal:
        state = api_state(request)
        auth = state.auth
        if self.staff and (not self.terminals or "authorization" in request.headers):
            # The account look-up touches the database: off the event loop.
            who = await run_in_threadpool(auth.staff, request)
        elif self.staff:
            who = await auth.any(request)  # no token: a signature, or `no_credentials`
        else:
            who = await auth.terminal(request)
        # A terminal's grants follow its registered kind, which the verifier read with its key.
        if not self.grants(state.access.policy.permissions(who)):
            joint = " or " if self.any_of else " and "
            wanted = joint.join(sorted(p.value for p in self.permissions))
            raise Forbidden(f"{wanted} is not allowed", code="permission_denied")
        return who

    def roles(self, policy: AccessPolicy) -> list[Role]:
        """The staff roles that pass, in the order of `Role` (none if staff may not call)."""
        if not self.staff:
            return []
        sets = [set(policy.roles_with(p)) for p in self.permissions]
        passing = set.union(*sets) if self.any_of else set.intersection(*sets)
        return [role for role in Role if role in passing]

    def terminal_kinds(self, policy: AccessPolicy) -> list[TerminalKind]:
        """The terminal kinds that pass, in the order of `TerminalKind`."""
        if not self.terminals:
            return []
        sets = [set(policy.terminal_kinds_with(p)) for p in self.permissions]
        passing = set.union(*sets) if self.any_of else set.intersection(*sets)
        return [kind for kind in TerminalKind if kind in passing]


def may(
    *permissions: Permission, any_of: bool = False, staff: bool = True, terminals: bool = True
) -> Any:
    """`Depends(Allowed(...))`, for a route parameter `who: Annotated[Principal, may(...)]`."""
    return Depends(Allowed(*permissions, any_of=any_of, staff=staff, terminals=terminals))


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _role_text(role: Role, allowed: Allowed, policy: AccessPolicy) -> str:
    """The role's name, with its refund limit on a refund operation."""
    limit = policy.refund_limits_fen.get(role)
    if Permission.PAYMENT_REFUND in allowed.permissions and limit is not None:
        return f"{role.value} (refunds up to {limit} fen)"
    return role.value


def who_may_call(allowed: Allowed | None, policy: AccessPolicy) -> str:
    """The sentence for an operation guarded by `allowed` (None: no credentials needed)."""
    if allowed is None:
        return f"{WHO_MAY_CALL} anyone; no credentials are needed."
    roles = allowed.roles(policy)
    parts: list[str] = []
    hospital = [_role_text(role, allowed, policy) for role in roles if not role.is_platform]
    if hospital:
        parts.append(f"staff with role {_words(hospital)} of the caller's hospital")
    if any(role.is_platform for role in roles):
        parts.append("a platform operator (staff with role platform_operator, of no hospital)")
    kinds = [kind.value for kind in allowed.terminal_kinds(policy)]
    if kinds:
        parts.append(f"a signed terminal of kind {_words(kinds)} of the caller's hospital")
    return f"{WHO_MAY_CALL} {'; '.join(parts) or 'nobody'}."


def _allowed_of(dependant: Dependant) -> Iterator[Allowed]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, Allowed):
            yield sub.call
        yield from _allowed_of(sub)


def route_access(route: APIRoute) -> Allowed | None:
    """The route's `Allowed` dependency (None: the route needs no credentials)."""
    guards = list(_allowed_of(route.dependant))
    if len(guards) > 1:
        raise ValueError(f"{route.path} declares its callers more than once")
    return guards[0] if guards else None


def _api_routes(routes: Iterable[Any]) -> Iterator[tuple[str, set[str], APIRoute]]:
    """(path, methods, route) of every API route, those of included routers too (FastAPI 0.12x
    and later keep an included router as one entry; `iter_route_contexts` walks into it)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route.path_format, set(route.methods or ()), route
        return
    for context in contexts(list(routes)):
        route = context.original_route
        if isinstance(route, APIRoute):
            path = context.path_format or route.path_format
            yield path, set(context.methods or route.methods or ()), route


def describe_access(
    schema: dict[str, Any], routes: Iterable[Any], policy: AccessPolicy
) -> dict[str, Any]:
    """Append each operation's "Who may call" sentence, made from its route's `Allowed`
    dependency, to its description in the OpenAPI `schema` (changed in place and returned)."""
    paths = schema.get("paths", {})
    for path, methods, route in _api_routes(routes):
        if not route.include_in_schema:
            continue
        sentence = who_may_call(route_access(route), policy)
        for method in methods:
            operation = paths.get(path, {}).get(method.lower())
            if operation is None:
                continue
            text = str(operation.get("description", "")).rstrip()
            operation["description"] = f"{text}\n\n{sentence}" if text else sentence
    return schema
