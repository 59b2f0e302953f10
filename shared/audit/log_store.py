"""The transparency log in PostgreSQL: one global log over every event of the three services,
in schema `audit` (the tree and its proofs: `shared.audit.translog`).

- `audit.log_size`: one row, the number of leaves. Every save takes the next `n` positions
  with `UPDATE ... SET size = size + n RETURNING size`, after its events' insert, in the
  same transaction: positions are gap-free, and in each event store's order (the events
  table's lock and the counter row's lock are both held to the commit).
- `audit.log_leaves (seq, service, originator_id, originator_version, leaf_hash)`: a leaf
  per event, written by `HashChainRecorder` (`LogWriter`) in the event's transaction.
- `audit.log_nodes (level, idx, hash)`: each complete subtree's hash (level >= 1), written
  once by the signer as the log grows, so that a proof is O(log n) reads, never a scan.
- `audit.tree_heads`: the signed tree heads, each with its consistency proof from the
  previous one.

The three tables refuse UPDATE, DELETE and TRUNCATE (`shared.db.protect_events_table`).
The signer (`TransparencyLog.sign_next`) never signs a log inconsistent with its last head:
it rebuilds the last head's root from the stored nodes, proves consistency from it, and
re-checks one block of 2^16 signed leaves with every stored subtree over them (a rolling
audit, `audit_step`) before signing, else raises `LogInconsistent`.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from shared.audit import translog
from shared.audit.translog import Node

SCHEMA = "audit"
INSTALL_LOCK = 7_300_002  # one installer of the schema at a time (the three services migrate)
SIGN_LOCK = 7_300_003  # one writer of tree heads at a time
MAX_LEAVES_PER_HEAD = 100_000  # bounded work per signing cycle
AUDIT_BLOCK_LEVEL = 16  # each signing cycle re-checks one block of 2^16 signed leaves and its subtrees
PROTECTED = ("log_leaves", "log_nodes", "tree_heads")

DDL = (
    "CREATE SCHEMA IF NOT EXISTS audit",
    "CREATE TABLE IF NOT EXISTS audit.log_size ("
    " one boolean PRIMARY KEY DEFAULT true CHECK (one), size bigint NOT NULL CHECK (size >= 0))",
    "INSERT INTO audit.log_size (one, size) VALUES (true, 0) ON CONFLICT DO NOTHING",
    "CREATE TABLE IF NOT EXISTS audit.log_leaves ("
    " seq bigint PRIMARY KEY, service text NOT NULL, originator_id uuid NOT NULL,"
    " originator_version bigint NOT NULL, leaf_hash bytea NOT NULL)",
    # An aggregate's leaves (`/verify`): a hash index, cheaper to write than a B-tree on
    # random UUIDs (the bulk append's budget), and equality is the only lookup.
    "CREATE INDEX IF NOT EXISTS log_leaves_originator ON audit.log_leaves USING hash (originator_id)",
    "CREATE TABLE IF NOT EXISTS audit.log_nodes ("
    " level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS audit.tree_heads ("
    " size bigint PRIMARY KEY, root bytea NOT NULL, signed_at text NOT NULL, key_id text NOT NULL,"
    " public_key bytea NOT NULL, signature text NOT NULL, consistency_from bigint,"
    " consistency_proof bytea[] NOT NULL)",
)

_APPEND = sql.SQL(
    "WITH c AS (UPDATE audit.log_size SET size = size + %(n)s RETURNING size) "
    "INSERT INTO audit.log_leaves (seq, service, originator_id, originator_version, leaf_hash) "
    "SELECT c.size - %(n)s + t.ord - 1, %(service)s, t.id, t.version, t.leaf FROM c, "
    "unnest(%(ids)s::uuid[], %(versions)s::bigint[], %(leaves)s::bytea[]) WITH ORDINALITY AS t(id, version, leaf, ord)"
)


def install(conn: psycopg.Connection) -> None:
    """Create the schema and tables (idempotent; safe from several installers at once)."""
    from shared.db import protect_events_table

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INSTALL_LOCK,))
        for statement in DDL:
            conn.execute(statement)
        for table in PROTECTED:
            protect_events_table(conn, SCHEMA, table)


# -- writing leaves (the event store's hook) ---------------------------------------------------------


Columns = tuple[list[UUID], list[int], list[bytes]]  # originator ids, versions, leaf hashes

# PostgreSQL's binary COPY format: the header (signature, flags, header extension length)
# and the trailer; each row is its field count (int16), then each field's length (int32) and bytes.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
_COPY_LEAVES = ("COPY audit.log_leaves (seq, service, originator_id, originator_version, leaf_hash) "
                "FROM STDIN (FORMAT BINARY)")


class LogWriter:
    """Appends the leaves of one service's saved events in the save's own transaction."""

    def __init__(self, service: str) -> None:
        if not translog._plain(service):
            raise ValueError(f"not a service name for the log: {service!r}")
        self.service = service

    def leaves(self, links: Iterable[tuple[Any, ...]]) -> Columns:
        """The leaves of events given in the order they are stored, as (originator_id,
        version, ..., chain hash) rows (the hash last)."""
        ids: list[UUID] = []
        versions: list[int] = []
        leaves: list[bytes] = []
        service, leaf = self.service, translog.trusted_leaf
        last, name = None, ""
        for row in links:
            oid, version = row[0], row[1]
            if oid is not last:  # an aggregate's events mostly come together
                last, name = oid, str(oid)
            ids.append(oid)
            versions.append(version)
            leaves.append(leaf(service, name, version, row[-1]))
        return ids, versions, leaves

    def leaves_in_store_order(self, stored_events: Sequence[Any], links: Iterable[tuple[Any, ...]]) -> Columns:
        """`leaves` for links given in another order than the events' (grouped by aggregate)."""
        chain = {(row[0], row[1]): row[-1] for row in links}
        return self.leaves([(e.originator_id, e.originator_version, chain[(e.originator_id, e.originator_version)])
                            for e in stored_events])

    def append(self, curs: Cursor[Any], columns: Columns) -> None:
        """One statement: the counter moved and the leaves inserted at the positions it gave."""
        ids, versions, leaves = columns
        if not ids:
            return
        curs.execute(_APPEND, {"n": len(ids), "service": self.service, "ids": ids, "versions": versions,
                               "leaves": leaves}, prepare=False)

    def copy(self, curs: Cursor[Any], columns: Columns, id_type: str = "uuid") -> None:
        """`append` for a bulk save: the counter moved, then the leaves written by binary COPY."""
        ids, versions, leaves = columns
        if not ids:
            return
        start = self._take(curs, len(ids))
        service = self.service
        with curs.copy(_COPY_LEAVES) as copy:
            copy.set_types(["int8", "text", id_type, "int8", "bytea"])
            write = copy.write_row
            for seq, oid, version, leaf in zip(range(start, start + len(ids)), ids, versions, leaves, strict=True):
                write((seq, service, oid, version, leaf))

    def copy_packed(self, curs: Cursor[Any], rows: Sequence[tuple[bytes, int, bytes]]) -> None:
        """`copy` for a bulk save with uuid ids, from (the id's 16 bytes, version, leaf hash)
        rows in store order, each leaf `translog.trusted_leaf(self.service, ...)` (hashed by the
        caller as it wrote the event): the rows packed in COPY's binary format, no per-row
        adaptation by psycopg."""
        if not rows:
            return
        start = self._take(curs, len(rows))
        name = self.service.encode()
        pack = struct.Struct(f">hiqi{len(name)}si16siqi32s").pack
        data = bytearray(COPY_HEADER)
        for seq, (raw_id, version, leaf) in enumerate(rows, start):
            if len(leaf) != 32:  # (`struct` would pad or cut it without a word)
                raise ValueError("a leaf hash is 32 bytes")
            data += pack(5, 8, seq, len(name), name, 16, raw_id, 8, version, 32, leaf)
        data += COPY_TRAILER
        with curs.copy(_COPY_LEAVES) as copy:
            copy.write(data)

    @staticmethod
    def _take(curs: Cursor[Any], n: int) -> int:
        """Move the counter by `n`: the first of the positions taken."""
        curs.execute("UPDATE audit.log_size SET size = size + %s RETURNING size", (n,), prepare=False)
        row = curs.fetchone()
        if row is None:
            raise LogInconsistent("the log's size counter (audit.log_size) has no row")
        size: int = row["size"] if isinstance(row, dict) else row[0]
        return size - n


