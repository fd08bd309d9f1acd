"""Child streams: rows of their own tables assembled into a parent's array field.

A shop database keeps an order's lines, a customer's group memberships and a product's
categories in tables of their own; ShopiMind wants them inside the parent item. Child
rows and parent items live in the sync store (SQLite), so a line changed alone re-sends
its whole order with the lines the store holds, and memory does not grow with the data.

This module knows the resource table, mapping and validation; it hands assembled items
back to its caller and never sends anything itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import typing as t

from target_shopimind import resources as R
from target_shopimind.mapping import _COERCE, coerce_fields, dumps, to_str
from target_shopimind.routing import route
from target_shopimind.validation import check_fields

if t.TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

# Array fields a child stream can fill: object arrays get mapped rows, value arrays one column.
ARRAY_KINDS = (R.OBJECT_LIST, R.STR_LIST, R.ID_LIST)
_ENTRY_KEYS = ("into", "parent_key", "value")
_ELEMENT_COERCE = {R.STR_LIST: to_str, R.ID_LIST: _COERCE[R.ID]}
_INTEGER_TEXT = re.compile(r"^-?\d{1,18}$")
_PAGE = 500  # parents read from the store at a time while assembling
_COMMIT_EVERY = 5000  # store writes per transaction while reading input


def array_targets() -> dict[str, tuple[R.Resource, R.Field]]:
    """Every `<resource>.<array field>` of the resource table, by that name."""
    return {
        f"{resource.name}.{field.name}": (resource, field)
        for resource in R.RESOURCES
        for field in resource.fields
        if field.kind in ARRAY_KINDS
    }


@dataclasses.dataclass(frozen=True)
class ChildSpec:
    """One `child_streams` entry: which stream fills which parent field, and how."""

    stream: str
    resource: R.Resource
    field: R.Field
    parent_key: str
    value: str | None = None

    @property
    def into(self) -> str:
        """`<resource>.<field>`, as the setting spells it (also the report's name for its rows)."""
        return f"{self.resource.name}.{self.field.name}"

    @property
    def objects(self) -> bool:
        """True for object arrays (`orders.products`), False for value arrays."""
        return self.field.kind == R.OBJECT_LIST


def parse_child_streams(setting: object) -> tuple[dict[str, ChildSpec], list[str]]:
    """The entries of `child_streams`, and one error line per bad entry."""
    if setting in (None, {}):
        return {}, []
    if not isinstance(setting, dict):
        return {}, ["child_streams: must be an object of stream → {into, parent_key, value?}"]
    targets = array_targets()
    valid = ", ".join(sorted(targets))
    specs: dict[str, ChildSpec] = {}
    errors: list[str] = []
    for stream, entry in setting.items():
        where = f"child_streams['{stream}']"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be an object {{into, parent_key, value?}}")
            continue
        unknown = sorted(set(entry) - set(_ENTRY_KEYS))
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: into, parent_key, value)")
        into = entry.get("into")
        if into not in targets:
            errors.append(f"{where}.into: {into!r} is not an array field child rows can fill; valid: {valid}")
            continue
        resource, field = targets[str(into)]
        parent_key = entry.get("parent_key")
        if not isinstance(parent_key, str) or not parent_key:
            errors.append(f"{where}.parent_key: must name the child row's column holding the {resource.id_field}")
            continue
        value = entry.get("value")
        if field.kind == R.OBJECT_LIST and value is not None:
            errors.append(f"{where}.value: {into} is an array of objects; `value` is only for value arrays")
            continue
        if field.kind != R.OBJECT_LIST and (not isinstance(value, str) or not value):
            errors.append(f"{where}.value: {into} is an array of values; name the column holding each value")
            continue
        specs[str(stream)] = ChildSpec(str(stream), resource, field, parent_key, value)
    return specs, errors


_ID_COERCE: dict[int, tuple[R.Resource, Callable[[object], object]]] = {}  # by the id of a table row


def _id_coercion(resource: R.Resource) -> Callable[[object], object]:
    """How the parent's own id field is coerced (looked up once per resource)."""
    known = _ID_COERCE.get(id(resource))
    if known is not None and known[0] is resource:
        return known[1]
    convert = _COERCE.get(resource.field_map[resource.id_field].kind, to_str)
    _ID_COERCE[id(resource)] = (resource, convert)  # the resource is held here, so its id stays its own
    return convert


