"""Open the store a tenant file names: ``sqlite:///PATH`` (embedded, the default) or
``postgresql://user@host:port/database`` (the ``postgres`` extra)."""

from __future__ import annotations

from pathlib import Path

from munivideo.errors import ConfigurationError
from munivideo.store.port import Store
from munivideo.store.sqlite import open_store as open_sqlite

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url: str, *, base: Path | None = None) -> Store:
    """The store named by ``url``.

    * ``sqlite:///relative/or/absolute.db`` (``?synchronous=normal`` optional), relative to
      ``base`` (default: the current directory); ``sqlite:///:memory:`` for a throwaway one.
    * ``postgresql://user@host:port/database``: the password comes from ``PGPASSWORD`` or
      ``~/.pgpass`` (libpq's rules), never from the file; a password in the url is refused.

    :raises ConfigurationError: unknown scheme, a password in the url, or the ``postgres`` extra
        is not installed (``field="store.url"``).
    """
    if url.startswith(POSTGRES_SCHEMES):
        from urllib.parse import urlsplit

        if urlsplit(url).password:
            raise ConfigurationError(
                "the store url must not hold a password: set PGPASSWORD or ~/.pgpass",
                field="store.url",
            )
        try:
            from munivideo.store.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                "a postgresql:// store needs the postgres extra: pip install 'munivideo[postgres]'",
                field="store.url",
            ) from exc
        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        return open_sqlite(url, base=base)
    raise ConfigurationError(
        f"unsupported store url {url.split('://')[0]}://...: use sqlite:///PATH or "
        "postgresql://user@host:port/database",
        field="store.url",
    )
