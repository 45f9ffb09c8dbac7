"""Feed columns of the polling policy: the regular interval, a note and a disabled reason.

Revision ID: 0003a
Revises: 0003d (re-chained after merging main; written against 0002)
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003a"
down_revision = "0003d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("poll_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("disabled_reason")
        batch.drop_column("note")
        batch.drop_column("poll_seconds")