def backfill(recorder: Any, service: str) -> int:
    """Append leaves for this service's events stored before the log existed (a migration;
    idempotent), in the event store's order. Returns how many."""
    ident = {"schema": sql.Identifier(recorder.datastore.schema), "events": sql.Identifier(recorder.events_table_name),
             "chain": sql.Identifier(recorder.chain_table_name)}
    query = sql.SQL(
        "SELECT e.originator_id, e.originator_version, c.hash FROM {schema}.{events} e "
        "JOIN {schema}.{chain} c USING (originator_id, originator_version) "
        "WHERE NOT EXISTS (SELECT 1 FROM audit.log_leaves l WHERE l.originator_id = e.originator_id "
        "AND l.originator_version = e.originator_version AND l.service = %s) ORDER BY e.notification_id"
    ).format(**ident)
    writer = LogWriter(service)
    with recorder.datastore.transaction(commit=True) as curs:
        # Planner statistics first: right after a large import or seed they may be missing,
        # and the check below was then planned as a nested loop over both tables (over 100 s
        # for 68,000 events; 0.1 s once analysed).
        for table in (sql.SQL("audit.log_leaves"), sql.SQL("{schema}.{events}").format(**ident),
                      sql.SQL("{schema}.{chain}").format(**ident)):
            curs.execute(sql.SQL("ANALYZE {}").format(table))
    with recorder.datastore.transaction(commit=False) as curs:
        # Most runs find nothing to do: then no lock is taken (writers go on).
        curs.execute(sql.SQL("SELECT EXISTS ({query})").format(query=query), (service,))
        if not curs.fetchone()["exists"]:
            return 0
    with recorder.datastore.transaction(commit=True) as curs:
        curs.execute(sql.SQL("LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE").format(**ident))
        curs.execute(query, (service,))
        rows = curs.fetchall()
        for start in range(0, len(rows), 10_000):
            writer.append(curs, writer.leaves((r["originator_id"], r["originator_version"], bytes(r["hash"]))
                                              for r in rows[start:start + 10_000]))
    return len(rows)


