"""A real PostgreSQL server for the tests, started from the system's packages.

`PostgresServer.start()` runs `initdb` in a fresh temporary folder and `pg_ctl start` on a Unix
socket in that folder (plus a loopback TCP port, for processes that want one), and
`PostgresServer.create_database()` gives each test a database of its own. PostgreSQL refuses
to run as root, so under root the server runs as the `postgres` user that the system's package
creates. `scripts/setup` installs PostgreSQL where it is missing; `RAILGRAPH_PG_BIN` names the
folder of `initdb` and `pg_ctl` when they are somewhere else.

The server runs with `fsync=off`: the tests kill client processes, never the machine, and a
commit that reached the server survives a client's death with or without fsync.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PG_BIN_ENV = "RAILGRAPH_PG_BIN"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server programs are not installed, or cannot run here."""


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def find_bin_dir() -> Path:
    """The folder holding `initdb` and `pg_ctl`: the env override, PATH, or Debian's folder."""
    override = os.environ.get(PG_BIN_ENV)
    candidates = [override] if override else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    candidates.extend(str(Path(p).parent) for p in reversed(debian))
    for candidate in candidates:
        folder = Path(candidate)
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresUnavailable(
        "PostgreSQL's server programs (initdb, pg_ctl) were not found: run ./scripts/setup, "
        f"or set {PG_BIN_ENV} to the folder that holds them"
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One PostgreSQL server in a temporary folder, owned by the test session."""

    bin_dir: Path
    root: Path
    port: int
    run_as: str | None
    superuser: str = "postgres"
    _databases: list[str] = field(default_factory=list)

    @property
    def socket_dir(self) -> Path:
        return self.root

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = find_bin_dir()
        run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "PostgreSQL refuses to run as root and there is no 'postgres' user: "
                    "install PostgreSQL with ./scripts/setup, or run the tests as another user"
                ) from None
            run_as = "postgres"
        root = Path(tempfile.mkdtemp(prefix="railgraph-pg-"))
        if run_as is not None:
            shutil.chown(root, user=run_as)
        server = cls(bin_dir=bin_dir, root=root, port=free_port(), run_as=run_as)
        try:
            server._run(
                str(bin_dir / "initdb"),
                "-D", str(root / "data"), "-U", server.superuser, "-A", "trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
            options = (
                f"-k {root} -p {server.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=200"
            )
            server._run(
                str(bin_dir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(root / "data"),
                "-l", str(root / "server.log"), "-o", options,
            )  # fmt: skip
        except BaseException:
            server._discard()
            raise
        return server

    def _run(self, *argv: str) -> str:
        done = subprocess.run(
            argv, user=self.run_as, capture_output=True, text=True, check=False, cwd=self.root
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )
        return done.stdout

    def url(self, database: str = "postgres", *, tcp: bool = False) -> str:
        """A libpq URL for `database`: over the Unix socket, or over loopback TCP."""
        if tcp:
            return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{database}"
        return (
            f"postgresql://{self.superuser}@/{database}"
            f"?host={quote(str(self.socket_dir), safe='')}&port={self.port}"
        )

    def psql(self, sql: str, database: str = "postgres") -> str:
        psql = self.bin_dir / "psql"
        program = str(psql) if psql.exists() else (shutil.which("psql") or "psql")
        return self._run(
            program, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.superuser,
            "-d", database, "-c", sql,
        )  # fmt: skip

    def create_database(self, prefix: str = "railgraph_test") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(PostgresUnavailable):
            self._run(
                str(self.bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-w",
                "-D", str(self.root / "data"),
            )  # fmt: skip
        self._discard()

    def _discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
