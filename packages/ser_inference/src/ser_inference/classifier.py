"""The emotion classifier: ONNX Runtime session + the model's own feature configuration.

Knows nothing about HTTP. :meth:`EmotionClassifier.load` refuses a model it cannot serve
faithfully (missing file, not ONNX, metadata missing or naming a feature configuration this
``ser_features`` cannot reproduce, input/output shapes that disagree with that configuration,
outputs that are not probabilities, a pretrained encoder in the graph that is not the one its
metadata names or not one this service pins). :meth:`EmotionClassifier.predict` turns the bytes of one
recording into per-window probabilities and their mean, through
``ser_features.file_features``: the same call the training pipeline makes. Each answer (the
recording and every voiced window) also carries what people act on: the best label and its
calibrated confidence, the "not sure" flag, arousal and valence (:mod:`ser_inference.affect`,
with the calibration the model's metadata carries), so the HTTP layer and the batch job only
shape them.

``predict`` is three steps that a batch job calls separately, so that the windows of several
recordings go to the model in one ``run``: :meth:`~EmotionClassifier.prepare` (header check,
decode, features), :meth:`~EmotionClassifier.run` (the model) and
:meth:`~EmotionClassifier.assemble` (the recording's answer from its window probabilities).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ser_encoders import ENCODERS, EncoderGraphError, graph_sha256, layer_names
from ser_features import (
    MAX_DECODED_VALUES,
    AudioError,
    AudioInfo,
    AudioSource,
    AudioTooLongError,
    FeatureConfig,
    FeatureExtractor,
    UtteranceFeatures,
    check_decoded_size,
    file_features,
    read_audio_info,
    require_voiced,
    utterance_probabilities,
)
from ser_features.model_metadata import (
    ADAPTED_OUTPUT_NAME,
    INPUT_NAME,
    KEY_PREFIX,
    OUTPUT_NAME,
    PROFILE_MEAN_NAME,
    PROFILE_STD_NAME,
    SPEAKER_FEATURES_NAME,
    AdaptationMetadata,
    ModelMetadata,
)
from ser_features.pipeline import map_in_parts
from ser_inference.affect import Calibration, arousal_valence, uncertain
from ser_inference.profile import SPEAKER, SpeakerStats, Standardisation, standardisation, usability

logger = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = Path("models/ser_model.onnx")  # relative to the working directory
DEFAULT_MAX_DURATION_S = 600.0  # s: ten minutes
DEFAULT_MIN_DURATION_S = 0.25  # s: shorter clips hold too little speech to judge
PROBABILITY_SUM_TOLERANCE = 1e-3  # the model's rows must sum to 1 within this
SIDECAR_SUFFIX = ".json"  # ser_model.onnx → ser_model.json
_WARMUP_BATCH = 2  # windows in the start-up dry run (exercises a batch dimension > 1)
# s: recordings at least this long are split across the classifier's threads (when it has
# more than one). Short clips stay on the calling thread: for them threads cost more than
# they save (issue 13 profile), and under load the other workers have the cores anyway.
PARALLEL_MIN_DURATION_S = 30.0
PARALLEL_MIN_WINDOWS = 16  # model batches at least this large are split likewise
# Windows per ONNX Runtime call. A whole 10-minute recording (399 windows) in one call took a
# Whisper-encoder model's worker to 2.6 GB (its arena keeps the peak) and 20 s; 8 at a time,
# 330 MB and 11.4 s; the hand-crafted CNN 0.38 → 0.34 s and 371 → 255 MB (one thread, 399
# windows; 1-64 measured, 2-8 equal within noise).
WINDOWS_PER_SESSION_RUN = 8


class ModelLoadError(RuntimeError):
    """The model cannot be served; the message is one line that says what to fix."""


class AdaptationUnavailableError(RuntimeError):
    """The model has no speaker-adapted head (its metadata has no 'adaptation' section)."""


class AudioTooShortError(AudioError):
    """The recording is shorter than the configured minimum."""

    reason = "too_short"


@dataclass(frozen=True, slots=True)
class AudioLimits:
    """What a single recording may be; checked from the header before decoding."""

    min_duration_s: float = DEFAULT_MIN_DURATION_S  # s
    max_duration_s: float = DEFAULT_MAX_DURATION_S  # s
    max_decoded_values: int = MAX_DECODED_VALUES  # frames × channels


@dataclass(frozen=True, slots=True)
class Judgement:
    """What one probability distribution means to a person (a recording or a window)."""

    emotion: str  # most probable label
    confidence: float  # its calibrated probability, in [0, 1]
    uncertain: bool  # confidence below the model's "not sure" threshold
    arousal: float  # probability of high-arousal speech, in [0, 1]
    valence: float  # expected valence, in [-1, 1]


def answer_fields(judgement: Judgement | None) -> dict[str, Any]:
    """The judgement as ``{field: value}``; every field None for a window not classified (silent).

    The one spelling of the answer fields that the API's JSON and the batch job's rows share.
    """
    if judgement is None:
        return dict.fromkeys(field.name for field in dataclasses.fields(Judgement))
    return dataclasses.asdict(judgement)


def judge(
    probabilities: np.ndarray, labels: tuple[str, ...], calibration: Calibration
) -> Judgement:
    """The answer for one distribution.

    Parameters
    ----------
    probabilities : np.ndarray, shape (n_labels,), sums to 1 (calibrated)
    labels : the model's labels, in output order
    calibration : the model's threshold and arousal/valence mapping
    """
    best = int(np.argmax(probabilities))
    arousal, valence = arousal_valence(probabilities, labels, calibration)
    return Judgement(
        emotion=labels[best],
        confidence=float(probabilities[best]),
        uncertain=bool(uncertain(probabilities, calibration)),
        arousal=float(arousal),
        valence=float(valence),
    )


@dataclass(frozen=True, slots=True)
class WindowPrediction:
    """One model window of the timeline."""

    start_s: float  # s, position in the uploaded recording
    end_s: float  # s, end of the real (unpadded) audio in the window
    rms_dbfs: float  # dB re full scale
    silent: bool  # below the model's silence threshold: not classified
    probabilities: np.ndarray | None  # shape (n_labels,), float32; None when silent
    judgement: Judgement | None  # None when silent


@dataclass(frozen=True, slots=True)
class PreparedAudio:
    """One recording decoded and featurised, waiting for the model (:meth:`prepare`)."""

    utterance: UtteranceFeatures  # features shape (n_voiced ≥ 1, n_frames, n_features)
    duration_s: float  # s, decoded length
    source_sample_rate: int  # Hz, as stored in the file
    source_channels: int
    source_format: str  # container, e.g. "WAV", "FLAC", "mp3", "matroska,webm"
    features_ms: float  # header + decode + resample + windowing + features, wall-clock ms


@dataclass(frozen=True, slots=True)
class Prediction:
    """The classifier's answer for one recording."""

    labels: tuple[str, ...]
    probabilities: np.ndarray  # shape (n_labels,), float64, sums to 1: mean of the windows
    windows: list[WindowPrediction]  # time order, silent ones included
    duration_s: float  # s, decoded length
    source_sample_rate: int  # Hz, as stored in the file
    source_channels: int
    source_format: str  # container reported by libsndfile or FFmpeg, e.g. "WAV", "mp3"
    features_ms: float  # decode + resample + windowing + features, wall-clock ms
    inference_ms: float  # ONNX Runtime, wall-clock ms
    judgement: Judgement  # of ``probabilities``
    # Speaker adaptation (issue 24): whether the answer above is the adapted head's, why not
    # when a profile was asked for but could not be used, and the plain head's answer beside
    # an adapted one (same windows, for a side-by-side view).
    adapted: bool = False
    adaptation_reason: str | None = None
    plain: Prediction | None = None
    adaptation: str | None = None  # with adapted: "speaker", "domain" or "speaker+domain"

    @property
    def emotion(self) -> str:
        return self.judgement.emotion

    @property
    def confidence(self) -> float:
        return self.judgement.confidence


