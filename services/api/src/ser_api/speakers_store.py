"""Profiles on disk: one SQLite row of statistics per (API key, profile), never audio. Speaker
profiles (one voice) and domain profiles (one place: many recordings of a deployment, issue 30)
hold the same statistics in two tables of one file (:data:`TABLES`); a store serves one table.

A row holds exactly a :class:`ser_inference.SpeakerStats` (window count, per-feature sums and
sums of squares, the plain head's answer counts, clips and seconds) with the identity of the
model that computed it and two timestamps. The arrays are stored as little-endian bytes
(``total``/``total_sq`` float64, ``label_counts`` int64) whose lengths the row's
``n_features``/``n_labels`` give, so a row can be read back without pickle or numpy's file
format. The owner column is the SHA-256 (hex) of the caller's API key, "" without keys: the
key itself is never written.

Knows nothing about HTTP. Every method is blocking (SQLite, and up to ``BUSY_TIMEOUT_S`` when
another worker process is writing): call it off the event loop. Writes are serialised in this
process by a lock and across processes by SQLite (``BEGIN IMMEDIATE``), so that the caps are
checked and the row written in one transaction; the file is in WAL mode, so readers never wait
for a writer.
"""

from __future__ import annotations

import datetime
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ser_inference import SpeakerStats

SCHEMA_VERSION = 1  # PRAGMA user_version of a file this module wrote
BUSY_TIMEOUT_S = 5.0  # s: how long a write waits for another worker's write to finish
ID_BYTES = 16  # secrets.token_urlsafe(16): 22 URL-safe characters, 128 random bits
_SUMS = np.dtype("<f8")  # total, total_sq
_COUNTS = np.dtype("<i8")  # label_counts

TABLES = ("speakers", "domains")  # the kinds of profile, each its own table of the same columns
_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    owner TEXT NOT NULL,              -- sha256 hex of the API key; '' without keys
    id TEXT NOT NULL,                 -- secrets.token_urlsafe
    model_version TEXT NOT NULL,      -- the model whose speaker features these are
    n_features INTEGER NOT NULL,      -- len(total) == len(total_sq)
    n_labels INTEGER NOT NULL,        -- len(label_counts)
    n_windows INTEGER NOT NULL,
    total BLOB NOT NULL,              -- float64 little-endian, (n_features,)
    total_sq BLOB NOT NULL,           -- float64 little-endian, (n_features,)
    label_counts BLOB NOT NULL,       -- int64 little-endian, (n_labels,)
    clips INTEGER NOT NULL,
    seconds REAL NOT NULL,            -- s of decoded audio enrolled
    created_at TEXT NOT NULL,         -- ISO 8601, UTC
    updated_at TEXT NOT NULL,
    PRIMARY KEY (owner, id)
)
"""
_COLUMNS = (
    "id, model_version, n_features, n_labels, n_windows, total, total_sq, label_counts, "
    "clips, seconds, created_at, updated_at"
)


class SpeakerStoreError(RuntimeError):
    """The profile file cannot be used (opened, created, written); the message says which."""


class SpeakerNotFoundError(LookupError):
    """No such profile for this owner (or it was deleted meanwhile)."""


class TooManySpeakersError(RuntimeError):
    """The owner already has the most profiles allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class TooManyClipsError(RuntimeError):
    """The profile would hold more clips than allowed."""

    def __init__(self, held: int, adding: int, limit: int) -> None:
        super().__init__(held, adding, limit)
        self.held, self.adding, self.limit = held, adding, limit


class ModelMismatchError(RuntimeError):
    """The profile was computed by another model than the one it is used with."""

    def __init__(self, stored: ModelIdentity) -> None:
        super().__init__(stored)
        self.stored = stored


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """What makes two models' speaker statistics comparable: the same model, the same sizes."""

    model_version: str
    n_features: int  # speaker features per window
    n_labels: int


@dataclass(frozen=True, slots=True)
class SpeakerRecord:
    """One stored profile."""

    speaker_id: str
    model: ModelIdentity
    stats: SpeakerStats
    created_at: str  # ISO 8601, UTC
    updated_at: str


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _blob(values: np.ndarray, dtype: np.dtype) -> bytes:
    return np.ascontiguousarray(values, dtype=dtype).tobytes()