def parent_id(resource: R.Resource, value: object) -> str | None:
    """The parent's id as the store keys it: coerced like the parent's own id field."""
    if value is None:
        return None
    coerced = _id_coercion(resource)(value)
    if isinstance(coerced, str):
        text = coerced
    elif type(coerced) is int:
        text = str(coerced)  # what json.dumps writes for an int
    else:
        text = json.dumps(coerced, default=str)
    return text or None


def _sort_part(value: object) -> tuple[int, t.Any]:
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str) and _INTEGER_TEXT.match(value):
        return (1, int(value))  # CSV taps send ids as text: "10" after "9"
    return (2, str(value))


def key_order(child_key: str) -> tuple[tuple[int, t.Any], ...]:
    """Sort key of a stored child key: numbers numerically, then text."""
    parts = json.loads(child_key)
    return tuple(_sort_part(p) for p in parts)


@dataclasses.dataclass
class ChildRow:
    """One mapped child row: its identity, its parent and the array element it becomes."""

    key: str
    parent: str | None
    element: bytes | None
    errors: list[str]
    dropped: list[str]


class ChildMapper:
    """Maps the rows of one child stream (after stream maps) to array elements."""

    def __init__(self, spec: ChildSpec, key_properties: Sequence[str]) -> None:
        self.spec = spec
        keys = tuple(key_properties)
        if not keys and not spec.objects:
            keys = (spec.parent_key, str(spec.value))  # a membership row is its parent + value
        self.key_properties = keys
        self.known = {f.name for f in spec.field.fields} if spec.objects else {str(spec.value)}
        self.consumed = {spec.parent_key, *keys}

    def key_of(self, record: Mapping[str, t.Any]) -> tuple[str | None, list[str]]:
        """The row's identity as JSON text, or the errors that say why it has none."""
        if not self.key_properties:
            return None, [f"{self.spec.stream}: a child stream of object rows needs key properties"]
        missing = [k for k in self.key_properties if record.get(k) is None]
        if missing:
            return None, [f"{k}: the child row's key property is missing" for k in missing]
        if len(self.key_properties) == 1 and type(record[self.key_properties[0]]) is int:
            return f"[{record[self.key_properties[0]]}]", []  # what json.dumps writes for one int
        parts = [_plain(record[k]) for k in self.key_properties]
        return json.dumps(parts, separators=(",", ":"), ensure_ascii=False), []

    def map(self, record: Mapping[str, t.Any], *, want_dropped: bool = True) -> ChildRow:
        """The row's element; `errors` are the nested field's local rules it breaks."""
        key, errors = self.key_of(record)
        spec = self.spec
        parent = parent_id(spec.resource, record.get(spec.parent_key))
        if parent is None:
            errors.append(f"{spec.parent_key}: is required (the parent's {spec.resource.id_field})")
        element: object
        if spec.objects:
            element = coerce_fields(spec.field.fields, dict(record))
            errors += check_fields(spec.field.fields, element, f"{spec.field.name}.")
        else:
            raw = record.get(str(spec.value))
            element = _ELEMENT_COERCE[spec.field.kind](raw) if raw is not None else None
            if element is None:
                errors.append(f"{spec.value}: is required (the {spec.into} value)")
            elif spec.field.kind == R.STR_LIST and not isinstance(element, str):
                errors.append(f"{spec.field.name}.{spec.value}: must be a string")
            elif spec.field.kind == R.ID_LIST and not isinstance(element, (int, str)):
                errors.append(f"{spec.field.name}.{spec.value}: must be an id (integer or string)")
        dropped = []
        if want_dropped:
            ignored = self.known | self.consumed
            dropped = [k for k in record if k not in ignored and not k.startswith("_sdc_")]
        return ChildRow(key or "", parent, None if errors else dumps(element), errors, dropped)


