"""The Ray Data wiring: a pool of scoring actors over the list of files, results to parts.

Ray's offline batch inference pattern: ``map_batches`` with a callable class, so each actor
loads the ONNX model once (one ONNX Runtime session, one thread, per actor) and scores batch
after batch; files are read, decoded and featurised inside the actors, never on the driver.
The driver only lists the input, streams results back and writes them (:mod:`results`).

Without an address Ray starts on this machine; with one (``auto``, ``ray://head:10001``) the
same code runs on an existing cluster, whose nodes must see the model and the audio at the
same paths (shared storage) and have this package installed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import ray
import ray.data

from ser_batch.inputs import list_inputs
from ser_batch.report import Progress, summary
from ser_batch.results import ResultStore
from ser_batch.scoring import score_files
from ser_inference import AudioLimits, EmotionClassifier

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


class Scorer:
    """A Ray actor's state: the classifier, loaded once; ``__call__`` scores one batch.

    Parameters
    ----------
    model_path, limits, with_segments : as :func:`ser_batch.scoring.score_files` takes
    """

    def __init__(self, model_path: str, limits: AudioLimits, with_segments: bool) -> None:
        # One intra-op thread: Ray gives each actor one CPU; parallelism is across actors.
        self.classifier = EmotionClassifier.load(model_path, threads=1)
        self.limits = limits
        self.with_segments = with_segments

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch["path"].to_pylist()
        return score_files(self.classifier, paths, self.limits, with_segments=self.with_segments)


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


def _score_on_ray(
    config: JobConfig, paths: list[str], store: ResultStore, progress: Progress
) -> None:
    """Score ``paths`` on the actor pool, saving results to ``store`` as they arrive."""
    workers = config.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    # A small job is split so that every actor gets a share, and no more actors start than
    # there are batches (each costs seconds of start-up).
    per_batch = max(1, min(config.files_per_batch, -(-len(paths) // workers)))
    workers = min(workers, -(-len(paths) // per_batch))
    # One block per batch: blocks are what Ray hands to the actors, so one big block would
    # keep all but one actor idle.
    blocks = [pa.table({"path": paths[i : i + per_batch]}) for i in range(0, len(paths), per_batch)]
    dataset = ray.data.from_arrow(blocks).map_batches(
        Scorer,
        fn_constructor_kwargs={
            "model_path": str(config.model.resolve()),
            "limits": config.limits,
            "with_segments": config.segments,
        },
        batch_size=per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
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


def run_job(config: JobConfig, echo: Callable[[str], None] = print) -> JobResult:
    """Score every file of ``config.input`` not yet in ``config.out``; merge; summarise.

    Raises
    ------
    ser_batch.inputs.InputError, ser_inference.ModelLoadError
        Before any work starts: the input cannot be listed or the model cannot be served.
    """
    started = time.monotonic()
    # Checked here, on the driver, so a wrong path fails at once rather than in every actor.
    EmotionClassifier.load(config.model)
    paths = list_inputs(config.input)
    store = ResultStore(config.out)
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
        progress = Progress(len(todo))
        try:
            _score_on_ray(config, todo, store, progress)
        finally:
            progress.close()
            scoring_s = time.monotonic() - progress.started
            if started_ray:
                ray.shutdown()
    results = store.merge()
    wall_s = time.monotonic() - started
    text = summary(results, scored=len(todo), skipped=skipped, wall_s=wall_s, scoring_s=scoring_s)
    echo(text)
    return JobResult(results, len(todo), skipped, wall_s, scoring_s, text)
