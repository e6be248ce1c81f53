"""The Ray Data wiring: a pool of scoring actors over the list of files, results to parts.

Ray's offline batch inference pattern: ``map_batches`` with a callable class, so each actor
loads the ONNX model once (one ONNX Runtime session, one thread, per actor) and scores batch
after batch; files are read, decoded and featurised inside the actors, never on the driver.
The driver only lists the input, streams results back and writes them (:mod:`results`).

Without an address Ray starts on this machine; with one (``auto``, ``ray://head:10001``) the
same code runs on an existing cluster, whose nodes must see the model and the audio at the
same paths (shared storage) and have this package installed.

With ``--speaker-from`` (:mod:`ser_batch.speakers`) the actors first build speaker profiles
(pass 1: one row of sums per speaker and batch, added up on the driver: a profile is a few
arrays, not audio), then score every file adapted to its speaker's profile (pass 2: the
profiles go to the actors once, through Ray's object store).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray
import ray.data

from ser_batch.inputs import InputError, list_named_inputs
from ser_batch.report import Progress, summary
from ser_batch.results import ResultStore
from ser_batch.scoring import ADAPTED_COLUMN, Adaptation, score_files
from ser_batch.speakers import SpeakerRule, enrol_files, merge_profiles
from ser_inference import (
    AdaptationUnavailableError,
    AudioLimits,
    EmotionClassifier,
    SpeakerStats,
)

logger = logging.getLogger(__name__)

# Files per map_batches call (one Ray task on an actor). 32 short clips fill a model call of
# ~100 windows and make the per-call overhead of Ray (~1 ms) negligible; long files are
# batched to the model MAX_WINDOWS_PER_RUN windows at a time whatever this is.
DEFAULT_FILES_PER_BATCH = 32
# Rows the driver gathers before writing a part: few enough files to lose on a crash,
# many enough that the parts folder stays small.
PART_ROWS = 512
PART_EVERY_S = 30.0  # s: a slow job (long files) still saves its progress this often


@dataclass(frozen=True, slots=True)
class JobConfig:
    """One ``ser-batch`` run."""

    input: Path  # folder or manifest
    out: Path  # results .parquet
    model: Path  # .onnx; on a cluster, the same path on every node
    limits: AudioLimits
    segments: bool = False
    address: str | None = None  # None: a local Ray on this machine
    workers: int | None = None  # scoring actors; None: one per CPU Ray sees
    files_per_batch: int = DEFAULT_FILES_PER_BATCH
    speaker_from: SpeakerRule | None = None  # None: plain answers, no speaker columns
    # --domain-from-input: one domain profile from every file of the input (an archive is
    # usually one place), every file answered adapted to it (and to its speaker's).
    domain_from_input: bool = False

    @property
    def adapted(self) -> bool:
        return self.speaker_from is not None or self.domain_from_input


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a finished run did."""

    results: pa.Table  # the merged output, every path scored so far
    scored: int  # files scored in this run
    skipped: int  # files already in --out, not scored again
    wall_s: float  # s, this run: listing, Ray start-up, scoring, merge
    scoring_s: (
        float  # s, from submitting the dataset to the last result (actors' start-up included)
    )
    summary: str  # the text printed at the end


@dataclass(frozen=True, slots=True)
class Profiles:
    """Pass 1's result: speaker → profile (``--speaker-from``) and the archive's domain
    profile (``--domain-from-input``; None without it)."""

    speakers: dict[str, SpeakerStats]
    domain: SpeakerStats | None = None


class Scorer:
    """A Ray actor's state: the classifier, loaded once; ``__call__`` scores one batch.

    Parameters
    ----------
    model_path, limits, with_segments : as :func:`ser_batch.scoring.score_files` takes
    profiles : with ``--speaker-from``, speaker → profile (or a Ray reference to that dict);
        the batches then carry each file's ``speaker`` and, without one, its ``reason``
    """

    def __init__(
        self, model_path: str, limits: AudioLimits, with_segments: bool,
        profiles: Profiles | ray.ObjectRef | None = None,
    ) -> None:  # fmt: skip
        # One intra-op thread: Ray gives each actor one CPU; parallelism is across actors.
        self.classifier = EmotionClassifier.load(model_path, threads=1)
        self.limits = limits
        self.with_segments = with_segments
        profiles = ray.get(profiles) if isinstance(profiles, ray.ObjectRef) else profiles
        self.profiles = None if profiles is None else profiles.speakers
        self.domain = None if profiles is None else profiles.domain

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch["path"].to_pylist()
        adaptations = None
        if self.profiles is not None:
            adaptations = [
                Adaptation(
                    speaker, self.profiles.get(speaker) if speaker else None, reason, self.domain
                )
                for speaker, reason in zip(
                    batch["speaker"].to_pylist(), batch["reason"].to_pylist(), strict=True
                )
            ]
        return score_files(
            self.classifier, paths, self.limits, with_segments=self.with_segments,
            adaptations=adaptations,
        )  # fmt: skip


