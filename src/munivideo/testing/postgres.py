"""A throwaway PostgreSQL cluster for tests and benchmarks: ``initdb`` into a fresh directory,
``pg_ctl start`` on a free loopback port, trust authentication, removed on :meth:`stop`.

PostgreSQL refuses to run as root, so when this process is root the cluster runs as the
``postgres`` user (created by Debian's ``postgresql`` package) through ``runuser``. The binaries
are found on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin`` (Debian's layout).

Usage::

    cluster = throwaway_cluster()
    try:
        store = PostgresStore(cluster.create_database("t1"))
    finally:
        cluster.stop()
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from munivideo.errors import ConfigurationError

SUPERUSER = "munivideo"
_FAST = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def find_binary(name: str) -> str:
    """The path of PostgreSQL's ``name`` (``initdb``, ``pg_ctl``); ConfigurationError if none."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return str(versions[-1])
    raise ConfigurationError(
        f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)",
        field="store.url",
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running throwaway cluster. ``url`` names its ``postgres`` database as superuser."""

    directory: Path
    port: int
    run_as: str | None  # the system user the server runs as (None: this process's user)

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.directory / "data"

    def url_for(self, database: str) -> str:
        """The superuser url of ``database``."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The superuser url of the ``postgres`` database."""
        return self.url_for("postgres")

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        command = list(args)
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self, *, fast: bool = True) -> None:
        """Start the server (``fast``: fsync off) and wait until it accepts connections."""
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.directory}",
                "-c max_connections=200",
                *(_FAST if fast else ()),
            ]
        )
        self._run(
            find_binary("pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, *, remove: bool = True, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart, fast, immediate); remove its files unless told."""
        if (self.datadir / "postmaster.pid").exists():
            self._run(find_binary("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self) -> None:
        """Stop (fast: connections are cut) and start again on the same port and data."""
        self.stop(remove=False)
        self.start()

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (optionally from ``template``); returns its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
            conn.execute(statement)
        return self.url_for(name)


def throwaway_cluster(*, fast: bool = True) -> Cluster:
    """Initialise and start a new cluster in a fresh temporary directory.

    :param fast: turn fsync off (tests, benchmarks); a crash of the machine loses the cluster,
        which is thrown away anyway.
    :raises ConfigurationError: PostgreSQL is not installed.
    """
    initdb = find_binary("initdb")
    run_as = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="munivideo-pg-"))
    if run_as is not None:
        try:
            user = pwd.getpwnam(run_as)
        except KeyError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise ConfigurationError(
                "running as root needs the 'postgres' system user (Debian's postgresql package)",
                field="store.url",
            ) from exc
        os.chown(directory, user.pw_uid, user.pw_gid)
    cluster = Cluster(directory=directory, port=free_port(), run_as=run_as)
    try:
        cluster._run(
            initdb,
            "-D",
            str(cluster.datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            timeout=120,
        )
        cluster.start(fast=fast)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return cluster