def _plain(value: object) -> object:
    """A key part as plain JSON (Decimal ids as numbers, dates as text)."""
    if type(value) in {int, str}:
        return value
    return json.loads(dumps(value))


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS {db}child_rows (
        stream TEXT NOT NULL, child_key TEXT NOT NULL, resource TEXT NOT NULL, field TEXT NOT NULL,
        parent TEXT NOT NULL, element BLOB NOT NULL, seen_run INTEGER NOT NULL,
        PRIMARY KEY (stream, child_key)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS {db}child_rows_parent ON child_rows (resource, parent)",
    """CREATE TABLE IF NOT EXISTS {db}parent_items (
        resource TEXT NOT NULL, item_key TEXT NOT NULL, parent TEXT NOT NULL, stream TEXT NOT NULL,
        item BLOB NOT NULL, PRIMARY KEY (resource, parent, item_key)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS {db}pending_parents (
        resource TEXT NOT NULL, parent TEXT NOT NULL, PRIMARY KEY (resource, parent)) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS {db}child_streams_held (stream TEXT PRIMARY KEY, since TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {db}child_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
_TABLES = ("child_rows", "parent_items", "pending_parents", "child_streams_held", "child_meta")


def create_tables(conn: sqlite3.Connection, schema: str = "") -> None:
    """The tables of child rows, parent items and parents waiting to be sent."""
    for statement in _SCHEMA:
        conn.execute(statement.format(db=f"{schema}." if schema else ""))


class Database(t.Protocol):
    """What the child tables need of the sync store: its connection under its lock."""

    read_only: bool

    def read(self) -> t.ContextManager[sqlite3.Connection]:
        """The connection, for reads."""
        ...

    def write(self) -> t.ContextManager[sqlite3.Connection]:
        """One write transaction."""
        ...


class PlainDatabase:
    """A bare SQLite connection as a `Database` (one thread, autocommit between transactions)."""

    def __init__(self, conn: sqlite3.Connection, *, read_only: bool = False) -> None:
        self.conn = conn
        self.read_only = read_only

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection."""
        yield self.conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT (rolled back on an error)."""
        if self.conn.in_transaction:
            self.conn.commit()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()


class ChildStore:
    """Child rows, parent items and pending parents in the sync store's database.

    Writes are queued and applied a few thousand at a time in one transaction, so the
    store's lock is held briefly and memory stays bounded. A read-only store (dry run)
    gets TEMP copies of the tables, which SQLite resolves before the file's: the run
    assembles as usual and the file is never written.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.scratch = db.read_only
        self._ops: list[tuple[t.Any, ...]] = []
        with self._transaction() as conn:
            if self.scratch:
                create_tables(conn, "temp")
                existing = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
                for table in _TABLES:
                    if table in existing:
                        conn.execute(f"INSERT OR IGNORE INTO temp.{table} SELECT * FROM main.{table}")  # noqa: S608
            else:
                create_tables(conn)
            row = conn.execute("SELECT value FROM child_meta WHERE name = 'run'").fetchone()
            self.run = (row[0] if row else 0) + 1
            conn.execute("INSERT OR REPLACE INTO child_meta (name, value) VALUES ('run', ?)", (self.run,))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if not self.scratch:
            with self.db.write() as conn:
                yield conn
            return
        with self.db.read() as conn:  # TEMP tables only: the file stays untouched
            conn.execute("SAVEPOINT child_scratch")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK TO child_scratch")
                conn.execute("RELEASE child_scratch")
                raise
            conn.execute("RELEASE child_scratch")

    # --- writes while reading input (queued) ------------------------------------------

    def put_child(self, spec: ChildSpec, key: str, parent: str, element: bytes) -> None:
        """Keep a child row; its parent (and a former parent) wait to be sent unless it is unchanged."""
        self._queue(("child", spec.stream, key, spec.resource.name, spec.field.name, parent, element))

    def remove_child(self, spec: ChildSpec, key: str) -> None:
        """Forget a child row; its parent waits to be sent without it."""
        self._queue(("remove", spec.stream, key))

    def put_parent(self, resource: str, item_key: str, parent: str, stream: str, item: bytes) -> None:
        """Keep a parent item (without its assembled fields); it waits to be sent."""
        self._queue(("parent", resource, item_key, parent, stream, item))

    def drop_parent(self, resource: str, parent: str) -> None:
        """A deleted parent takes its child rows with it."""
        self._queue(("drop", resource, parent))

    def _queue(self, op: tuple[t.Any, ...]) -> None:
        self._ops.append(op)
        if len(self._ops) >= _COMMIT_EVERY:
            self.flush()

    def flush(self) -> None:
        """Apply the queued writes in one transaction."""
        if not self._ops:
            return
        ops, self._ops = self._ops, []
        with self._transaction() as conn:
            for op in ops:
                _APPLY[op[0]](conn, self.run, op[1:])

    def sweep(self, stream: str) -> int:
        """After a complete full-table sync: rows of `stream` it did not bring are gone."""
        self.flush()
        with self._transaction() as conn:
            parents = conn.execute(
                "SELECT DISTINCT resource, parent FROM child_rows WHERE stream = ? AND seen_run < ?",
                (stream, self.run),
            ).fetchall()
            conn.executemany("INSERT OR IGNORE INTO pending_parents (resource, parent) VALUES (?, ?)", parents)
            gone = conn.execute("DELETE FROM child_rows WHERE stream = ? AND seen_run < ?", (stream, self.run))
            return int(gone.rowcount)

    def mark_held(self, streams: Iterable[str]) -> None:
        """These child streams have come through this store (the lost-store guard asks)."""
        self.flush()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO child_streams_held (stream, since) VALUES (?, datetime('now'))",
                [(s,) for s in streams],
            )

    def clear_pending(self) -> None:
        """Every waiting parent was handed over and settled."""
        self.flush()
        with self._transaction() as conn:
            conn.execute("DELETE FROM pending_parents")

    # --- reads ---------------------------------------------------------------------------

    def held(self, stream: str) -> bool:
        """Whether this store has ever held the child stream."""
        with self.db.read() as conn:
            if conn.execute("SELECT 1 FROM child_streams_held WHERE stream = ?", (stream,)).fetchone():
                return True
            return conn.execute("SELECT 1 FROM child_rows WHERE stream = ? LIMIT 1", (stream,)).fetchone() is not None

    def has_pending(self) -> bool:
        """Whether any parent waits to be assembled (queued writes applied first)."""
        self.flush()
        with self.db.read() as conn:
            return conn.execute("SELECT 1 FROM pending_parents LIMIT 1").fetchone() is not None

    def pending_parents(self, resource: str) -> Iterator[str]:
        """Ids of the parents of `resource` waiting to be sent, a page at a time."""
        self.flush()
        last = ""
        while True:
            with self.db.read() as conn:
                rows = conn.execute(
                    "SELECT parent FROM pending_parents WHERE resource = ? AND parent > ? ORDER BY parent LIMIT ?",
                    (resource, last, _PAGE),
                ).fetchall()
            if not rows:
                return
            for (parent,) in rows:
                yield parent
            last = rows[-1][0]

    def parent_items(self, resource: str, parent: str) -> list[tuple[str, bytes]]:
        """(stream, item bytes) of every row of one parent (one per language when localized)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT item_key, stream, item FROM parent_items WHERE resource = ? AND parent = ?",
                (resource, parent),
            ).fetchall()
        return [(stream, bytes(item)) for _, stream, item in sorted(rows)]

    def children_of(self, resource: str, parent: str) -> dict[str, list[tuple[str, bytes]]]:
        """Child rows of one parent by field, each list in child-key order."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT field, child_key, element FROM child_rows WHERE resource = ? AND parent = ?",
                (resource, parent),
            ).fetchall()
        by_field: dict[str, list[tuple[str, bytes]]] = {}
        for field, key, element in rows:
            by_field.setdefault(field, []).append((key, bytes(element)))
        for members in by_field.values():
            members.sort(key=lambda row: key_order(row[0]))
        return by_field

    def waiting_for_parent(self) -> dict[str, int]:
        """Child rows whose parent the store has never held, by `<resource>.<field>`."""
        self.flush()
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT c.resource || '.' || c.field, count(*) FROM child_rows c WHERE NOT EXISTS "
                "(SELECT 1 FROM parent_items p WHERE p.resource = c.resource AND p.parent = c.parent) "
                "GROUP BY c.resource, c.field"
            ).fetchall()
        return {name: int(n) for name, n in rows}


