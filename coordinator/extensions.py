"""Extension singletons, bound to the app in create_app()."""
import sqlite3

from flask_babel import Babel
from flask_caching import Cache
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names, so Alembic migrations are identical on SQLite and PostgreSQL
# and constraints can be dropped by name later (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    # A plain DeclarativeBase: MappedAsDataclass breaks flask-sqlalchemy 3.1.1 on SQLAlchemy 2.1 (#1420).
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
# No global limits: only what is decorated (the sign-in form) is limited. Storage from
# RATELIMIT_STORAGE_URI (memory:// by default; redis:// when several workers must share counts).
limiter = Limiter(get_remote_address, default_limits=[])
# Rendered status fragments, one per ETag, shared by the workers of a host (CACHE_TYPE
# FileSystemCache under instance/cache) or of every host (CACHE_REDIS_URL: RedisCache).
cache = Cache()
# gzip (or br) for pages, fragments and JSON: a national dashboard poll is 20 times smaller.
compress = Compress()


@event.listens_for(Engine, "connect")
def _sqlite_concurrency(dbapi_connection, connection_record) -> None:
    """SQLite shared by several processes (the web server, the scheduler, extra dispatchers):
    write-ahead logging lets readers go on while one process writes, and a writer waits for the
    lock (up to 30 s) instead of failing at once with "database is locked". Durability is
    unchanged (synchronous stays FULL)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint(conn, name) -> None:
    """The SQLite driver begins a transaction only before an INSERT, UPDATE or DELETE (reads run
    outside one, so a writer never fails on a stale read snapshot). A SAVEPOINT that is a
    transaction's first write would open the transaction itself, and its RELEASE would commit,
    whatever the caller did next: begin the transaction first."""
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN")


# After a bulk write, PostgreSQL plans with the statistics it had before (autovacuum refreshes
# them only later): the first national roll-up after an import of 11,000 endpoints took 2.5 s
# instead of 20 ms (a nested loop chosen for "empty" tables). Big writers refresh them at once.
BULK_ROWS = 1000


def refresh_statistics(*tables: str) -> None:
    """ANALYZE the tables on PostgreSQL (a few ms each; nothing on SQLite, which plans without them).
    Call after committing a bulk write of at least BULK_ROWS rows."""
    from sqlalchemy import text

    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE " + ", ".join(tables)))
        conn.commit()


def dialect_insert(dialect: str | None = None):
    """The INSERT construct of the database in use (of `dialect`, else of the session's bind), the
    one with ON CONFLICT DO NOTHING / DO UPDATE: PostgreSQL's or SQLite's."""
    name = dialect or db.session.get_bind().dialect.name
    return postgresql_insert if name == "postgresql" else sqlite_insert
