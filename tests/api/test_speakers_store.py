"""The speaker profile store (ser_api.speakers_store): statistics in, the same statistics out,
scoped by owner, capped, merged in one transaction, and nothing else on disk."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from ser_api.config import Settings
from ser_api.speakers_store import (
    ModelIdentity,
    ModelMismatchError,
    SpeakerNotFoundError,
    SpeakerStore,
    SpeakerStoreError,
    TooManyClipsError,
    TooManySpeakersError,
)
from ser_inference import SpeakerStats

MODEL = ModelIdentity("test-model", n_features=6, n_labels=3)
OWNER = "a" * 64


def stats_of(seed: int, windows: int = 4, clips: int = 1) -> SpeakerStats:
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 1, (windows, MODEL.n_features))
    probabilities = rng.dirichlet(np.ones(MODEL.n_labels), windows)
    return SpeakerStats.of_windows(features, probabilities, seconds=3.0 * clips, clips=clips)


def assert_same_stats(got: SpeakerStats, want: SpeakerStats) -> None:
    assert (got.n_windows, got.clips, got.seconds) == (want.n_windows, want.clips, want.seconds)
    np.testing.assert_array_equal(got.total, want.total)  # bytes round trip: exact
    np.testing.assert_array_equal(got.total_sq, want.total_sq)
    np.testing.assert_array_equal(got.label_counts, want.label_counts)
    assert got.total.dtype == np.float64 and got.label_counts.dtype == np.int64


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SpeakerStore]:
    opened = SpeakerStore.open(tmp_path / "nested" / "speakers.sqlite3")
    yield opened
    opened.close()


def test_a_profile_reads_back_exactly_and_survives_reopening(
    store: SpeakerStore, tmp_path: Path
) -> None:
    stats = stats_of(1)
    created = store.create(OWNER, stats, MODEL, max_speakers=10)
    assert len(created.speaker_id) == 22 and created.created_at == created.updated_at
    assert created.created_at.endswith("+00:00")
    again = SpeakerStore.open(tmp_path / "nested" / "speakers.sqlite3")
    try:
        record = again.get(OWNER, created.speaker_id)
    finally:
        again.close()
    assert record is not None and record.model == MODEL
    assert_same_stats(record.stats, stats)
    assert store.get("b" * 64, created.speaker_id) is None  # another owner sees nothing


def test_adding_merges_and_keeps_the_creation_time(store: SpeakerStore) -> None:
    first, second = stats_of(1), stats_of(2, windows=3, clips=2)
    created = store.create(OWNER, first, MODEL, max_speakers=10)
    added = store.add(OWNER, created.speaker_id, second, MODEL, max_clips=10)
    assert_same_stats(added.stats, first.merged(second))
    stored = store.get(OWNER, created.speaker_id)
    assert_same_stats(stored.stats, first.merged(second))
    assert stored.created_at == created.created_at and stored.updated_at >= created.updated_at


def test_caps_model_and_missing_profiles_are_refused_without_a_change(store: SpeakerStore) -> None:
    created = store.create(OWNER, stats_of(1), MODEL, max_speakers=1)
    with pytest.raises(TooManySpeakersError):
        store.create(OWNER, stats_of(2), MODEL, max_speakers=1)
    store.create("b" * 64, stats_of(2), MODEL, max_speakers=1)  # another owner's own cap
    with pytest.raises(TooManyClipsError) as caught:
        store.add(OWNER, created.speaker_id, stats_of(3, clips=2), MODEL, max_clips=2)
    assert (caught.value.held, caught.value.adding, caught.value.limit) == (1, 2, 2)
    other = ModelIdentity("other-model", MODEL.n_features, MODEL.n_labels)
    with pytest.raises(ModelMismatchError) as mismatch:
        store.add(OWNER, created.speaker_id, stats_of(3), other, max_clips=10)
    assert mismatch.value.stored == MODEL
    with pytest.raises(SpeakerNotFoundError):
        store.add(OWNER, "nope", stats_of(3), MODEL, max_clips=10)
    assert_same_stats(store.get(OWNER, created.speaker_id).stats, stats_of(1))
    assert store.count(OWNER) == 1
    with pytest.raises(ValueError, match="do not fit"):
        store.create(OWNER, stats_of(3), ModelIdentity("m", 5, 3), max_speakers=10)


def test_delete_erases_the_row(store: SpeakerStore) -> None:
    created = store.create(OWNER, stats_of(1), MODEL, max_speakers=10)
    assert not store.delete("b" * 64, created.speaker_id)  # not the owner's: untouched
    assert store.delete(OWNER, created.speaker_id)
    assert store.get(OWNER, created.speaker_id) is None
    assert not store.delete(OWNER, created.speaker_id)


def test_concurrent_additions_from_two_workers_all_count(tmp_path: Path) -> None:
    """Two connections (two worker processes' stores) and several threads each: read-merge-
    write is one transaction, so no addition is lost."""
    path = tmp_path / "speakers.sqlite3"
    stores = [SpeakerStore.open(path), SpeakerStore.open(path)]
    created = stores[0].create(OWNER, stats_of(0), MODEL, max_speakers=10)
    additions = [stats_of(seed, windows=2) for seed in range(1, 17)]

    def add(index: int) -> None:
        stores[index % 2].add(OWNER, created.speaker_id, additions[index], MODEL, max_clips=100)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(len(additions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = stats_of(0)
    for stats in additions:
        expected = expected.merged(stats)
    record = stores[1].get(OWNER, created.speaker_id)
    assert record.stats.clips == 17 and record.stats.n_windows == 4 + 16 * 2
    np.testing.assert_allclose(record.stats.total, expected.total, rtol=1e-12)
    np.testing.assert_array_equal(record.stats.label_counts, expected.label_counts)
    for store in stores:
        store.close()


def test_the_file_holds_only_the_statistics_columns(store: SpeakerStore) -> None:
    store.create(OWNER, stats_of(1), MODEL, max_speakers=10)
    with sqlite3.connect(store.path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {
            table: {row[1]: row[2] for row in db.execute(f"PRAGMA table_info({table})")}
            for table in tables
        }
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert tables == ["speakers", "domains"]  # the same statistics, one table per kind
    assert columns["speakers"] == columns["domains"] == {
        "owner": "TEXT", "id": "TEXT", "model_version": "TEXT", "n_features": "INTEGER",
        "n_labels": "INTEGER", "n_windows": "INTEGER", "total": "BLOB", "total_sq": "BLOB",
        "label_counts": "BLOB", "clips": "INTEGER", "seconds": "REAL", "created_at": "TEXT",
        "updated_at": "TEXT",
    }  # fmt: skip
    assert mode == "wal"


@pytest.mark.parametrize("problem", ["parent_is_a_file", "newer_schema"])
def test_a_file_that_cannot_be_used_is_refused_with_its_path(tmp_path: Path, problem: str) -> None:
    if problem == "parent_is_a_file":
        (tmp_path / "plain.txt").write_text("not a folder")
        path, words = tmp_path / "plain.txt" / "speakers.sqlite3", "cannot be opened"
    else:
        path, words = tmp_path / "speakers.sqlite3", "newer than this service's"
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA user_version = 99")
    with pytest.raises(SpeakerStoreError, match=words) as caught:
        SpeakerStore.open(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("value", [":memory:", "file:speakers?mode=memory", "", "{folder}"])
def test_a_speaker_db_that_is_not_a_file_is_refused_by_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("SER_SPEAKER_DB", value.format(folder=tmp_path))
    with pytest.raises(ValidationError, match="speaker_db"):
        Settings(_env_file=None)


def test_speaker_settings_have_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPEAKER_DB", "MAX_SPEAKERS_PER_KEY", "MAX_CLIPS_PER_SPEAKER", "MAX_ENROL_FILES"):
        monkeypatch.delenv(f"SER_{name}", raising=False)
    settings = Settings(_env_file=None)
    assert settings.speaker_db == Path("data/speakers.sqlite3")
    assert (settings.max_speakers_per_key, settings.max_clips_per_speaker) == (100, 200)
    assert settings.max_enrol_files == 64


def _open_when_released(path: Path, table: str, start: Any, failures: Any) -> None:
    """One worker process: wait for the others, then open the store (and close it)."""
    start.wait()
    try:
        SpeakerStore.open(path, table).close()
    except SpeakerStoreError as error:
        failures.put(str(error))


def test_workers_opening_a_new_file_together_all_succeed(tmp_path: Path) -> None:
    """Worker processes starting at once race to switch a new file to WAL; SQLite refused
    the loser at once ("database is locked", seen in the compose run) instead of waiting, so
    the set-up retries within the busy timeout. Eight processes released together, on 30 new
    files (before the retry: 2 of 30 trials failed)."""
    context = multiprocessing.get_context("fork")  # POSIX locks are per process: not threads
    failures = context.Queue()
    for trial in range(30):
        path = tmp_path / f"race{trial}.sqlite3"
        start = context.Barrier(8)
        workers = [
            context.Process(
                target=_open_when_released,
                args=(path, ("speakers", "domains")[i % 2], start, failures),
            )
            for i in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert all(worker.exitcode == 0 for worker in workers), trial
    seen = []
    while not failures.empty():
        seen.append(failures.get())
    assert not seen, seen
