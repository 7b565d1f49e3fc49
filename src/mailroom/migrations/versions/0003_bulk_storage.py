"""bulk storage: retention purge marker on the outbox

Revision ID: 0003_bulk_storage
Revises: 0001
Create Date: 2026-12-01 22:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003_bulk_storage'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_outbox_retention', ['purged_at', 'sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_retention')
        batch_op.drop_column('purged_at')
