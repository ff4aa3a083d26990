"""Input checks shared by every gallery: ids, embeddings and k."""

from __future__ import annotations

from collections.abc import Collection, Container, Sequence

import numpy as np

from facepay.shared.errors import Conflict, InvalidInput
from facepay.vision.types import Embedding

MAX_ID_LENGTH = 128
NORM_TOLERANCE = 1e-3
"""How far from 1 an embedding's L2 norm may be: float32 rounding, not an unnormalised vector."""


def check_template_id(template_id: object) -> str:
    """Return the id if it is a printable, non-empty string of at most 128 characters."""
    if not isinstance(template_id, str) or not template_id:
        raise InvalidInput("template id must be a non-empty string", code="bad_template_id")
    if len(template_id) > MAX_ID_LENGTH or not template_id.isprintable():
        raise InvalidInput(
            f"template id must be printable and at most {MAX_ID_LENGTH} characters",
            code="bad_template_id",
        )
    return template_id


MAX_SCOPE_LENGTH = 128


def check_scopes(scopes: Sequence[str] | None, count: int) -> list[str]:
    """One scope per template of a batch (unscoped when None), each printable and short."""
    found = [""] * count if scopes is None else list(scopes)
    if len(found) != count:
        raise InvalidInput(f"{len(found)} scopes for {count} templates", code="bad_scope")
    for scope in found:
        if not isinstance(scope, str) or len(scope) > MAX_SCOPE_LENGTH or not scope.isprintable():
            raise InvalidInput(
                f"a scope is a printable string of at most {MAX_SCOPE_LENGTH} characters",
                code="bad_scope",
            )
    return found


def check_search_scopes(scopes: Collection[str] | None) -> frozenset[str] | None:
    """The scopes a search may match (None: every template)."""
    if scopes is None:
        return None
    # A bare string is a collection of characters: refuse it rather than search scope "h".
    found = frozenset(()) if isinstance(scopes, str) else frozenset(scopes)
    if isinstance(scopes, str) or not all(isinstance(s, str) for s in found):
        raise InvalidInput("scopes must be a collection of strings", code="bad_scope")
    return found


def check_embeddings(embeddings: object, *, dim: int) -> Embedding:
    """Return an N×dim float32 copy of unit rows, or raise `InvalidInput` naming the fault."""
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[1] != dim:
        raise InvalidInput(
            f"embeddings must have {dim} values each, got shape {array.shape}",
            code="bad_embedding",
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidInput(
            f"embedding must be floating point, got {array.dtype}", code="bad_embedding"
        )
    rows = np.array(array, dtype=np.float32, order="C")
    if not np.isfinite(rows).all():
        raise InvalidInput("embedding contains NaN or infinity", code="bad_embedding")
    norms = np.linalg.norm(rows, axis=1)
    if rows.shape[0] and np.abs(norms - 1.0).max() > NORM_TOLERANCE:
        raise InvalidInput(
            "embedding must be L2-normalised (unit length); "
            f"found norm {float(norms[np.abs(norms - 1.0).argmax()]):.4f}",
            code="bad_embedding",
        )
    return rows


def check_embedding(embedding: object, *, dim: int) -> Embedding:
    """Return a 1×dim float32 copy of one unit embedding (refusing any other shape)."""
    array = np.asarray(embedding)
    if array.ndim != 1:
        raise InvalidInput(
            f"embedding must be 1-D with {dim} values, got shape {array.shape}",
            code="bad_embedding",
        )
    return check_embeddings(array[np.newaxis, :], dim=dim)


def check_batch(template_ids: Sequence[str], rows: Embedding, present: Container[str]) -> list[str]:
    """Return the ids of a batch if they match the rows, are unique and not in `present`."""
    ids = [check_template_id(t) for t in template_ids]
    if len(ids) != rows.shape[0]:
        raise InvalidInput(
            f"{len(ids)} template ids for {rows.shape[0]} embeddings", code="bad_embedding"
        )
    if len(set(ids)) != len(ids):
        raise Conflict("the batch names a template id twice", code="duplicate_template")
    taken = [t for t in ids if t in present]
    if taken:
        raise Conflict(f"template {taken[0]!r} is already enrolled", code="duplicate_template")
    return ids


def check_k(k: object) -> int:
    """Return k if it is a positive int."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInput(f"k must be a positive integer, got {k!r}", code="bad_k")
    return int(k)
