"""Two lines of signing keys (EdDSA, RS256) and each client's ID token algorithm.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every key stored before this revision is Ed25519.
    op.add_column(
        "signing_keys",
        sa.Column("alg", sa.String(16), nullable=False, server_default="EdDSA"),
    )
    op.add_column(
        "oauth_clients",
        sa.Column(
            "id_token_signed_response_alg", sa.String(16), nullable=False, server_default="RS256"
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("id_token_signed_response_alg")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("alg")