def _array(blob: bytes, dtype: np.dtype, length: int, what: str) -> np.ndarray:
    if len(blob) != length * dtype.itemsize:
        raise SpeakerStoreError(
            f"stored {what} has {len(blob)} bytes, expected {length} × {dtype.itemsize}"
        )
    return np.frombuffer(blob, dtype=dtype).astype(dtype.newbyteorder("="))


def _record(row: tuple) -> SpeakerRecord:
    (speaker_id, version, n_features, n_labels, n_windows, total, total_sq, counts, clips,
     seconds, created, updated) = row  # fmt: skip
    stats = SpeakerStats(
        n_windows=int(n_windows),
        total=_array(total, _SUMS, n_features, "total"),
        total_sq=_array(total_sq, _SUMS, n_features, "total_sq"),
        label_counts=_array(counts, _COUNTS, n_labels, "label_counts"),
        clips=int(clips),
        seconds=float(seconds),
    )
    return SpeakerRecord(
        speaker_id, ModelIdentity(version, int(n_features), int(n_labels)), stats, created, updated
    )


def _check_shapes(stats: SpeakerStats, model: ModelIdentity) -> None:
    if stats.total.shape != (model.n_features,) or stats.label_counts.shape != (model.n_labels,):
        raise ValueError(
            f"statistics of shapes {stats.total.shape}/{stats.label_counts.shape} do not fit "
            f"model {model.model_version} ({model.n_features} features, {model.n_labels} labels)"
        )