class Enroller:
    """A Ray actor for pass 1 of ``--speaker-from``: per-speaker sums of a batch's files
    (:func:`ser_batch.speakers.enrol_files`)."""

    def __init__(self, model_path: str, limits: AudioLimits) -> None:
        self.classifier = EmotionClassifier.load(model_path, threads=1)
        self.limits = limits

    def __call__(self, batch: pa.Table) -> pa.Table:
        return enrol_files(
            self.classifier, batch["path"].to_pylist(), batch["speaker"].to_pylist(),
            self.limits,
        )  # fmt: skip


def _connect(address: str | None, workers: int | None) -> bool:
    """Attach to Ray (a running one, a cluster, or a new local one); True if we started it."""
    if ray.is_initialized():  # e.g. tests, or a notebook that called ray.init itself
        return False
    options = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address is None:
        ray.init(num_cpus=workers, **options)
    else:
        ray.init(address=address, **options)
    return True


def _quiet_ray_data() -> None:
    """Our own progress line replaces Ray Data's bars and per-dataset log lines."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _on_actors(
    config: JobConfig, files: pa.Table, actor: type, constructor_kwargs: dict[str, Any]
) -> ray.data.Dataset:
    """``files`` (a ``path`` column, and what else ``actor`` reads) mapped by a pool of
    ``actor``s, ``config.files_per_batch`` rows per call."""
    n = files.num_rows
    workers = config.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    # A small job is split so that every actor gets a share, and no more actors start than
    # there are batches (each costs seconds of start-up).
    per_batch = max(1, min(config.files_per_batch, -(-n // workers)))
    workers = min(workers, -(-n // per_batch))
    # One block per batch: blocks are what Ray hands to the actors, so one big block would
    # keep all but one actor idle.
    blocks = [files.slice(i, per_batch) for i in range(0, n, per_batch)]
    return ray.data.from_arrow(blocks).map_batches(
        actor,
        fn_constructor_kwargs={
            "model_path": str(config.model.resolve()),
            "limits": config.limits,
            **constructor_kwargs,
        },
        batch_size=per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )


def _speaker_table(
    paths: list[str], speakers: dict[str, tuple[str | None, str | None]]
) -> pa.Table:
    """``path``, ``speaker`` and (for a file without one) ``reason`` columns."""
    return pa.table(
        {
            "path": pa.array(paths, pa.string()),
            "speaker": pa.array([speakers[p][0] for p in paths], pa.string()),
            "reason": pa.array([speakers[p][1] for p in paths], pa.string()),
        }
    )


def _profiles_on_ray(
    config: JobConfig, files: pa.Table, wanted: set[str], empty: SpeakerStats, progress: Progress
) -> dict[str, SpeakerStats]:
    """Pass 1: the profile of each speaker in ``wanted`` from all its ``files``."""
    # A speaker's files side by side: most batches then hold one speaker, one row back.
    files = files.sort_by([("speaker", "ascending"), ("path", "ascending")])
    profiles = dict.fromkeys(wanted, empty)  # a speaker none of whose files decodes: empty
    for batch in _on_actors(config, files, Enroller, {}).iter_batches(
        batch_size=None, batch_format="pyarrow"
    ):
        merge_profiles(profiles, batch)
        progress.update(sum(batch["files"].to_pylist()), errors=sum(batch["failed"].to_pylist()))
    return profiles


def _score_on_ray(
    config: JobConfig, files: pa.Table, store: ResultStore, progress: Progress,
    profiles: ray.ObjectRef | None = None,
) -> None:  # fmt: skip
    """Score ``files`` on the actor pool, saving results to ``store`` as they arrive."""
    dataset = _on_actors(
        config, files if profiles is not None else files.select(["path"]), Scorer,
        {"with_segments": config.segments, "profiles": profiles},
    )  # fmt: skip
    buffered: list[pa.Table] = []
    rows, last_write = 0, time.monotonic()
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        buffered.append(batch)
        rows += batch.num_rows
        progress.update(batch.num_rows, errors=batch.num_rows - batch["error"].null_count)
        if rows >= PART_ROWS or time.monotonic() - last_write >= PART_EVERY_S:
            store.write_part(pa.concat_tables(buffered))
            buffered, rows, last_write = [], 0, time.monotonic()
    if buffered:
        store.write_part(pa.concat_tables(buffered))


def _check_same_kind(store: ResultStore, *, with_speakers: bool) -> None:
    """Refuse to resume an output written with(out) ``--speaker-from`` without (with) it: its
    rows would not have the same columns, and half the archive would be adapted.

    Raises
    ------
    InputError
    """
    columns = store.columns()
    if columns is None or (ADAPTED_COLUMN in columns) == with_speakers:
        return
    written = "without" if with_speakers else "with"
    raise InputError(
        f"{store.out} was written {written} --speaker-from/--domain-from-input; resume it as "
        "it was started, or "
        "write to another --out"
    )


def _score_passes(config: JobConfig, todo: list[str], store: ResultStore) -> None:
    progress = Progress(len(todo))
    try:
        _score_on_ray(config, pa.table({"path": pa.array(todo, pa.string())}), store, progress)
    finally:
        progress.close()


# Pass 1's group of the files that have no speaker: they count towards the domain profile.
_NO_SPEAKER = "\x00no speaker"


def _adapted_passes(
    config: JobConfig, paths: list[str], todo: list[str],
    speakers: dict[str, tuple[str | None, str | None]], empty: SpeakerStats,
    store: ResultStore, echo: Callable[[str], None],
) -> None:  # fmt: skip
    """Pass 1, the profiles of the speakers of ``todo`` from all their files in ``paths``
    (already scored ones included) and, with ``--domain-from-input``, the domain profile of
    every file in ``paths``; pass 2, ``todo`` scored adapted to them."""
    wanted = {speakers[path][0] for path in todo} - {None}
    if config.domain_from_input:  # every file: its speaker's group, or the speakerless one
        enrol = list(paths)
        groups = {path: (speakers[path][0] or _NO_SPEAKER, None) for path in enrol}
    else:
        enrol = [path for path in paths if speakers[path][0] in wanted]
        groups = speakers
    if config.speaker_from is not None:
        echo(
            f"speaker profiles from {len(enrol)} file(s) of {len(wanted)} speaker(s); "
            f"{sum(speakers[p][0] is None for p in todo)} file(s) without a speaker "
            + ("answered with the domain profile" if config.domain_from_input else "answered plain")
        )
    if config.domain_from_input:
        echo(f"domain profile from all {len(enrol)} file(s) of {config.input}")
    profiles: dict[str, SpeakerStats] = {}
    if enrol:
        progress = Progress(len(enrol), label="profiles: ")
        try:
            profiles = _profiles_on_ray(
                config, _speaker_table(enrol, groups), {groups[p][0] for p in enrol},
                empty, progress,
            )  # fmt: skip
        finally:
            progress.close()
    domain = None
    if config.domain_from_input:
        domain = empty
        for stats in profiles.values():
            domain = domain.merged(stats)
        profiles.pop(_NO_SPEAKER, None)
        if domain.n_windows == 0:
            domain = None  # not one file decoded: every answer plain, each with its error
    progress = Progress(len(todo))
    try:
        _score_on_ray(
            config, _speaker_table(todo, speakers), store, progress,
            ray.put(Profiles(profiles, domain)),
        )  # fmt: skip
    finally:
        progress.close()


def run_job(config: JobConfig, echo: Callable[[str], None] = print) -> JobResult:
    """Score every file of ``config.input`` not yet in ``config.out``; merge; summarise.

    Raises
    ------
    ser_batch.inputs.InputError, ser_inference.ModelLoadError
        Before any work starts: the input cannot be listed or the model cannot be served.
    ser_inference.AdaptationUnavailableError
        Before any work starts: ``--speaker-from`` with a model without an adapted head.
    """
    started = time.monotonic()
    # Checked here, on the driver, so a wrong path fails at once rather than in every actor.
    classifier = EmotionClassifier.load(config.model)
    rule = config.speaker_from
    if rule is not None:
        try:
            empty = classifier.empty_profile()
        except AdaptationUnavailableError as error:
            raise AdaptationUnavailableError(f"--speaker-from: {error}") from None
    if config.domain_from_input:
        try:
            classifier.require_domains()
            empty = classifier.empty_profile()
        except AdaptationUnavailableError as error:
            raise AdaptationUnavailableError(f"--domain-from-input: {error}") from None
    named = list_named_inputs(config.input)
    paths = list(named)
    store = ResultStore(config.out)
    _check_same_kind(store, with_speakers=config.adapted)
    done = store.done_paths()
    todo = [path for path in paths if path not in done]
    skipped = len(paths) - len(todo)
    echo(
        f"{len(paths)} files in {config.input}; {skipped} already in {config.out} "
        f"(skipped); {len(todo)} to score"
    )
    scoring_s = 0.0
    if todo:
        started_ray = _connect(config.address, config.workers)
        _quiet_ray_data()
        scoring = time.monotonic()
        try:
            if not config.adapted:
                _score_passes(config, todo, store)
            else:
                speakers = {
                    path: (None, None) if rule is None else rule.speaker_of(name)
                    for path, name in named.items()
                }
                _adapted_passes(config, paths, todo, speakers, empty, store, echo)
        finally:
            scoring_s = time.monotonic() - scoring
            if started_ray:
                ray.shutdown()
    results = store.merge()
    wall_s = time.monotonic() - started
    text = summary(results, scored=len(todo), skipped=skipped, wall_s=wall_s, scoring_s=scoring_s)
    echo(text)
    return JobResult(results, len(todo), skipped, wall_s, scoring_s, text)
