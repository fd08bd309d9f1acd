"""Helpers for the end-to-end tests: a throwaway PostgreSQL cluster and a Meltano runner.

Nothing here skips: a missing PostgreSQL, wal2json or Meltano is a failure that says how
to install it (`scripts/bootstrap.sh`, `.ci/run`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

REPO = Path(__file__).resolve().parents[2]
MELTANO_VERSION = "4.4.1"
SANDBOX_KEY = "sandbox-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- PostgreSQL ---------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """Where initdb/pg_ctl/psql live: $PG_BINDIR, pg_config --bindir, or the newest Debian cluster."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError):
            candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(`apt-get install -y postgresql postgresql-15-wal2json`, which .ci/run does) or set PG_BINDIR",
    )


@dataclasses.dataclass
class PgCluster:
    """A PostgreSQL cluster in a temp dir, listening on 127.0.0.1:port, trust auth."""

    bindir: Path
    root: Path
    port: int
    os_user: str | None  # run server commands as this OS user (None: as ourselves)
    user: str = "postgres"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def _as_owner(self, argv: Sequence[str]) -> list[str]:
        return ["runuser", "-u", self.os_user, "--", *argv] if self.os_user else list(argv)

    def start(self) -> None:
        initdb = self._as_owner(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-locale"],
        )
        _run(initdb, "initdb")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "logical",
            "max_replication_slots": "8",
            "max_wal_senders": "8",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "timezone": "'UTC'",
        }
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# target-shopimind e2e\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        log = self.root / "postgres.log"
        _run(self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(log), "-w", "-t", "60", "start"]), "pg_ctl start", log)
        # Some builds only load the output plugins listed here (seen on 15.20); older ones lack the setting.
        if self.psql("SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'").strip() == "1":
            self.psql("ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'wal2json'")
            self.psql("SELECT pg_reload_conf()")

    def stop(self) -> None:
        subprocess.run(
            self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            check=False,
        )

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL (ON_ERROR_STOP) and return the unaligned, tuples-only output."""
        argv = [
            str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database,
        ]
        done = subprocess.run(argv, input=sql, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"psql failed ({done.returncode}):\n{done.stderr}\nSQL:\n{sql[:2000]}")
        return done.stdout


def _run(argv: Sequence[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=180)
    if done.returncode != 0:
        extra = log.read_text() if log and log.exists() else ""
        pytest.fail(f"{what} failed ({done.returncode}): {' '.join(argv)}\n{done.stdout}\n{done.stderr}\n{extra}")


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    bindir = postgres_bindir()
    os_user = None
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
        if shutil.which("runuser") is None:
            pytest.fail("running as root needs `runuser` (util-linux) to start PostgreSQL as the postgres user")
        try:
            import pwd

            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs the `postgres` OS user (created by Debian's postgresql package)")
        os_user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="shopimind-e2e-pg-"))
    if os_user:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PgCluster(bindir=bindir, root=root, port=free_port(), os_user=os_user)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def sql_literal(value: object) -> str:
    """A Python value as an SQL literal (enough for the test data)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(sql_literal(v) for v in value) + "]"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"'{value.isoformat()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def insert_sql(table: str, rows: Sequence[Mapping[str, object]], casts: Mapping[str, str] | None = None) -> str:
    casts = casts or {}
    statements = []
    for row in rows:
        columns = ", ".join(row)
        values = ", ".join(sql_literal(v) + (f"::{casts[k]}" if k in casts else "") for k, v in row.items())
        statements.append(f"INSERT INTO {table} ({columns}) VALUES ({values});")
    return "\n".join(statements)


# -- Meltano ------------------------------------------------------------------------------


def meltano_bin() -> Path:
    path = Path(os.environ.get("MELTANO_BIN", REPO / ".meltano" / "meltano-venv" / "bin" / "meltano"))
    if not path.exists():
        pytest.fail(f"Meltano not found at {path}: run scripts/bootstrap.sh (scripts/test.sh does) or set MELTANO_BIN")
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False).stdout
    if MELTANO_VERSION not in version:
        pytest.fail(f"{path} is not Meltano {MELTANO_VERSION} ({version.strip()!r}): run scripts/bootstrap.sh")
    return path


@dataclasses.dataclass
class Meltano:
    """Runs the repo's Meltano project with an isolated system database (state) and env."""

    binary: Path
    env: dict[str, str]
    project: Path = REPO

    def __call__(self, *args: str, check: bool = True, timeout: float = 600, extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        started = time.monotonic()
        done = subprocess.run(
            [str(self.binary), *args], cwd=self.project, env=env, capture_output=True, text=True, check=False, timeout=timeout,
        )
        done.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
        if check and done.returncode != 0:
            raise AssertionError(f"meltano {' '.join(args)} exited {done.returncode}\n--- output (tail) ---\n{(done.stdout + done.stderr)[-6000:]}")
        return done

    def state(self, state_id: str) -> dict:
        out = self("state", "get", state_id).stdout.strip()
        return json.loads(out or "{}")


def base_env(tmp: Path) -> dict[str, str]:
    """The outside environment minus anything that would configure our plugins, plus isolation."""
    prefixes = ("TARGET_SHOPIMIND", "TAP_POSTGRES", "TAP_SPREADSHEETS", "MELTANO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        {
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}",
            "MELTANO_ENVIRONMENT": "dev",
            "NO_COLOR": "1",
        },
    )
    return env


def log_events(output: str, plugin: str) -> list[str]:
    """Events a plugin logged, from `meltano --log-format=json ...` output."""
    events = []
    for line in output.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("name") == plugin:
                events.append(str(entry.get("event", "")))
    return events
