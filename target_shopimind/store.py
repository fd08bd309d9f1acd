"""The embedded sync store: one SQLite file (WAL) per `base_url` + API-key fingerprint.

It remembers what ShopiMind accepted (a SHA-256 of the item bytes per resource and upsert
key), the rejected records kept for replay, and whatever other modules register (their
own tables, versioned with `Component`). It holds a random `store_id`, never the key.

Every module that keeps tables here declares a `Component` (name, version, how to create
its tables, how to migrate older versions). A file written by an older version is migrated
step by step, or its tables are rebuilt when no migration exists; a newer version stops
the run: a store is never misread.

One connection, shared by the reading thread and the delivery workers under `lock`.
A second process on the same file waits for the process lock, then stops with a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import pathlib
import sqlite3
import sys
import threading
import time
import typing as t
import uuid

from target_shopimind.errors import TargetError

if t.TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator, Mapping, Sequence

if sys.platform != "win32":  # POSIX; on Windows SQLite's own locking still keeps the file consistent
    import fcntl

logger = logging.getLogger("target-shopimind")

DEFAULT_FOLDER = ".target-shopimind"
FORMAT = "target-shopimind sync store"
LOOKUP_CHUNK = 500  # keys per SELECT (below every SQLite's variable limit)
_BUSY_TIMEOUT_MS = 30_000


class StoreError(TargetError):
    """The store cannot be used; the message names the file and the remedy."""


def store_file(folder: str | os.PathLike[str], base_url: str, api_key: str) -> pathlib.Path:
    """The store of one `base_url` + key: named by a SHA-256 fingerprint, never the key."""
    fingerprint = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return pathlib.Path(folder) / f"shopimind-{fingerprint[:32]}.sqlite3"


def item_hash(data: bytes) -> bytes:
    """What the store keeps of an item: SHA-256 of its serialized bytes."""
    return hashlib.sha256(data).digest()


@dataclasses.dataclass(frozen=True)
class Component:
    """A module's tables in the store and their schema version.

    `create` makes the tables of `version` from nothing. `migrations[n]` upgrades
    version n to n + 1 in place; when a step is missing, `tables` are dropped and
    created again (the data they held is rebuilt by later runs).
    """

    name: str
    version: int
    create: Callable[[sqlite3.Connection], None]
    tables: tuple[str, ...] = ()
    migrations: Mapping[int, Callable[[sqlite3.Connection], None]] = dataclasses.field(default_factory=dict)


def _create_sync(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE accepted (resource TEXT NOT NULL, key TEXT NOT NULL, hash BLOB NOT NULL,"
        " accepted_at REAL NOT NULL, PRIMARY KEY (resource, key)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE rejected (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, key TEXT NOT NULL,"
        " key_properties TEXT NOT NULL, record TEXT NOT NULL, resource TEXT, item_key TEXT,"
        " stage TEXT NOT NULL, errors TEXT NOT NULL, run TEXT NOT NULL, rejected_at REAL NOT NULL,"
        " UNIQUE (stream, key))"
    )
    db.execute("CREATE INDEX rejected_item ON rejected (resource, item_key)")


SYNC = Component("sync", 1, _create_sync, tables=("accepted", "rejected"))


class SyncStore:
    """The open store. `connection` and `lock` are shared with modules that register tables."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: pathlib.Path | None,
        *,
        read_only: bool,
        clock: Callable[[], float] = time.time,
        lock_file: _ProcessLock | None = None,
    ) -> None:
        self.connection = connection
        self.path = path
        self.read_only = read_only
        self.clock = clock
        self.lock = threading.RLock()
        self.run_id = uuid.uuid4().hex  # tells this run's rows from earlier runs'
        self._lock_file = lock_file
        self._store_id = ""

    # --- opening ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        *,
        read_only: bool = False,
        lock_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        components: Sequence[Component] = (),
    ) -> SyncStore:
        """Open (or create) the store at `path`; `None`, or a missing file read-only: in memory.

        `read_only` (dry run) never creates, migrates or writes the file.
        """
        file = pathlib.Path(path) if path is not None else None
        if file is None or (read_only and not file.exists()):
            memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            store = cls(memory, None, read_only=False, clock=clock)
            store.read_only = read_only
            store._setup(components, writable=True)
            return store
        lock = None if read_only else _ProcessLock(file, lock_timeout)
        try:
            connection = _connect(file, read_only=read_only)
            store = cls(connection, file, read_only=read_only, clock=clock, lock_file=lock)
            try:
                store._setup(components, writable=not read_only)
            except sqlite3.DatabaseError as exc:
                connection.close()
                raise StoreError(_unusable(file, str(exc))) from None
            except _Outdated:
                connection.close()
                logger.info("sync store %s was written by another version: it is not used by this dry run", file)
                return cls.open(None, read_only=True, clock=clock, components=components)
        except BaseException:
            if lock is not None:
                lock.close()
            raise
        return store

    def _setup(self, components: Sequence[Component], *, writable: bool) -> None:
        db = self.connection
        with self.lock:
            if writable:
                db.execute("BEGIN IMMEDIATE")
            try:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "store_meta" not in tables:
                    if tables:
                        raise sqlite3.DatabaseError("the file is an SQLite database of something else")
                    if not writable:
                        raise _Outdated
                    db.execute("CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                    db.execute("CREATE TABLE store_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
                    db.executemany(
                        "INSERT INTO store_meta VALUES (?, ?)",
                        [("format", FORMAT), ("store_id", uuid.uuid4().hex), ("created_at", str(self.clock()))],
                    )
                meta = dict(db.execute("SELECT name, value FROM store_meta"))
                if meta.get("format") != FORMAT or not meta.get("store_id"):
                    raise sqlite3.DatabaseError("its store_meta table is not a target-shopimind store's")
                self._store_id = meta["store_id"]
                for component in (SYNC, *components):
                    self._ensure(component, writable=writable)
            except BaseException:
                if writable:
                    db.rollback()
                raise
            if writable:
                db.commit()

    def register(self, component: Component) -> None:
        """Create or migrate a module's tables (the module calls this once, at start)."""
        with self.lock:
            if self.read_only and self.path is not None:
                try:
                    self._ensure(component, writable=False)
                except _Outdated:
                    msg = f"sync store {self.path}: {component.name} tables are of another version (dry run)"
                    raise StoreError(msg) from None
                return
            with self.write() as db:
                self._ensure(component, writable=True, db=db)

    def _ensure(self, component: Component, *, writable: bool, db: sqlite3.Connection | None = None) -> None:
        db = db or self.connection
        row = db.execute("SELECT version FROM store_schema WHERE component = ?", (component.name,)).fetchone()
        found = None if row is None else int(row[0])
        if found == component.version:
            return
        if found is not None and found > component.version:
            msg = (
                f"sync store {self.path}: its {component.name} tables are version {found}, written by a newer "
                f"target-shopimind (this one reads version {component.version}); upgrade target-shopimind, "
                "or set store_path to another folder"
            )
            raise StoreError(msg)
        if not writable:
            raise _Outdated
        version = found
        while version is not None and version < component.version and version in component.migrations:
            component.migrations[version](db)
            version += 1
        if version != component.version:
            if found is not None:
                logger.warning(
                    "sync store %s: %s tables of version %s are rebuilt for version %s",
                    self.path,
                    component.name,
                    found,
                    component.version,
                )
            for table in component.tables:
                db.execute(f'DROP TABLE IF EXISTS "{table}"')
            component.create(db)
        db.execute("INSERT OR REPLACE INTO store_schema VALUES (?, ?)", (component.name, component.version))

    # --- shared use --------------------------------------------------------------------

    @property
    def store_id(self) -> str:
        """The store's random identity (goes into every STATE)."""
        return self._store_id

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; refused in a dry run."""
        if self.read_only:
            msg = "the sync store is read-only in a dry run"
            raise StoreError(msg)
        with self.lock:
            db = self.connection
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, for reads."""
        with self.lock:
            yield self.connection

    def close(self) -> None:
        """Close the connection (WAL checkpointed) and release the process lock."""
        with self.lock:
            with contextlib.suppress(sqlite3.Error):
                self.connection.close()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    # --- what ShopiMind accepted ---------------------------------------------------------

    def accepted(self, resource: str, keys: Sequence[str]) -> dict[str, tuple[bytes, float]]:
        """Last accepted hash and time (epoch seconds) of each of `keys` the store knows."""
        found: dict[str, tuple[bytes, float]] = {}
        with self.read() as db:
            for start in range(0, len(keys), LOOKUP_CHUNK):
                chunk = list(keys[start : start + LOOKUP_CHUNK])
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, hash, accepted_at FROM accepted WHERE resource = ? AND key IN ({marks})"  # noqa: S608 - only placeholders
                for key, digest, when in db.execute(sql, (resource, *chunk)):
                    found[key] = (digest, when)
        return found

    def record_accepted(self, resource: str, rows: Sequence[tuple[str, bytes]]) -> None:
        """Remember (key, hash) pairs ShopiMind just accepted: one transaction."""
        if not rows or self.read_only:
            return
        with self.write() as db:
            self.record_hashes(db, resource, rows)

    def record_hashes(self, db: sqlite3.Connection, resource: str, rows: Sequence[tuple[str, bytes]]) -> None:
        """`record_accepted` inside the caller's transaction `db` (see `write`)."""
        if rows:
            now = self.clock()
            db.executemany(
                "INSERT OR REPLACE INTO accepted (resource, key, hash, accepted_at) VALUES (?, ?, ?, ?)",
                [(resource, key, digest, now) for key, digest in rows],
            )

    def forget(self, resource: str, entities: Sequence[str]) -> None:
        """Drop what is known of deleted entities: the key itself and every `entity|…` key."""
        if not entities or self.read_only:
            return
        with self.write() as db:
            db.executemany(
                "DELETE FROM accepted WHERE resource = ? AND (key = ? OR (key > ? AND key < ?))",
                [(resource, e, e + "|", e + "}") for e in entities],  # '}' sorts right after '|'
            )


class _Outdated(Exception):
    """The file needs creating or migrating, which a read-only open must not do."""


def _unusable(file: pathlib.Path, problem: str) -> str:
    return (
        f"the sync store {file} is not a usable store ({problem}); delete that file to start a new store "
        "(the next run sends every item once again), or set store_path to another folder"
    )


def _connect(file: pathlib.Path, *, read_only: bool) -> sqlite3.Connection:
    try:
        if read_only:
            connection = sqlite3.connect(
                f"{file.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
            )
        else:
            file.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(file), check_same_thread=False, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        if not read_only:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(_unusable(file, str(exc))) from None
    except OSError as exc:
        raise StoreError(_unusable(file, exc.strerror or str(exc))) from None
    return connection


_HELD: dict[str, list[t.Any]] = {}  # lock file → [handle, users]: stores opened twice in one process share it
_HELD_GUARD = threading.Lock()


class _ProcessLock:
    """`<store>.lock`, held for the run; another process waits up to `timeout` seconds."""

    def __init__(self, file: pathlib.Path, timeout: float) -> None:
        self.name = str((file.parent / (file.name + ".lock")).resolve())
        with _HELD_GUARD:
            held = _HELD.get(self.name)
            if held is not None:
                held[1] += 1
                return
        handle = self._acquire(file, timeout)
        with _HELD_GUARD:
            _HELD[self.name] = [handle, 1]

    def close(self) -> None:
        with _HELD_GUARD:
            held = _HELD.get(self.name)
            if held is None:
                return
            held[1] -= 1
            if held[1] <= 0:
                del _HELD[self.name]
                if held[0] is not None:
                    held[0].close()

    def _acquire(self, file: pathlib.Path, timeout: float) -> t.IO[bytes] | None:
        if sys.platform == "win32":  # pragma: no cover
            return None
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            handle = pathlib.Path(self.name).open("ab")  # noqa: SIM115 - held for the whole run
        except OSError as exc:
            raise StoreError(_unusable(file, exc.strerror or str(exc))) from None
        deadline = time.monotonic() + max(0.0, timeout)
        announced = False
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                handle.close()
                msg = (
                    f"the sync store {file} is in use by another target-shopimind process "
                    f"(waited {timeout:g} s); run the pipelines one after the other, raise "
                    "store_lock_timeout_seconds, or give each pipeline its own store_path"
                )
                raise StoreError(msg)
            if not announced:
                announced = True
                logger.info("sync store %s is in use by another process: waiting up to %g s", file, timeout)
            time.sleep(0.2)
        return handle


def _try_lock(handle: t.IO[bytes]) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
