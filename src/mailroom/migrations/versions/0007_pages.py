"""pages: optional greeting and the Markdown source of announcements (drafts can be edited)

Revision ID: 0007_pages
Revises: 0008_mail_extension
Create Date: 2026-12-01 23:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_pages'
down_revision = '0008_mail_extension'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('greeting', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('markdown_body', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_column('markdown_body')
        batch_op.drop_column('greeting')