def read_metadata(session: ort.InferenceSession, model_path: Path) -> ModelMetadata:
    """Metadata from the ONNX ``metadata_props``, else from the JSON sidecar next to it.

    Raises
    ------
    ModelLoadError
    """
    props = dict(session.get_modelmeta().custom_metadata_map)
    sidecar = model_path.with_suffix(SIDECAR_SUFFIX)
    source = f"{model_path} metadata"
    if not any(key.startswith(KEY_PREFIX) for key in props) and sidecar.is_file():
        # A model exported without metadata_props can still be served from its sidecar.
        source = str(sidecar)
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            props = ModelMetadata.properties_from_json_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelLoadError(f"model sidecar {sidecar} is unusable: {error!r}") from error
    try:
        return ModelMetadata.from_properties(props)
    except ValueError as error:  # ModelMetadataError and FeatureConfigError
        raise ModelLoadError(f"{source} cannot be served: {error}") from error


def read_calibration(metadata: ModelMetadata, model_path: Path) -> Calibration:
    """The model's calibration; models exported before calibration get the default mapping
    and no "not sure" threshold (never uncertain).

    Raises
    ------
    ModelLoadError
    """
    if not metadata.calibration:
        return Calibration.default(metadata.labels)
    try:
        return Calibration.from_dict(metadata.calibration, metadata.labels)
    except (ValueError, TypeError, AttributeError) as error:
        # TypeError/AttributeError: a value of the wrong JSON type (a list for a map, …).
        raise ModelLoadError(
            f"{model_path} metadata 'calibration' cannot be served: {error}"
        ) from error


