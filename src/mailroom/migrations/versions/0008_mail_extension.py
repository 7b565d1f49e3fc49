"""The mail tables belong to the mail extension: the outbox no longer points at announcements.

Revision ID: 0008_mail_extension
Revises: 0005_deliverability
Create Date: 2026-12-01 23:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_mail_extension'
down_revision = '0005_deliverability'
branch_labels = None
depends_on = None

FK = 'fk_outbox_announcement_id_announcements'


def _has_fk():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if 'outbox' not in inspector.get_table_names():
        return False
    return any(fk['name'] == FK for fk in inspector.get_foreign_keys('outbox'))


def upgrade():
    if _has_fk():
        with op.batch_alter_table('outbox', schema=None) as batch_op:
            batch_op.drop_constraint(FK, type_='foreignkey')


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_foreign_key(FK, 'announcements', ['announcement_id'], ['id'], ondelete='SET NULL')