class SpeakerStore:
    """The profiles in one SQLite file; thread-safe (one connection behind a lock).

    Use :meth:`open`; close with :meth:`close`.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path, table: str = "speakers") -> None:
        if table not in TABLES:
            raise ValueError(f"unknown profile table {table!r}; one of {TABLES}")
        self._db = connection
        self.path = path
        self.table = table  # one of TABLES, never from a request
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, table: str = "speakers") -> SpeakerStore:
        """Create the folder, the file and the tables if needed; prove the file is writable.
        The store serves ``table`` (one of :data:`TABLES`); each kind opens its own store.

        Raises
        ------
        SpeakerStoreError
            One line naming the file and what is wrong.
        """
        where = path.resolve()
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: the routes call in from worker threads, one at a time
            # (the lock). isolation_level=None: transactions are begun explicitly below.
            connection = sqlite3.connect(
                where, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as error:
            raise SpeakerStoreError(
                f"speaker profiles file {where} cannot be opened: {error}"
            ) from None
        # Workers starting together race for a new file: switching it to WAL takes an
        # exclusive lock that SQLite refuses at once ("database is locked") rather than
        # waiting out its busy timeout. So the set-up is retried within that timeout.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return cls._set_up(connection, where, table)
            except SpeakerStoreError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    connection.close()
                    raise
                time.sleep(0.05)

    @classmethod
    def _set_up(cls, connection: sqlite3.Connection, where: Path, table: str) -> SpeakerStore:
        """WAL mode, the schema and a proving write on ``connection``; closes it on failure."""
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SpeakerStoreError(
                    f"speaker profiles file {where} cannot use SQLite's WAL mode (got "
                    f"'{mode}'); put it on a local file system"
                )
            # A deleted profile's bytes are overwritten in the file, not left in a free page.
            connection.execute("PRAGMA secure_delete = ON")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SpeakerStoreError(
                    f"speaker profiles file {where} has schema {version}, newer than this "
                    f"service's {SCHEMA_VERSION}; run the version that wrote it"
                )
            connection.execute("BEGIN IMMEDIATE")
            for name in TABLES:
                connection.execute(_SCHEMA.format(table=name))
            # A real write, every start: a read-only file or folder is refused now, not at
            # the first enrolment.
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if "locked" not in str(error):
                connection.close()
            raise SpeakerStoreError(
                f"speaker profiles file {where} cannot be written: {error}"
            ) from None
        except SpeakerStoreError:
            connection.close()
            raise
        return cls(connection, where, table)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def count(self, owner: str) -> int:
        """Profiles of ``owner``."""
        with self._lock:
            return self._db.execute(
                f"SELECT COUNT(*) FROM {self.table} WHERE owner = ?", (owner,)
            ).fetchone()[0]

    def list(self, owner: str) -> list[SpeakerRecord]:
        """Every profile of ``owner``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM {self.table} WHERE owner = ? ORDER BY created_at, id",
                (owner,),
            ).fetchall()
        return [_record(row) for row in rows]

    def get(self, owner: str, speaker_id: str) -> SpeakerRecord | None:
        """The profile, or None when ``owner`` has none by that id."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM {self.table} WHERE owner = ? AND id = ?",
                (owner, speaker_id),
            ).fetchone()
        return None if row is None else _record(row)

    def create(
        self, owner: str, stats: SpeakerStats, model: ModelIdentity, max_speakers: int
    ) -> SpeakerRecord:
        """Store a new profile under a fresh random id.

        Raises
        ------
        TooManySpeakersError : ``owner`` already has ``max_speakers`` profiles.
        """
        _check_shapes(stats, model)
        now = _now()
        with self._lock, self._transaction():
            held = self._db.execute(
                f"SELECT COUNT(*) FROM {self.table} WHERE owner = ?", (owner,)
            ).fetchone()[0]
            if held >= max_speakers:
                raise TooManySpeakersError(max_speakers)
            while True:  # 128 random bits: a collision is a formality, but never an overwrite
                speaker_id = secrets.token_urlsafe(ID_BYTES)
                taken = self._db.execute(
                    f"SELECT 1 FROM {self.table} WHERE owner = ? AND id = ?", (owner, speaker_id)
                ).fetchone()
                if taken is None:
                    break
            self._db.execute(
                f"INSERT INTO {self.table} (owner, {_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (owner, speaker_id, *self._values(stats, model), now, now),
            )
        return SpeakerRecord(speaker_id, model, stats, now, now)

    def add(
        self, owner: str, speaker_id: str, stats: SpeakerStats, model: ModelIdentity,
        max_clips: int,
    ) -> SpeakerRecord:  # fmt: skip
        """Merge the statistics of more clips into a profile (read, merge, write: one
        transaction, so concurrent enrolments into one profile all count).

        Raises
        ------
        SpeakerNotFoundError : no such profile (deleted meanwhile).
        ModelMismatchError : the profile was made by another model.
        TooManyClipsError : the profile would pass ``max_clips``.
        """
        _check_shapes(stats, model)
        with self._lock, self._transaction():
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM {self.table} WHERE owner = ? AND id = ?",
                (owner, speaker_id),
            ).fetchone()
            if row is None:
                raise SpeakerNotFoundError(speaker_id)
            stored = _record(row)
            if stored.model != model:
                raise ModelMismatchError(stored.model)
            if stored.stats.clips + stats.clips > max_clips:
                raise TooManyClipsError(stored.stats.clips, stats.clips, max_clips)
            merged = stored.stats.merged(stats)
            now = _now()
            self._db.execute(
                f"UPDATE {self.table} SET model_version = ?, n_features = ?, n_labels = ?, "
                "n_windows = ?, total = ?, total_sq = ?, label_counts = ?, clips = ?, "
                "seconds = ?, updated_at = ? WHERE owner = ? AND id = ?",
                (*self._values(merged, model), now, owner, speaker_id),
            )
        return SpeakerRecord(speaker_id, model, merged, stored.created_at, now)

    def delete(self, owner: str, speaker_id: str) -> bool:
        """Remove the profile; False when ``owner`` had none by that id."""
        with self._lock, self._transaction():
            cursor = self._db.execute(
                f"DELETE FROM {self.table} WHERE owner = ? AND id = ?", (owner, speaker_id)
            )
        return cursor.rowcount > 0

    @staticmethod
    def _values(stats: SpeakerStats, model: ModelIdentity) -> tuple:
        """The row's values from ``model_version`` to ``seconds``, in _COLUMNS order."""
        return (
            model.model_version, model.n_features, model.n_labels, int(stats.n_windows),
            _blob(stats.total, _SUMS), _blob(stats.total_sq, _SUMS),
            _blob(stats.label_counts, _COUNTS), int(stats.clips), float(stats.seconds),
        )  # fmt: skip

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception: the write lock is
    taken at the start, so what the transaction reads cannot change before it writes."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