def check_servable_recipe(metadata: ModelMetadata, model_path: Path) -> None:
    """Refuse a model whose inputs this service cannot reproduce from one recording.

    A model trained with per-speaker normalisation (``ser-train --speaker-normalization``)
    expects features scaled by statistics of reference speech of the same speaker; served
    with per-recording features it would answer confidently and wrongly.

    Raises
    ------
    ModelLoadError
    """
    recipe = metadata.training_data.get("recipe", {})
    if isinstance(recipe, dict) and recipe.get("speaker_normalization"):
        raise ModelLoadError(
            f"model {model_path} was trained on per-speaker normalised features "
            "(ser-train --speaker-normalization); this service cannot compute a speaker's "
            "reference statistics yet, so it would answer wrongly: serve a model trained "
            "without that option"
        )


def check_encoder(metadata: ModelMetadata, graph: bytes, model_path: Path) -> None:
    """Refuse a model whose metadata and graph disagree about the pretrained encoder inside.

    A Whisper-front-end model (Model v3) carries the encoder in its graph; its metadata must
    name an encoder this ``ser_encoders`` pins, built from the pinned weights (same sha256 and
    shape), with layers that encoder has, and the encoder weights in ``graph`` must hash to
    the ``graph_sha256`` recorded at export. The weights file itself is not needed here.

    Parameters
    ----------
    graph : the ``.onnx`` file's bytes, the same bytes the session was built from

    Raises
    ------
    ModelLoadError
    """
    front_end = metadata.feature_config.front_end
    encoder = metadata.encoder
    if front_end != "whisper":
        if encoder is not None:
            raise ModelLoadError(
                f"model {model_path} names encoder {encoder.name} but reads front_end "
                f"'{front_end}' features: its metadata contradicts itself"
            )
        return
    if encoder is None:
        raise ModelLoadError(
            f"model {model_path} reads Whisper log-mel features (front_end 'whisper') but its "
            "metadata has no 'encoder' section naming the encoder in its graph; re-export it "
            "with ser-train"
        )
    spec = ENCODERS.get(encoder.name)
    if spec is None:
        raise ModelLoadError(
            f"model {model_path} was built on encoder '{encoder.name}', which this service "
            f"does not know (it pins {sorted(ENCODERS)}); serve it with the ser-encoders "
            "version it was trained with"
        )
    if encoder.sha256 != spec.sha256:
        raise ModelLoadError(
            f"model {model_path} was built on {encoder.name} weights with sha256 "
            f"{encoder.sha256}, but the pinned {encoder.name} weights have {spec.sha256}: "
            "not the encoder this service vouches for"
        )
    shape = (encoder.n_layers, encoder.d_model, encoder.n_heads)
    if shape != (spec.n_layers, spec.d_model, spec.n_heads):
        raise ModelLoadError(
            f"model {model_path} describes {encoder.name} as (layers, d_model, heads) {shape}, "
            f"the pinned spec as {(spec.n_layers, spec.d_model, spec.n_heads)}"
        )
    unknown = [name for name in encoder.layers if name not in layer_names(spec.n_layers)]
    if unknown:
        raise ModelLoadError(
            f"model {model_path} selects layers {unknown} that {encoder.name} does not have "
            f"(it has {list(layer_names(spec.n_layers))})"
        )
    try:
        actual = graph_sha256(graph)
    except EncoderGraphError as error:
        raise ModelLoadError(
            f"model {model_path} names encoder {encoder.name} but its graph shows none: {error}"
        ) from None
    if actual != encoder.graph_sha256:
        raise ModelLoadError(
            f"model {model_path}: the encoder weights in its graph have sha256 {actual}, its "
            f"metadata says {encoder.graph_sha256}: the graph was altered after export or the "
            "metadata belongs to another model"
        )


