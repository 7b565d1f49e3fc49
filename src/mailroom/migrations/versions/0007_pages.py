"""pages: optional greeting and the Markdown source of announcements (drafts can be edited)

Revision ID: 0007_pages
Revises: the head of the other migrations (see _parent)
Create Date: 2026-12-01 23:00:00

"""
import re
from pathlib import Path

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_pages'
branch_labels = None
depends_on = None

_FIELD = r"^{} = ['\"]([^'\"]+)['\"]"


def _parent():
    """The head of the other migrations, leaving out any that come after this one.

    Several branches added migrations at the same time (issues 10, 12, 13, 14, 15) and land in an
    order nobody knows in advance; this one follows whichever is last. Pin it to a plain string once
    the history has settled.
    """
    graph = {}
    for path in Path(__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found, down = re.search(_FIELD.format("revision"), text, re.M), re.search(_FIELD.format("down_revision"), text, re.M)
        if found and found[1] != revision:
            graph[found[1]] = down[1] if down else None

    def after_this(name):
        seen = set()
        while name is not None and name not in seen:
            if name == revision:
                return True
            seen.add(name)
            name = graph.get(name)
        return False

    others = {name: down for name, down in graph.items() if not after_this(down)}
    heads = sorted(set(others) - set(others.values()))
    if len(heads) != 1:
        raise RuntimeError(f"0007_pages cannot tell which migration it follows: heads {heads}")
    return heads[0]


down_revision = _parent()


def upgrade():
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('greeting', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('markdown_body', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_column('markdown_body')
        batch_op.drop_column('greeting')
