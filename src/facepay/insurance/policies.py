"""`PolicyBook`: several versions of several policies; picks the one in force for a bill."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from itertools import combinations

from facepay.insurance.policy import Policy
from facepay.shared.errors import InvalidInput, PolicyError


def _overlap(a: Policy, b: Policy) -> bool:
    a_end = a.effective_to or date.max
    b_end = b.effective_to or date.max
    return a.effective_from <= b_end and b.effective_from <= a_end


def _categories(policy: Policy) -> set[str]:
    return {c for r in (policy.outpatient, policy.inpatient) if r is not None for c in r.bands}


class PolicyBook:
    """The policy versions a deployment knows; at most one may apply to a category on a day."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._policies = tuple(policies)
        ids = [p.id for p in self._policies]
        if len(ids) != len(set(ids)):
            raise InvalidInput(f"policy ids must be unique, got {sorted(ids)}")
        for a, b in combinations(self._policies, 2):
            shared = _categories(a) & _categories(b)
            if shared and _overlap(a, b):
                raise InvalidInput(
                    f"policies {a.id} and {b.id} are both in force on some days for "
                    f"{sorted(shared)}: give one of them an effective_to"
                )

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._policies)

    def categories(self) -> frozenset[str]:
        """Every person category some version covers."""
        return frozenset(c for policy in self._policies for c in _categories(policy))

    def get(self, policy_id: str) -> Policy:
        """The version with this id."""
        for policy in self._policies:
            if policy.id == policy_id:
                return policy
        raise PolicyError(f"no policy with id {policy_id!r}")

    def pick(self, *, service_date: date, category: str) -> Policy:
        """The version in force on `service_date` that covers this person category."""
        for policy in self._policies:
            if policy.in_force(service_date) and policy.covers(category):
                return policy
        raise PolicyError(f"no policy covers category {category!r} on {service_date}")