def _mark(conn: sqlite3.Connection, resource: str, parent: str) -> None:
    conn.execute("INSERT OR IGNORE INTO pending_parents (resource, parent) VALUES (?, ?)", (resource, parent))


def _apply_child(conn: sqlite3.Connection, run: int, op: tuple[t.Any, ...]) -> None:
    stream, key, resource, field, parent, element = op
    old = conn.execute(
        "SELECT parent, element FROM child_rows WHERE stream = ? AND child_key = ?", (stream, key)
    ).fetchone()
    if old is not None and old[0] == parent and bytes(old[1]) == element:
        conn.execute("UPDATE child_rows SET seen_run = ? WHERE stream = ? AND child_key = ?", (run, stream, key))
        return
    conn.execute(
        "INSERT OR REPLACE INTO child_rows (stream, child_key, resource, field, parent, element, seen_run) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (stream, key, resource, field, parent, element, run),
    )
    _mark(conn, resource, parent)
    if old is not None and old[0] != parent:
        _mark(conn, resource, old[0])  # moved: the former parent goes again without it


def _apply_remove(conn: sqlite3.Connection, _run: int, op: tuple[t.Any, ...]) -> None:
    stream, key = op
    row = conn.execute(
        "SELECT resource, parent FROM child_rows WHERE stream = ? AND child_key = ?", (stream, key)
    ).fetchone()
    if row is None:
        return
    conn.execute("DELETE FROM child_rows WHERE stream = ? AND child_key = ?", (stream, key))
    _mark(conn, row[0], row[1])


