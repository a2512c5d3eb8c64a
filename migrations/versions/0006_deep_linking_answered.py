"""deep linking answered once: launch_record.answered_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00.000000

A deep-linking request is answered once (issue 10): the picker marks its launch record with
`UPDATE … SET answered_at = now WHERE id = … AND answered_at IS NULL` and only the request that
changed the row signs a response (lti_tool/launch/deep_linking.py). A nullable column added in
place: no table rebuild on SQLite (launch_record's key is a string, so no AUTOINCREMENT to keep).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('launch_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_at', lti_tool.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('launch_record', schema=None) as batch_op:
        batch_op.drop_column('answered_at')