def _check_signature(session: ort.InferenceSession, metadata: ModelMetadata) -> None:
    """Compare the graph's declared input/output with the feature config and labels."""
    n_frames, n_features = metadata.feature_config.input_shape
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name: node for node in session.get_outputs()}
    if set(inputs) != {INPUT_NAME} or OUTPUT_NAME not in outputs:
        raise ModelLoadError(
            f"model inputs {sorted(inputs)} / outputs {sorted(outputs)} do not match the "
            f"contract: one input '{INPUT_NAME}', an output '{OUTPUT_NAME}'"
        )
    node = inputs[INPUT_NAME]
    if node.type != "tensor(float)":
        raise ModelLoadError(f"model input '{INPUT_NAME}' is {node.type}, expected float32")
    shape = list(node.shape)
    # Symbolic (str) or unknown (None) dimensions are accepted here; the dry run checks them.
    fixed = [dim if isinstance(dim, int) else None for dim in shape]
    if len(shape) != 3 or fixed[1] not in (None, n_frames) or fixed[2] not in (None, n_features):
        raise ModelLoadError(
            f"model input shape {shape} does not match its feature config "
            f"(batch, {n_frames}, {n_features})"
        )
    out_shape = list(outputs[OUTPUT_NAME].shape)
    n_labels = len(metadata.labels)
    if out_shape and isinstance(out_shape[-1], int) and out_shape[-1] != n_labels:
        raise ModelLoadError(f"model output shape {out_shape} does not match its {n_labels} labels")
    if metadata.adaptation is not None:
        _check_adaptation_signature(session, metadata.adaptation)


def _check_adaptation_signature(session: ort.InferenceSession, rule: AdaptationMetadata) -> None:
    """A model whose metadata describes an adapted head must have its outputs and profile
    inputs (overridable initializers, so that plain requests need not feed them)."""
    outputs = {node.name: node for node in session.get_outputs()}
    profile = {node.name: node for node in session.get_overridable_initializers()}
    missing = [name for name in (SPEAKER_FEATURES_NAME, ADAPTED_OUTPUT_NAME) if name not in outputs]
    missing += [name for name in (PROFILE_MEAN_NAME, PROFILE_STD_NAME) if name not in profile]
    if missing:
        raise ModelLoadError(
            f"model metadata describes a speaker-adapted head but the graph lacks {missing}"
        )
    for name in (PROFILE_MEAN_NAME, PROFILE_STD_NAME):
        if list(profile[name].shape)[-1] != rule.n_features:
            raise ModelLoadError(
                f"model profile input '{name}' has shape {profile[name].shape}, its metadata "
                f"says {rule.n_features} speaker features"
            )