def _apply_parent(conn: sqlite3.Connection, _run: int, op: tuple[t.Any, ...]) -> None:
    resource, item_key, parent, stream, item = op
    conn.execute(
        "INSERT OR REPLACE INTO parent_items (resource, item_key, parent, stream, item) VALUES (?, ?, ?, ?, ?)",
        (resource, item_key, parent, stream, item),
    )
    _mark(conn, resource, parent)


def _apply_drop(conn: sqlite3.Connection, _run: int, op: tuple[t.Any, ...]) -> None:
    resource, parent = op
    for table in ("parent_items", "child_rows", "pending_parents"):
        conn.execute(f"DELETE FROM {table} WHERE resource = ? AND parent = ?", (resource, parent))  # noqa: S608


_APPLY: dict[str, t.Callable[[sqlite3.Connection, int, tuple[t.Any, ...]], None]] = {
    "child": _apply_child,
    "remove": _apply_remove,
    "parent": _apply_parent,
    "drop": _apply_drop,
}


def assemble(store: ChildStore, specs: Iterable[ChildSpec]) -> Iterator[tuple[str, dict]]:
    """(parent stream, assembled item) for every waiting parent, parents in dependency order.

    Each item carries every child row the store holds for it, in child-key order; a parent
    the store has no row of yet (its children wait for it) is left out.
    """
    fields: dict[str, dict[str, ChildSpec]] = {}
    for spec in specs:
        fields.setdefault(spec.resource.name, {})[spec.field.name] = spec
    rank = R.dependency_rank()
    for resource in sorted(fields, key=lambda name: (rank[name], name)):
        for parent in store.pending_parents(resource):
            rows = store.parent_items(resource, parent)
            if not rows:
                continue
            children = store.children_of(resource, parent)
            arrays: dict[str, list[object]] = {}
            for name, spec in fields[resource].items():
                elements = [json.loads(element) for _, element in children.get(name, ())]
                if not spec.objects:
                    elements = list(dict.fromkeys(json.dumps(e) for e in elements))
                    elements = [json.loads(e) for e in elements]
                arrays[name] = elements
            for stream, raw in rows:
                item = json.loads(raw)
                item.update(arrays)
                yield stream, item


def strip_assembled(item: dict, names: Iterable[str]) -> dict:
    """The parent item without the fields its child streams fill (the store keeps it so)."""
    drop = set(names)
    return {k: v for k, v in item.items() if k not in drop}


