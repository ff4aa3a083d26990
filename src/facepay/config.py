"""The one settings class. Every field can be set from the environment with the prefix FACEPAY_."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """facepay's configuration; frozen, secrets masked in repr. Built in bootstrap only."""

    model_config = SettingsConfigDict(env_prefix="FACEPAY_", frozen=True, extra="ignore")

    data_dir: Path = Path("facepay-data")
    database_url: SecretStr | None = None
    """SQLAlchemy URL; None means the embedded SQLite file `<data_dir>/facepay.sqlite`."""

    template_key_file: Path | None = None
    """AES-256 key sealing templates; None: `<data_dir>/template.key`, made on first run."""

    # Face engine
    detect_max_side: int = 640
    detect_upsample: int = 1

    # Decisions (cosine similarity of L2-normalised dlib embeddings); see README "Evaluation".
    verify_threshold: float = 0.925
    identify_threshold: float = 0.925
    identify_margin: float = 0.02
    identify_ambiguity_band: float = 0.01

    # Gallery
    gallery_backend: str = "faiss"
    """`faiss` (default) or `memory`."""
    gallery_hnsw_above: int = 20_000
    """Galleries larger than this use HNSW; smaller ones exact inner-product search."""
    gallery_hnsw_m: int = 32
    gallery_hnsw_ef_construction: int = 80
    gallery_hnsw_ef_search: int = 128

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded database lives."""
        return self.data_dir / "facepay.sqlite"

    def resolved_database_url(self) -> str:
        """The database URL in force: the configured one, else the embedded SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.sqlite_path}"

    def resolved_template_key_file(self) -> Path:
        """The key file in force."""
        return self.template_key_file or self.data_dir / "template.key"
