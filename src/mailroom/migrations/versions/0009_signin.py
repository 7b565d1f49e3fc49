"""signin: trusted browsers, sign-in settings, reset tokens kept on the server

Revision ID: 0009_signin
Revises: 0006_languages
Create Date: 2026-12-07 14:00:00

"""
import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# revision identifiers, used by Alembic.
revision = '0009_signin'
down_revision = '0006_languages'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'trusted_devices',
        sa.Column('id', ID, nullable=False),
        sa.Column('user_id', ID, nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=False),
        sa.Column('user_agent', sa.String(length=255), nullable=False),
        sa.Column('client_address', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_trusted_devices_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trusted_devices')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_trusted_devices_token_hash')),
    )
    with op.batch_alter_table('trusted_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trusted_devices_user_id'), ['user_id'], unique=False)
    op.create_table(
        'reset_handoffs',
        sa.Column('handle_hash', sa.String(length=64), nullable=False),
        sa.Column('token', sa.String(length=1024), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('handle_hash', name=op.f('pk_reset_handoffs')),
    )
    with op.batch_alter_table('reset_handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reset_handoffs_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signin_codes', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('new_browser_check', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('signin_notices', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('signin_notices')
        batch_op.drop_column('new_browser_check')
        batch_op.drop_column('signin_codes')
    with op.batch_alter_table('reset_handoffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reset_handoffs_expires_at'))
    op.drop_table('reset_handoffs')
    with op.batch_alter_table('trusted_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trusted_devices_user_id'))
    op.drop_table('trusted_devices')
