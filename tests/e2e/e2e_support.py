"""Helpers for the end-to-end tests: a throwaway PostgreSQL cluster and a Meltano runner.

Nothing here skips: a missing PostgreSQL, wal2json or Meltano is a failure that says how
to install it (`scripts/bootstrap.sh`, `.ci/run`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
import urllib.parse
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

# postgresql://user:password@host:port of a server to use instead of starting one (CI service).
EXTERNAL_PG_ENV = "SHOPIMIND_E2E_POSTGRES"


def postgres_bindir(*, server: bool = True) -> Path:
    """Where initdb/pg_ctl/psql live: $PG_BINDIR, `pg_config --bindir`, or the newest Debian cluster."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError):
            done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(done.stdout.strip())
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [str(p) for p in debian]
    needed = ("initdb", "pg_ctl", "psql") if server else ("psql",)
    for candidate in candidates:
        if all((Path(candidate) / tool).exists() for tool in needed):
            return Path(candidate)
    if not server and shutil.which("psql"):
        return Path(str(shutil.which("psql"))).parent
    pytest.fail(
        f"PostgreSQL binaries ({', '.join(needed)}) not found: install them "
        "(`apt-get install -y postgresql postgresql-15-wal2json`, which .ci/run does) or set PG_BINDIR",
    )


@dataclasses.dataclass
class PgCluster:
    """A PostgreSQL server: our own cluster in a temp dir (trust auth), or an external one."""

    bindir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    password: str = ""
    root: Path | None = None  # data lives in root/data when we own the cluster
    os_user: str | None = None  # run server commands as this OS user (None: as ourselves)

    def _as_owner(self, argv: Sequence[str]) -> list[str]:
        return ["runuser", "-u", self.os_user, "--", *argv] if self.os_user else list(argv)

    def start(self) -> None:
        assert self.root is not None
        datadir = self.root / "data"
        initdb = [str(self.bindir / "initdb"), "-D", str(datadir), "-U", self.user, "--auth=trust", "-E", "UTF8"]
        _run(self._as_owner([*initdb, "--no-locale"]), "initdb")
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
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# target-shopimind e2e\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        log = self.root / "postgres.log"
        pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-w", "-t", "60", "start"]
        _run(self._as_owner(pg_ctl), "pg_ctl start", log)
        self.allow_wal2json()

    def allow_wal2json(self) -> None:
        """Some builds only load the output plugins listed here (seen on 15.20); others lack the setting."""
        known = "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'"
        if self.psql(known).strip() == "1":
            self.psql("ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'wal2json'")
            self.psql("SELECT pg_reload_conf()")

    def stop(self) -> None:
        if self.root is None:
            return
        pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"]
        subprocess.run(self._as_owner(pg_ctl), capture_output=True, check=False)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL (ON_ERROR_STOP) and return the unaligned, tuples-only output."""
        argv = [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database]
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        done = subprocess.run(argv, input=sql, capture_output=True, text=True, check=False, timeout=120, env=env)
        if done.returncode != 0:
            msg = f"psql failed ({done.returncode}):\n{done.stderr}\nSQL:\n{sql[:2000]}"
            raise AssertionError(msg)
        return done.stdout

    def recreate_database(self, name: str) -> None:
        """A fresh, empty database (an external server may keep one from an earlier run)."""
        self.psql(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{name}'")
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {name}")


def _run(argv: Sequence[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=180)
    if done.returncode != 0:
        extra = log.read_text() if log and log.exists() else ""
        pytest.fail(f"{what} failed ({done.returncode}): {' '.join(argv)}\n{done.stdout}\n{done.stderr}\n{extra}")


def _external_cluster(url: str) -> PgCluster:
    parts = urllib.parse.urlsplit(url)
    cluster = PgCluster(
        bindir=postgres_bindir(server=False),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=urllib.parse.unquote(parts.username or "postgres"),
        password=urllib.parse.unquote(parts.password or ""),
    )
    cluster.allow_wal2json()
    return cluster


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """$SHOPIMIND_E2E_POSTGRES when set, else a new cluster on a free loopback port in a temp dir."""
    if os.environ.get(EXTERNAL_PG_ENV):
        yield _external_cluster(os.environ[EXTERNAL_PG_ENV])
        return
    bindir = postgres_bindir()
    os_user, owner = None, None
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
        if shutil.which("runuser") is None:
            pytest.fail("running as root needs `runuser` (util-linux) to start PostgreSQL as the postgres user")
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs the `postgres` OS user (created by Debian's postgresql package)")
        os_user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="shopimind-e2e-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PgCluster(bindir=bindir, port=free_port(), root=root, os_user=os_user)
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
    if isinstance(value, (dt.date, dt.datetime)):
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

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        started = time.monotonic()
        done = subprocess.run(
            [str(self.binary), *args],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        done.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
        if check and done.returncode != 0:
            raise AssertionError(
                f"meltano {' '.join(args)} exited {done.returncode}\n--- output (tail) ---\n{(done.stdout + done.stderr)[-6000:]}"
            )
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


def target_env(sandbox_url: str, rejects: Path, store: Path | None = None) -> dict[str, str]:
    """The target's settings for one test module: its sandbox, rejects file and sync store (next to the rejects)."""
    return {
        "TARGET_SHOPIMIND_BASE_URL": sandbox_url,
        "TARGET_SHOPIMIND_API_KEY": SANDBOX_KEY,
        "TARGET_SHOPIMIND_REJECTED_RECORDS_PATH": str(rejects),
        "TARGET_SHOPIMIND_STORE_PATH": str(store or rejects.parent / "store"),
    }


def tap_env(pg: PgCluster, database: str, prefix: str = "TAP_POSTGRES") -> dict[str, str]:
    return {
        f"{prefix}_HOST": pg.host,
        f"{prefix}_PORT": str(pg.port),
        f"{prefix}_USER": pg.user,
        # tap-postgres wants a password even when the server trusts the connection.
        f"{prefix}_PASSWORD": pg.password or "unused-under-trust-auth",
        f"{prefix}_DATABASE": database,
    }
