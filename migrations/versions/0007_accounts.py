"""accounts: one-time set-password links (password_tokens: only the SHA-256 of each token), a
session epoch per user (disabling an account or changing its password ends its sessions), and
the folded email + name users are searched by (filled here for existing accounts).

Revision ID: 0007_accounts
Revises: 0006_status_truth
Create Date: 2026-12-03 13:51:37.886773

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_accounts'
down_revision = '0006_status_truth'
branch_labels = None
depends_on = None


def _fold(text):
    # coordinator.text.fold, copied: a migration must not import application code.
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    plain = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))
    return " ".join(plain.lower().split())


def upgrade():
    op.create_table('password_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_tokens_token_hash'))
    )
    with op.batch_alter_table('password_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_password_tokens_user_open', ['user_id', 'used_at', 'revoked_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('search_text', sa.String(length=500), server_default='', nullable=False))

    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('email', sa.String()),
                     sa.column('display_name', sa.String()), sa.column('search_text', sa.String()))
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.email, users.c.display_name)).all()
    if rows:
        conn.execute(users.update().where(users.c.id == sa.bindparam('_id')).values(search_text=sa.bindparam('_text')),
                     [{'_id': r.id, '_text': _fold(f"{r.email or ''} {r.display_name or ''}")[:500]} for r in rows])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('search_text')
        batch_op.drop_column('session_epoch')

    with op.batch_alter_table('password_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_password_tokens_user_open')

    op.drop_table('password_tokens')