class EmotionClassifier:
    """An ONNX emotion model together with the feature extractor it was trained with.

    Thread-safe: ``InferenceSession.run`` and :class:`FeatureExtractor` may be called
    from several threads at once.
    """

    def __init__(
        self, session: ort.InferenceSession, metadata: ModelMetadata, model_path: Path,
        *, long_recording_threads: int = 1,
    ) -> None:  # fmt: skip
        self.session = session
        # Whether the graph has the speaker-features output (issue 24): read once, asked often.
        self._has_speaker_features = SPEAKER_FEATURES_NAME in {
            node.name for node in session.get_outputs()
        }
        self.metadata = metadata
        self.model_path = model_path
        self.extractor = FeatureExtractor(metadata.feature_config)
        self.calibration = read_calibration(metadata, model_path)  # parsed once, here
        # Adapted answers: the same arousal/valence mapping, the adapted head's own threshold.
        self.adapted_calibration = (
            None
            if metadata.adaptation is None
            else dataclasses.replace(
                self.calibration, temperature=metadata.adaptation.temperature,
                uncertain_below=metadata.adaptation.uncertain_below,
            )
        )  # fmt: skip
        if long_recording_threads < 1:
            raise ValueError("long_recording_threads must be ≥ 1")
        self.long_recording_threads = long_recording_threads
        self._pool = (
            ThreadPoolExecutor(long_recording_threads, thread_name_prefix="ser-long")
            if long_recording_threads > 1
            else None
        )

    @classmethod
    def load(
        cls, model_path: Path | str, *, threads: int = 1, long_recording_threads: int = 1
    ) -> EmotionClassifier:
        """Open, verify and warm up the model.

        Parameters
        ----------
        model_path : path to the ``.onnx`` file
        threads : ONNX Runtime intra-op threads (1 = run on the calling thread only)
        long_recording_threads : threads that share the features and the model batch of one
            recording of at least PARALLEL_MIN_DURATION_S (1 = the calling thread only)

        Raises
        ------
        ModelLoadError
            With one line saying what is wrong and where.
        """
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(
                f"model file not found: {path.resolve()} "
                "(train one with 'make train' or point SER_MODEL_PATH at an exported model)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning worker threads would burn the CPU that feature extraction needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: no optimiser chatter in service logs
        try:
            # Read once: the bytes whose encoder weights check_encoder hashes are the bytes
            # the session runs, whatever happens to the file meanwhile.
            graph = path.read_bytes()
        except OSError as error:
            raise ModelLoadError(f"model file {path} cannot be read: {error}") from error
        try:
            session = ort.InferenceSession(
                graph, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ModelLoadError(
                f"model file {path} is not a loadable ONNX model: {reason}"
            ) from error
        metadata = read_metadata(session, path)
        check_servable_recipe(metadata, path)
        check_encoder(metadata, graph, path)
        del graph  # up to tens of MB; the session holds its own copy
        _check_signature(session, metadata)
        classifier = cls(session, metadata, path, long_recording_threads=long_recording_threads)
        classifier._dry_run()
        return classifier

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    @property
    def config(self) -> FeatureConfig:
        return self.metadata.feature_config

    @property
    def model_version(self) -> str:
        return self.metadata.model_version

    @property
    def adaptation(self) -> AdaptationMetadata | None:
        """The speaker-adapted head's description and usable rule; None without one."""
        return self.metadata.adaptation

    def require_adaptation(self) -> AdaptationMetadata:
        """The adaptation metadata, or :class:`AdaptationUnavailableError` saying why not."""
        if self.metadata.adaptation is None:
            raise AdaptationUnavailableError(
                f"model {self.model_version} has no speaker-adapted head; speaker profiles "
                "need a model exported with 'ser-train adapt'"
            )
        return self.metadata.adaptation

    @property
    def calibrated(self) -> bool:
        """Whether the model's metadata carries a fitted calibration (else the defaults)."""
        return bool(self.metadata.calibration)

    def _dry_run(self) -> None:
        """Run a zero batch once: proves the shapes end to end and pays first-call costs."""
        batch = np.zeros((_WARMUP_BATCH, *self.config.input_shape), dtype=np.float32)
        speaker_features = None
        try:
            # A model with the adapted head gives both from one encoder pass.
            if self.adaptation is None:
                output = self.run(batch)
            else:
                output, speaker_features = self.embed(batch)
        except Exception as error:
            raise ModelLoadError(
                f"model {self.model_path} fails on a batch of shape {batch.shape}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else repr(error)}"
            ) from error
        expected = (_WARMUP_BATCH, len(self.labels))
        if output.shape != expected:
            raise ModelLoadError(
                f"model {self.model_path} returns shape {output.shape} for a batch of "
                f"{_WARMUP_BATCH}, expected {expected} (one probability per label)"
            )
        sums = output.sum(axis=1)
        if not np.isfinite(output).all() or np.any(np.abs(sums - 1.0) > PROBABILITY_SUM_TOLERANCE):
            raise ModelLoadError(
                f"model {self.model_path} output '{OUTPUT_NAME}' is not a probability "
                f"distribution (row sums {sums.tolist()}); export it with its softmax"
            )
        expected_features = (_WARMUP_BATCH, self.adaptation.n_features) if self.adaptation else None
        if speaker_features is not None and speaker_features.shape != expected_features:
            raise ModelLoadError(
                f"model {self.model_path} returns speaker features of shape "
                f"{speaker_features.shape}, its metadata says {self.adaptation.n_features}"
            )

    def run(self, features: np.ndarray) -> np.ndarray:
        """Probabilities of a batch of windows in one ``session.run`` call.

        Parameters
        ----------
        features : np.ndarray, shape (n_windows, n_frames, n_features), float32

        Returns
        -------
        np.ndarray, shape (n_windows, n_labels), float32
        """
        parts = self.long_recording_threads
        if self._pool is None or len(features) < max(PARALLEL_MIN_WINDOWS, parts):
            return self._run_in_chunks(features)
        # A session may run on several threads at once; each run uses its calling thread.
        outputs = map_in_parts(
            self._pool, lambda lo, hi: self._run_in_chunks(features[lo:hi]), len(features), parts
        )
        return np.concatenate(outputs)

    def _run_in_chunks(self, features: np.ndarray) -> np.ndarray:
        """``session.run`` on WINDOWS_PER_SESSION_RUN windows at a time, in order:
        (n_windows, n_frames, n_features) → (n_windows, n_labels) float32."""
        (probabilities,) = self._outputs_in_chunks([OUTPUT_NAME], features)
        return probabilities

    def _outputs_in_chunks(
        self, names: list[str], features: np.ndarray, feeds: dict[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, ...]:
        """The graph's ``names`` outputs for WINDOWS_PER_SESSION_RUN windows at a time, in
        order, each concatenated over the chunks as float32; ``feeds`` are further inputs
        given to every chunk (a speaker profile)."""
        step = WINDOWS_PER_SESSION_RUN
        parts = [
            self.session.run(names, {INPUT_NAME: features[lo : lo + step], **(feeds or {})})
            for lo in range(0, max(len(features), 1), step)
        ]
        return tuple(
            np.concatenate([np.asarray(part[i], dtype=np.float32) for part in parts])
            for i in range(len(names))
        )

    def embed(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The plain probabilities and the speaker features of a batch of windows, from one
        encoder pass per chunk.

        Parameters
        ----------
        features : np.ndarray, shape (n_windows, n_frames, n_features), float32

        Returns
        -------
        probabilities : np.ndarray, shape (n_windows, n_labels), float32
        speaker_features : np.ndarray, shape (n_windows, n_speaker_features), float32
        """
        if not self._has_speaker_features:
            raise AdaptationUnavailableError(
                f"model {self.model_version} has no '{SPEAKER_FEATURES_NAME}' output; speaker "
                "profiles need a model exported with 'ser-train adapt'"
            )
        return self._outputs_in_chunks([OUTPUT_NAME, SPEAKER_FEATURES_NAME], features)

    def run_adapted(
        self, features: np.ndarray, stats: SpeakerStats
    ) -> tuple[np.ndarray, np.ndarray]:
        """Plain and speaker-adapted probabilities of a batch of windows, from one encoder
        pass per chunk; the profile ``stats`` standardises the adapted head's input.

        Parameters
        ----------
        features : np.ndarray, shape (n_windows, n_frames, n_features), float32

        Returns
        -------
        plain, adapted : np.ndarray, shape (n_windows, n_labels), float32 each
        """
        rule = self.require_adaptation()
        mean, std = stats.mean_std(rule.std_floor)
        profile = {PROFILE_MEAN_NAME: mean[None, :], PROFILE_STD_NAME: std[None, :]}
        return self._outputs_in_chunks([OUTPUT_NAME, ADAPTED_OUTPUT_NAME], features, profile)

    def empty_profile(self) -> SpeakerStats:
        """The statistics of no windows, of this model's shape: where enrolments add up."""
        return SpeakerStats.empty(self.require_adaptation().n_features, len(self.labels))

    def profile_of(self, prepared: PreparedAudio) -> SpeakerStats:
        """The speaker statistics of one prepared recording's voiced windows (one clip)."""
        probabilities, speaker_features = self.embed(prepared.utterance.features)
        return SpeakerStats.of_windows(speaker_features, probabilities, prepared.duration_s)

    def enrol(self, data: AudioSource, limits: AudioLimits) -> SpeakerStats:
        """The speaker statistics of one enrolment clip (every voiced window of it).

        Raises
        ------
        AudioError : the clip cannot be used (as for :meth:`predict`).
        AdaptationUnavailableError : the model has no adapted head.
        """
        self.require_adaptation()  # before decoding: a model without the head refuses at once
        return self.profile_of(self.prepare(data, limits))

    def unusable_reason(self, stats: SpeakerStats, kind: str = SPEAKER) -> str | None:
        """None when ``stats`` may adapt answers, else why not (the model's usable rule for a
        ``kind`` of profile: "speaker" or "domain")."""
        return usability(stats, self.require_adaptation(), self.labels, kind)

    def require_domains(self) -> AdaptationMetadata:
        """The adaptation metadata of a head trained for domain profiles, or
        :class:`AdaptationUnavailableError` saying why not."""
        rule = self.require_adaptation()
        if not rule.serves_domains:
            raise AdaptationUnavailableError(
                f"model {self.model_version}'s adapted head was not trained for domain profiles; "
                "they need a model exported with 'ser-train adapt' from issue 30 on"
            )
        return rule

    def standardisation(
        self, speaker: SpeakerStats | None, domain: SpeakerStats | None = None
    ) -> Standardisation:
        """Which statistics answers adapted to these profiles use (the model's rule)."""
        return standardisation(speaker, domain, self.require_adaptation(), self.labels)

    def predict_adapted(
        self, prepared: PreparedAudio, stats: SpeakerStats | None,
        domain: SpeakerStats | None = None, *, own_voice: bool | None = None,
    ) -> Prediction:  # fmt: skip
        """The answer for a prepared recording adapted to the speaker profile ``stats``
        (None: to the recording itself, ``adapt=self``, unless ``own_voice`` is False) and/or
        the domain profile ``domain``.

        Profiles the rule refuses are left out (:func:`ser_inference.profile.standardisation`);
        with none left the answer is the plain one with ``adapted`` False and the reason; else
        the adapted answer with ``adaptation`` naming the statistics used and the plain answer
        beside it (``plain``).
        """
        started = time.perf_counter()
        features = prepared.utterance.features
        window_probabilities = None  # the plain answer, once computed
        own_voice = stats is None if own_voice is None else own_voice
        if own_voice:
            window_probabilities, speaker_features = self.embed(features)
            stats = SpeakerStats.of_windows(
                speaker_features, window_probabilities, prepared.duration_s
            )
        chosen = self.standardisation(stats, domain)
        if chosen.stats is None:
            if window_probabilities is None:
                window_probabilities = self.run(features)
            inference_ms = (time.perf_counter() - started) * 1e3
            plain = self.assemble(prepared, window_probabilities, inference_ms)
            return dataclasses.replace(plain, adaptation_reason=chosen.reason)
        plain_windows, adapted_windows = self.run_adapted(features, chosen.stats)
        inference_ms = (time.perf_counter() - started) * 1e3
        plain = self.assemble(prepared, plain_windows, inference_ms)
        adapted = self.assemble(
            prepared, adapted_windows, inference_ms, calibration=self.adapted_calibration
        )
        return dataclasses.replace(
            adapted, adapted=True, plain=plain, adaptation=chosen.used,
            adaptation_reason=chosen.reason,
        )  # fmt: skip

    def check_header(self, data: AudioSource, limits: AudioLimits) -> AudioInfo:
        """Refuse too short / too long / too large recordings from the header alone.

        Returns
        -------
        AudioInfo
            The header, for a recording within the limits.

        Raises
        ------
        AudioError
            EmptyAudioError, UndecodableAudioError, AudioTooShortError, AudioTooLongError.
        """
        info = read_audio_info(data, max_decoded_values=limits.max_decoded_values)
        duration = info.duration_s
        if duration > limits.max_duration_s:
            raise AudioTooLongError(
                f"the recording is {duration:.1f} s long; the limit is "
                f"{limits.max_duration_s:g} s — cut it into shorter parts"
            )
        check_decoded_size(info, limits.max_decoded_values)
        if duration < limits.min_duration_s:
            raise AudioTooShortError(
                f"the recording is {duration:.3f} s long; at least "
                f"{limits.min_duration_s:g} s of audio is needed"
            )
        return info

    def prepare(self, data: AudioSource, limits: AudioLimits) -> PreparedAudio:
        """Check the header, decode and compute the features of one recording.

        Parameters
        ----------
        data : the file's bytes, or its path (any format ``ser_features.load_audio`` reads)
        limits : duration and size limits, checked before decoding

        Raises
        ------
        AudioError
            The recording cannot be classified; the message is for the uploader and
            ``error.reason`` a short code.
        """
        started = time.perf_counter()
        info = self.check_header(data, limits)
        long = self._pool is not None and info.duration_s >= PARALLEL_MIN_DURATION_S
        audio, utterance = file_features(
            data, self.extractor, max_decoded_values=limits.max_decoded_values,
            executor=self._pool if long else None, parts=self.long_recording_threads,
        )  # fmt: skip
        if audio.duration_s < limits.min_duration_s:
            # The header can overstate what is really there (a truncated file).
            raise AudioTooShortError(
                f"the recording decodes to {audio.duration_s:.3f} s; at least "
                f"{limits.min_duration_s:g} s of audio is needed"
            )
        require_voiced(len(utterance.voiced), self.config.silence_dbfs)
        return PreparedAudio(
            utterance=utterance,
            duration_s=audio.duration_s,
            source_sample_rate=audio.source_sample_rate,
            source_channels=audio.source_channels,
            source_format=info.format,
            features_ms=(time.perf_counter() - started) * 1e3,
        )

    def assemble(
        self, prepared: PreparedAudio, window_probabilities: np.ndarray, inference_ms: float,
        calibration: Calibration | None = None,
    ) -> Prediction:  # fmt: skip
        """The recording's answer from the model's output for its voiced windows.

        Parameters
        ----------
        prepared : what :meth:`prepare` returned
        window_probabilities : np.ndarray, shape (n_voiced, n_labels), float32
            :meth:`run` on ``prepared.utterance.features`` (alone or within a larger batch)
        inference_ms : wall-clock ms of the model for this recording
        calibration : how the probabilities become answers (default: the plain head's)
        """
        calibration = calibration or self.calibration
        utterance = prepared.utterance
        by_window = dict(zip(utterance.voiced, window_probabilities, strict=True))
        windows = [
            WindowPrediction(
                start_s=w.start_s,
                end_s=w.end_s,
                rms_dbfs=w.rms_dbfs,
                silent=w.silent,
                probabilities=by_window.get(index),
                judgement=None
                if index not in by_window
                else judge(by_window[index], self.labels, calibration),
            )
            for index, w in enumerate(utterance.windows)
        ]
        probabilities = utterance_probabilities(window_probabilities)[0]
        return Prediction(
            labels=self.labels,
            probabilities=probabilities,
            judgement=judge(probabilities, self.labels, calibration),
            windows=windows,
            duration_s=prepared.duration_s,
            source_sample_rate=prepared.source_sample_rate,
            source_channels=prepared.source_channels,
            source_format=prepared.source_format,
            features_ms=prepared.features_ms,
            inference_ms=inference_ms,
        )

    def predict(self, data: AudioSource, limits: AudioLimits) -> Prediction:
        """Classify one recording: :meth:`prepare`, :meth:`run`, :meth:`assemble`.

        Parameters
        ----------
        data : the uploaded file's bytes, or a path (WAV, FLAC, OGG, AIFF, MP3, M4A, WebM, …)
        limits : duration and size limits, checked before decoding

        Returns
        -------
        Prediction
            Mean over the non-silent windows (ser_features.utterance_probabilities, the
            rule training scores with).

        Raises
        ------
        AudioError
            The recording cannot be classified; the message is for the uploader.
        """
        prepared = self.prepare(data, limits)
        started = time.perf_counter()
        window_probabilities = self.run(prepared.utterance.features)
        inference_ms = (time.perf_counter() - started) * 1e3
        return self.assemble(prepared, window_probabilities, inference_ms)

    def describe(self) -> dict[str, Any]:
        """Runtime facts for the /model endpoint and logs."""
        return {
            "path": str(self.model_path),
            "providers": self.session.get_providers(),
            "input_shape": [None, *self.config.input_shape],
            "long_recording_threads": self.long_recording_threads,
            "speaker_adaptation": self.adaptation is not None,
        }
