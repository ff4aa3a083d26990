"""One platform for a region: a region holding sites, templates with the reach their consent
gave, a journal of template changes for every worker's gallery, and the state workers share.

- `regions`: the insurance bureau running the platform. Every site (the `hospitals` table: a
  hospital, a designated retail pharmacy or the bureau's own service centre) belongs to one, with
  its kind and, for a hospital, its tier.
- `biometric_consents.reach` and `face_templates.scope`: where a template may be matched, the
  whole region (`region:<id>`) or only the enrolling site (`site:<id>`).
- `template_changes`: every template added, deleted or quarantined, in commit order, so that
  each worker's in-memory gallery follows the database (facepay.services.gallery_sync).
- `liveness_challenges` and `rate_buckets`: issued challenges (redeemed once by a conditional
  update) and rate-limit buckets, shared by every worker process instead of kept in each one.

Existing installations become one region, "Default region", holding their hospitals as
hospital sites. Their templates keep exactly the reach they had: the enrolling hospital only
(`site:<hospital>`), because nobody consented to more; a patient who wants to pay anywhere in the
region enrols again with a regional consent. The downgrade drops all of it (a regional template's
reach is lost with its scope column; each stays a template of its enrolling hospital).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DEFAULT_REGION = "rgn-default"
SITE_KINDS = "kind IN ('hospital', 'pharmacy', 'service_centre')"
TIERS = "tier IS NULL OR tier IN ('primary', 'secondary', 'tertiary')"


def upgrade() -> None:
    """Create the region tables, put every hospital in the default region, scope templates."""
    op.create_table(
        "regions",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_regions"),
    )
    bind = op.get_bind()
    # The one region of this database; `facepay admin init` gives a new installation's its name.
    bind.execute(
        sa.text("INSERT INTO regions (id, name, created_at) VALUES (:id, :name, :at)"),
        {"id": DEFAULT_REGION, "name": "Default region", "at": datetime.now(UTC)},
    )
    with op.batch_alter_table("hospitals") as batch:
        batch.add_column(
            sa.Column("region_id", sa.String(120), nullable=False, server_default=DEFAULT_REGION)
        )
        batch.add_column(
            sa.Column("kind", sa.String(20), nullable=False, server_default="hospital")
        )
        batch.add_column(sa.Column("tier", sa.String(20), nullable=True))
    with op.batch_alter_table("hospitals") as batch:
        batch.create_foreign_key("fk_hospitals_region_id", "regions", ["region_id"], ["id"])
        batch.create_check_constraint("known_site_kind", SITE_KINDS)
        batch.create_check_constraint("known_tier", TIERS)
        batch.create_index("ix_hospitals_region_id", ["region_id"])

    with op.batch_alter_table("biometric_consents") as batch:
        batch.add_column(sa.Column("reach", sa.String(10), nullable=False, server_default="site"))
    with op.batch_alter_table("biometric_consents") as batch:
        batch.alter_column("reach", existing_type=sa.String(10), server_default=None)
        batch.create_check_constraint("known_reach", "reach IN ('region', 'site')")

    with op.batch_alter_table("face_templates") as batch:
        batch.add_column(sa.Column("scope", sa.String(130), nullable=True))
    bind.execute(sa.text("UPDATE face_templates SET scope = 'site:' || hospital_id"))
    with op.batch_alter_table("face_templates") as batch:
        batch.alter_column("scope", existing_type=sa.String(130), nullable=False)
        batch.create_index("ix_face_templates_person_id", ["person_id"])

    op.create_table(
        "template_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("template_id", sa.String(120), nullable=False),
        sa.Column("op", sa.String(10), nullable=False),
        sa.Column("scope", sa.String(130), nullable=False),
        sa.Column("model_version", sa.String(80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_template_changes"),
        sa.CheckConstraint("op IN ('add', 'remove')", name="known_op"),
    )
    op.create_table(
        "liveness_challenges",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("steps", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("nonce", name="pk_liveness_challenges"),
    )
    op.create_index("ix_liveness_challenges_expires_at", "liveness_challenges", ["expires_at"])
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_buckets"),
    )
    op.create_index("ix_rate_buckets_updated_at", "rate_buckets", ["updated_at"])


def downgrade() -> None:
    """Drop the region, the journal and the shared state; templates stay their hospital's."""
    op.drop_index("ix_rate_buckets_updated_at", table_name="rate_buckets")
    op.drop_table("rate_buckets")
    op.drop_index("ix_liveness_challenges_expires_at", table_name="liveness_challenges")
    op.drop_table("liveness_challenges")
    op.drop_table("template_changes")
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_index("ix_face_templates_person_id")
        batch.drop_column("scope")
    with op.batch_alter_table("biometric_consents") as batch:
        batch.drop_constraint("known_reach", type_="check")
        batch.drop_column("reach")
    with op.batch_alter_table("hospitals") as batch:
        batch.drop_index("ix_hospitals_region_id")
        batch.drop_constraint("known_tier", type_="check")
        batch.drop_constraint("known_site_kind", type_="check")
        batch.drop_constraint("fk_hospitals_region_id", type_="foreignkey")
        batch.drop_column("tier")
        batch.drop_column("kind")
        batch.drop_column("region_id")
    op.drop_table("regions")
