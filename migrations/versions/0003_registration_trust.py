"""registration trust: invitations, pending registrations, per-registration keys, no id reuse

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 04:10:00

- `registration_invitation`: one-time dynamic-registration URLs (`lti-tool platform invite`).
- `platform.status` / `origin` / `invitation_id` / `approved_at` / `key_set`: registrations made
  without an invitation stay pending until the operator approves them; a registration may sign with
  its own key. Rows that exist before this revision were made by the operator's CLI or by an
  uninvited dynamic registration, which cannot be told apart: they keep launching ("active") but
  are marked "legacy", and no service call is made for them until `lti-tool platform approve`.
- SQLite tables with an integer key are rebuilt with AUTOINCREMENT so a deleted row's id is never
  handed out again (https://www.sqlite.org/autoinc.html); PostgreSQL sequences never reuse ids.
  env.py switches SQLite foreign keys off for the migration, so the rebuild (drop + rename) does
  not cascade deletes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Parents before children, so each rebuilt child's foreign keys name rebuilt parents.
INTEGER_KEYED = ("platform", "deployment", "learner", "course", "resource_link", "attempt",
                 "attempt_event", "reflection_answer", "reflection_submission")


def upgrade() -> None:
    op.create_table('registration_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('organisation_code', sa.String(length=64), nullable=True),
    sa.Column('note', sa.String(length=255), nullable=False),
    sa.Column('created_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', lti_tool.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_invitation')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_registration_invitation_token_hash')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('platform', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False,
                                      server_default='active'))
        batch_op.add_column(sa.Column('origin', sa.String(length=16), nullable=False,
                                      server_default='legacy'))
        batch_op.add_column(sa.Column('invitation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', lti_tool.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('key_set', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_platform_invitation_id_registration_invitation'),
            'registration_invitation', ['invitation_id'], ['id'], ondelete='SET NULL')
    if op.get_bind().dialect.name == 'sqlite':
        for table in INTEGER_KEYED:
            with op.batch_alter_table(table, recreate='always',
                                      table_kwargs={'sqlite_autoincrement': True}):
                pass


def downgrade() -> None:
    with op.batch_alter_table('platform', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_platform_invitation_id_registration_invitation'),
                                 type_='foreignkey')
        batch_op.drop_column('key_set')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('invitation_id')
        batch_op.drop_column('origin')
        batch_op.drop_column('status')
    op.drop_table('registration_invitation')
