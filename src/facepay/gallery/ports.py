"""The `Gallery` port: the 1:N index of enrolled face templates.

A gallery holds L2-normalised float32 embeddings of one model (`model_version`, `dim`), each under
a string template id, and answers "which enrolled templates are nearest to this probe?" by inner
product, which for unit vectors is the cosine similarity: `search` returns up to `k` candidates,
best first. The gallery decides nothing; `identity` turns the candidates into match / ambiguous /
no match.

Scopes. Every template carries one scope, a string naming who may match it (today the hospital
it was enrolled at; a region or a site group later). `search(..., scopes=S)` returns the best
candidates among the templates whose scope is in S only - never a global top k filtered
afterwards, which lets a person enrolled at many other scopes crowd out the one that may match.
`scopes=None` searches every template (the enrolment duplicate screen).

Contract (every implementation runs tests/unit/gallery/test_contract.py):

- `add` refuses, changing nothing, an embedding of the wrong dim, with a NaN or infinity, or not
  of unit length (`InvalidInput`), and a template id already present (`Conflict`).
- `remove` of an unknown id is `NotFound`. A removed template is never returned by `search`, even
  by an approximate index that cannot delete in place.
- `search(probe, k, scopes=S)` returns the k best of the templates whose scope is in S, exactly
  as if the gallery held only those (an approximate index falls back to exact search when S is a
  small part of it); an empty or unknown S finds nothing.
- `save(path, sealer)` writes only sealed records (AES-GCM, template id and model version bound as
  associated data) and replaces the file atomically; `load(path, sealer)` replaces the contents
  only once the whole file has been verified. A file written for another model version is refused
  (`Conflict`), and a tampered one is `InvalidInput`: embeddings of different models never mix.
- Concurrent `search` and `add` / `remove` from several threads are safe.

Implementations: `InMemoryGallery` (exact, numpy; the reference and the fake) and `FaissGallery`
(exact `IndexFlatIP` while small, HNSW once past a configurable size).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from facepay.vision.types import Embedding

UNSCOPED = ""
"""The scope of a template added without one: found only by searches over every template."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One search hit: an enrolled template and its similarity to the probe (higher is closer)."""

    template_id: str
    score: float


class Sealer(Protocol):
    """Authenticated encryption of template bytes (`facepay.adapters.crypto.TemplateSealer`)."""

    @property
    def key_id(self) -> str:
        """A stable, non-secret name of the key, to tell one key from another."""
        ...

    def seal(
        self, data: bytes | bytearray | memoryview, *, template_id: str, model_version: str
    ) -> bytes:
        """Encrypt `data` bound to the template id and model version."""
        ...

    def open(
        self, sealed: bytes | bytearray | memoryview, *, template_id: str, model_version: str
    ) -> bytes:
        """Decrypt, raising `InvalidInput` if the record is not authentic for this id and model."""
        ...


class Gallery(Protocol):
    """A thread-safe 1:N index of unit embeddings of one model version (see the module doc)."""

    @property
    def model_version(self) -> str:
        """The face model whose embeddings this gallery holds."""
        ...

    @property
    def dim(self) -> int:
        """The length of every embedding."""
        ...

    def add(self, template_id: str, embedding: Embedding, *, scope: str = UNSCOPED) -> None:
        """Enrol one template in `scope`; refuses bad vectors and duplicate ids."""
        ...

    def add_many(
        self,
        template_ids: Sequence[str],
        embeddings: Embedding,
        *,
        scopes: Sequence[str] | None = None,
    ) -> None:
        """Enrol a batch (rows of a 2-D array, one scope each, default unscoped) all or nothing;
        faster than repeated `add`."""
        ...

    def remove(self, template_id: str) -> None:
        """Forget a template; it is never returned again."""
        ...

    def search(
        self, embedding: Embedding, k: int, *, scopes: Collection[str] | None = None
    ) -> list[Candidate]:
        """The up to `k` templates most similar to the probe, best first, among those whose
        scope is in `scopes` (None: every template)."""
        ...

    def scope_of(self, template_id: str) -> str | None:
        """The scope a template was enrolled in; None if it is not enrolled."""
        ...

    def __len__(self) -> int: ...

    def __contains__(self, template_id: object) -> bool: ...

    def save(self, path: Path, sealer: Sealer) -> None:
        """Write every template, sealed, to `path` (atomically)."""
        ...

    def load(self, path: Path, sealer: Sealer) -> None:
        """Replace the contents with the templates sealed in `path`."""
        ...