# -- tree heads ---------------------------------------------------------------------------------------


class LogInconsistent(RuntimeError):
    """The stored log no longer agrees with its last signed head: nothing is signed over it."""


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes
    signed_at: str
    key_id: str
    public_key: bytes
    signature: str
    consistency_from: int | None = None
    consistency_proof: list[bytes] = field(default_factory=list)

    def payload(self) -> bytes:
        return translog.head_payload(self.size, self.root, self.signed_at, self.key_id)

    def to_dict(self) -> dict[str, Any]:
        import base64

        return {
            "format": translog.HEAD_FORMAT,
            "size": self.size,
            "root": self.root.hex(),
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature,
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "consistency": {"from": self.consistency_from, "proof": [p.hex() for p in self.consistency_proof]},
        }


_HEAD_COLUMNS = "size, root, signed_at, key_id, public_key, signature, consistency_from, consistency_proof"


def _head(row: dict[str, Any]) -> TreeHead:
    return TreeHead(row["size"], bytes(row["root"]), row["signed_at"], row["key_id"], bytes(row["public_key"]),
                    row["signature"], row["consistency_from"], [bytes(p) for p in row["consistency_proof"] or ()])


class TransparencyLog:
    """Reads the log and its proofs, and signs tree heads, through an eventsourcing
    PostgreSQL datastore's pool (any service's: the log is global)."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self._lock = threading.Lock()
        self._audit_block = 0  # the next block of signed leaves `audit_step` re-checks

    def audit_step(self, curs: Cursor[DictRow], size: int, *, level: int = AUDIT_BLOCK_LEVEL) -> tuple[int, int]:
        """Re-check one block of the signed log (a rolling audit: every block in turn, one per
        signing cycle): every stored subtree inside the block rebuilt from its leaves, and every
        stored subtree above the blocks rebuilt from the blocks' roots. With the signer's own
        check of the peaks against the signed root, an edit anywhere in `audit.log_leaves` or
        `audit.log_nodes` is found within one sweep. Returns the leaves checked; raises
        LogInconsistent."""
        if size <= 0:
            return 0, 0
        block = 1 << level
        blocks = (size + block - 1) >> level
        b = self._audit_block % blocks
        self._audit_block = b + 1
        lo, hi = b * block, min((b + 1) * block, size)
        curs.execute("SELECT seq, leaf_hash FROM audit.log_leaves WHERE seq >= %s AND seq < %s ORDER BY seq",
                     (lo, hi), prepare=False)
        leaves = [(r["seq"], bytes(r["leaf_hash"])) for r in curs.fetchall()]
        if [s for s, _ in leaves] != list(range(lo, hi)):
            raise LogInconsistent(f"positions {lo}..{hi - 1} of the signed log have a gap")
        rebuilt: dict[Node, bytes] = {}

        def emit(node_level: int, idx: int, h: bytes) -> None:
            rebuilt[(node_level, idx + (lo >> node_level))] = h

        translog.extend([], 0, [h for _, h in leaves], emit)
        levels = range(1, level + 1)
        curs.execute("SELECT n.level, n.idx, n.hash FROM audit.log_nodes n JOIN unnest(%s::smallint[], %s::bigint[], "
                     "%s::bigint[]) AS r(level, lo, hi) ON n.level = r.level AND n.idx >= r.lo AND n.idx < r.hi",
                     (list(levels), [lo >> lv for lv in levels], [hi >> lv for lv in levels]), prepare=False)
        stored = {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in curs.fetchall()}
        if stored != rebuilt:
            wrong = sorted(set(stored.items()) ^ set(rebuilt.items()))[0][0]
            raise LogInconsistent(f"the stored subtree {wrong} no longer matches leaves {lo}..{hi - 1}")
        # Above the blocks: each stored node is its two children's hash.
        curs.execute("SELECT level, idx, hash FROM audit.log_nodes WHERE level >= %s", (level,), prepare=False)
        upper = {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in curs.fetchall()}
        for (node_level, idx), h in upper.items():
            if node_level > level:
                left, right = upper.get((node_level - 1, 2 * idx)), upper.get((node_level - 1, 2 * idx + 1))
                if left is None or right is None or translog.node_hash(left, right) != h:
                    raise LogInconsistent(f"the stored subtree {(node_level, idx)} is not its children's hash")
        return lo, hi

    # -- reading ----------------------------------------------------------------------------

    def size(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT size FROM audit.log_size")
            row = curs.fetchone()
        return int(row["size"]) if row else 0

    def latest(self, curs: Cursor[DictRow] | None = None) -> TreeHead | None:
        if curs is None:
            with self.datastore.transaction(commit=False) as own:
                return self.latest(own)
        curs.execute(f"SELECT {_HEAD_COLUMNS} FROM audit.tree_heads ORDER BY size DESC LIMIT 1")  # noqa: S608
        row = curs.fetchone()
        return _head(row) if row else None

    def head(self, size: int) -> TreeHead | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT {_HEAD_COLUMNS} FROM audit.tree_heads WHERE size = %s", (size,))  # noqa: S608
            row = curs.fetchone()
        return _head(row) if row else None

    def first_head_covering(self, seq: int, curs: Cursor[DictRow]) -> TreeHead | None:
        """The smallest signed head that holds the leaf at `seq`."""
        curs.execute(f"SELECT {_HEAD_COLUMNS} FROM audit.tree_heads WHERE size > %s "  # noqa: S608
                     "ORDER BY size LIMIT 1", (seq,))
        row = curs.fetchone()
        return _head(row) if row else None

    def heads(self, limit: int, before: int | None = None) -> list[TreeHead]:
        """Newest first; `before`: only heads of a smaller size."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT {_HEAD_COLUMNS} FROM audit.tree_heads "  # noqa: S608
                         "WHERE (%(before)s::bigint IS NULL OR size < %(before)s) ORDER BY size DESC LIMIT %(limit)s",
                         {"before": before, "limit": limit})
            return [_head(r) for r in curs.fetchall()]

    def leaves(self, start: int, end: int) -> list[dict[str, Any]]:
        """The leaves at positions [start, end), in order."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT seq, service, originator_id, originator_version, leaf_hash FROM audit.log_leaves "
                         "WHERE seq >= %s AND seq < %s ORDER BY seq", (start, end))
            return [{"seq": r["seq"], "service": r["service"], "originator_id": str(r["originator_id"]),
                     "version": r["originator_version"], "leaf_hash": bytes(r["leaf_hash"]).hex()}
                    for r in curs.fetchall()]

    def aggregate_leaves(self, originator_id: UUID, curs: Cursor[DictRow]) -> list[tuple[int, str, int, bytes]]:
        """(seq, service, version, leaf_hash) of one aggregate's leaves, in log order."""
        curs.execute("SELECT seq, service, originator_version, leaf_hash FROM audit.log_leaves "
                     "WHERE originator_id = %s ORDER BY seq", (originator_id,))
        return [(r["seq"], r["service"], r["originator_version"], bytes(r["leaf_hash"])) for r in curs.fetchall()]

    @staticmethod
    def nodes(curs: Cursor[DictRow], wanted: Iterable[Node]) -> dict[Node, bytes]:
        """The stored hashes of `wanted` complete subtrees, in one query. LogInconsistent when
        one is not stored."""
        wanted = set(wanted)
        leaves = [i for level, i in wanted if level == 0]
        inner = [(level, i) for level, i in wanted if level > 0]
        curs.execute(
            "SELECT 0 AS level, seq AS idx, leaf_hash AS hash FROM audit.log_leaves WHERE seq = ANY(%s::bigint[]) "
            "UNION ALL SELECT n.level, n.idx, n.hash FROM audit.log_nodes n "
            "JOIN unnest(%s::smallint[], %s::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx",
            (leaves, [n[0] for n in inner], [n[1] for n in inner]), prepare=False)
        found = {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in curs.fetchall()}
        if len(found) != len(wanted):
            missing = sorted(wanted - set(found))[:3]
            raise LogInconsistent(f"the log lacks stored subtrees {missing}")
        return found

    def inclusion_proofs(
        self, seqs: Iterable[int], size: int, curs: Cursor[DictRow] | None = None
    ) -> dict[int, list[bytes]]:
        """The inclusion proof of each leaf position in the tree of `size` leaves (a size at
        most the last signed head's: the stored subtrees reach that far)."""
        if curs is None:
            with self.datastore.transaction(commit=False) as own:
                return self.inclusion_proofs(seqs, size, own)
        ranges = {s: translog.inclusion_ranges(s, size) for s in seqs}
        nodes = self.nodes(curs, translog.nodes_for(r for rs in ranges.values() for r in rs))
        return {s: translog.proof_hashes(nodes, rs) for s, rs in ranges.items()}

    def consistency_proof(self, first: int, second: int, curs: Cursor[DictRow] | None = None) -> list[bytes]:
        if curs is None:
            with self.datastore.transaction(commit=False) as own:
                return self.consistency_proof(first, second, own)
        ranges = translog.consistency_ranges(first, second)
        return translog.proof_hashes(self.nodes(curs, translog.nodes_for(ranges)), ranges)

    # -- signing ----------------------------------------------------------------------------

    def sign_next(
        self, *, signed_at: str, key_id: str, public_key: bytes, sign: Any, max_leaves: int = MAX_LEAVES_PER_HEAD
    ) -> TreeHead | None:
        """One signing cycle: extend the stored subtrees by at most `max_leaves` leaves past
        the last head, prove consistency from it, and sign the new head. None when the log
        did not grow (or another signer signed first). Short transactions only: two reads,
        then one write. Raises LogInconsistent (and signs nothing) when the stored log no
        longer agrees with the last signed head."""
        with self._lock:
            with self.datastore.transaction(commit=False) as curs:
                curs.execute("SELECT size FROM audit.log_size")
                row = curs.fetchone()
                total = int(row["size"]) if row else 0
                last = self.latest(curs)
            done = last.size if last else 0
            if total <= done:
                return None
            target = min(total, done + max_leaves)
            with self.datastore.transaction(commit=False) as curs:
                self.audit_step(curs, done)
                old_peaks = self.nodes(curs, translog.peaks(done)) if done else {}
                peak_hashes = [old_peaks[p] for p in translog.peaks(done)]
                if last is not None and translog.fold(peak_hashes) != last.root:
                    raise LogInconsistent(f"the stored log does not rebuild the root of the head of size {done}")
                curs.execute("SELECT seq, leaf_hash FROM audit.log_leaves WHERE seq >= %s AND seq < %s ORDER BY seq",
                             (done, target))
                rows = curs.fetchall()
                if len(rows) != target - done or (rows and (rows[0]["seq"], rows[-1]["seq"]) != (done, target - 1)):
                    raise LogInconsistent(f"positions {done}..{target - 1} of the log have a gap")
                new_leaves = [bytes(r["leaf_hash"]) for r in rows]
                built: dict[Node, bytes] = {(0, done + i): h for i, h in enumerate(new_leaves)}
                new_peaks, _ = translog.extend(peak_hashes, done, new_leaves,
                                               lambda level, idx, h: built.__setitem__((level, idx), h))
                root = translog.fold(new_peaks)
                proof: list[bytes] = []
                if done and last is not None:  # (a log of `done` leaves has a last head)
                    ranges = translog.consistency_ranges(done, target)
                    needed = translog.nodes_for(ranges)
                    known = {**old_peaks, **built}
                    known.update(self.nodes(curs, needed - set(known)))
                    proof = translog.proof_hashes(known, ranges)
                    if not translog.verify_consistency(done, target, last.root, root, proof):
                        raise LogInconsistent(f"the stored log is not consistent with the head of size {done}")
            payload = translog.head_payload(target, root, signed_at, key_id)
            head = TreeHead(target, root, signed_at, key_id, public_key, sign(payload),
                            done if last else None, proof)
            inner = [(level, idx, h) for (level, idx), h in built.items() if level > 0]
            with self.datastore.transaction(commit=True) as curs:
                curs.execute("SELECT pg_advisory_xact_lock(%s)", (SIGN_LOCK,))
                now_last = self.latest(curs)
                if (now_last.size if now_last else 0) != done:
                    return None  # another signer went first
                curs.execute("INSERT INTO audit.log_nodes (level, idx, hash) "
                             "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])",
                             ([n[0] for n in inner], [n[1] for n in inner], [n[2] for n in inner]), prepare=False)
                curs.execute(f"INSERT INTO audit.tree_heads ({_HEAD_COLUMNS}) "  # noqa: S608
                             "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::bytea[])",
                             (head.size, head.root, head.signed_at, head.key_id, head.public_key, head.signature,
                              head.consistency_from, head.consistency_proof), prepare=False)
            return head