class ChildStreams:
    """What one run does with child streams: keeps rows and parents, guards, assembles.

    The target calls it from the reading thread: `keep_*` while records arrive,
    `check_state` on every STATE, `assembled` and `finish` at the end of input.
    """

    def __init__(
        self,
        specs: Mapping[str, ChildSpec],
        store: ChildStore,
        *,
        store_path: str = "",
        resource_of: Callable[[str], R.Resource | None] | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.resource_of = resource_of or (lambda stream: route(stream).resource)
        self.store = store
        self.store_path = store_path
        self.fields: dict[str, tuple[str, ...]] = {}
        for spec in self.specs.values():
            self.fields[spec.resource.name] = (*self.fields.get(spec.resource.name, ()), spec.field.name)
        self.came: set[str] = set()  # child streams whose SCHEMA came in this run
        self.handed_over = False  # the end of input assembled every waiting parent
        self._full_table: dict[str, bool] = {}  # stream → a STATE came after its last row

    def is_parent(self, resource: R.Resource | None) -> bool:
        """Whether items of this resource are assembled (held until the end of input)."""
        return resource is not None and resource.name in self.fields

    # --- records -------------------------------------------------------------------

    def keep_parent(self, resource: R.Resource, stream: str, item: dict, item_key: str) -> None:
        """A parent row: stored without its assembled fields, sent at the end of input."""
        parent = parent_id(resource, item.get(resource.id_field))
        if parent is None:
            return
        data = dumps(strip_assembled(item, self.fields[resource.name]))
        self.store.put_parent(resource.name, item_key, parent, stream, data)

    def drop_parent(self, resource: R.Resource, item: dict) -> None:
        """A deleted parent row: its items and child rows leave the store."""
        parent = parent_id(resource, item.get(resource.id_field))
        if parent is not None:
            self.store.drop_parent(resource.name, parent)

    def keep_child(self, spec: ChildSpec, row: ChildRow) -> None:
        """A mapped child row (an unchanged one only refreshes when it was last seen)."""
        assert row.parent is not None
        assert row.element is not None
        self._row_came(spec.stream)
        self.store.put_child(spec, row.key, row.parent, row.element)

    def remove_child(self, spec: ChildSpec, key: str) -> None:
        """A child row with `_sdc_deleted_at`: out of its parent, which goes again."""
        self._row_came(spec.stream)
        self.store.remove_child(spec, key)

    def waiting(self) -> bool:
        """Whether parents wait to be assembled (a checkpoint then holds STATE back)."""
        return not self.handed_over and self.store.has_pending()

    def commit(self) -> None:
        """Apply what is queued (a checkpoint)."""
        self.store.flush()

    def _row_came(self, stream: str) -> None:
        if stream in self._full_table:
            self._full_table[stream] = False

    def full_table_version(self, stream: str) -> None:
        """ACTIVATE_VERSION: this run brings every row of the stream (rows it lacks are gone)."""
        self._full_table[stream] = False

    def state_came(self) -> None:
        """A STATE after a full-table stream's rows: the tap finished that stream."""
        for stream in self._full_table:
            self._full_table[stream] = True

    # --- the lost-store guard ------------------------------------------------------

    def check_state(self, value: object, *, before_records: bool, store_id: str | None = None) -> str | None:
        """Why this STATE shows the store is lost, new or foreign (None when it is not)."""
        if not isinstance(value, dict):
            return None
        ours = value.get("target_shopimind")
        theirs = ours.get("store_id") if isinstance(ours, dict) else None
        if store_id is not None and theirs is not None and theirs != store_id:
            return (
                f"the STATE comes from another sync store (store_id {theirs}, this store at store_path "
                f"'{self.store_path}' is {store_id}); with child streams an incremental run would send parents "
                "with only part of their children. " + _REMEDY
            )
        if not before_records:
            return None
        bookmarks = value.get("bookmarks")
        if not isinstance(bookmarks, dict):
            return None
        for name, bookmark in bookmarks.items():
            if not bookmark:
                continue  # an empty bookmark resumes nothing
            for spec in self._specs_behind(str(name)):
                if not self.store.held(spec.stream):
                    return (
                        f"the tap resumes from a saved bookmark of '{name}', but the sync store at store_path "
                        f"'{self.store_path}' has never held child stream '{spec.stream}' ({spec.into}): "
                        "the store is lost or new, and an incremental run would overwrite whole "
                        f"{spec.into} lists with only the rows that changed. " + _REMEDY
                    )
        return None

    def _specs_behind(self, stream: str) -> list[ChildSpec]:
        """Child streams a bookmark of `stream` matters to: its own, or those of its resource.

        Of a parent's child streams, those from the same source (the same `<schema>-` prefix,
        as tap-postgres names streams) when there are any: one config may serve several taps.
        """
        if stream in self.specs:
            return [self.specs[stream]]
        resource = self.resource_of(stream)
        if resource is None:
            return []
        specs = [s for s in self.specs.values() if s.resource.name == resource.name]
        same_source = [s for s in specs if _source_of(s.stream) == _source_of(stream)]
        return same_source or specs

    # --- end of input ----------------------------------------------------------------

    def assembled(self) -> Iterator[tuple[str, dict]]:
        """Every waiting parent, assembled, in dependency order (after the full-table sweeps)."""
        for stream, complete in self._full_table.items():
            if complete:
                self.store.sweep(stream)
        self.store.flush()
        yield from assemble(self.store, self.specs.values())
        self.handed_over = True

    def finish(self) -> dict[str, int]:
        """After every assembled parent is settled: clear the queue; child rows still waiting."""
        self.store.clear_pending()
        self.store.mark_held(self.came)
        return self.store.waiting_for_parent()


def _source_of(stream: str) -> str:
    """What a stream name says of its source: `shop` in `shop-orders` (empty without a `-`)."""
    return stream.rsplit("-", 1)[0] if "-" in stream else ""


_REMEDY = (
    "Run a full refresh (`meltano run --full-refresh <tap> target-shopimind`, or clear the tap's state) "
    "so every child row comes again, or point store_path at the original store."
)
