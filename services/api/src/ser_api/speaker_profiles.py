"""Profiles as the HTTP routes and the live stream use them: find a caller's profile, enrol
uploaded clips through the compute slots, and say every refusal as a clear ``ApiError``. Speaker
profiles (one voice, ``/speakers``) and domain profiles (one place, ``/domains``, issue 30) are
the same statistics and follow the same conventions; a :class:`ProfileKind` names which.

The profiles themselves are :mod:`ser_api.speakers_store` (SQLite, blocking: called here in a
worker thread, never on the event loop); the statistics and the usable rule are the
classifier's (``ser_inference``). Conventions, the same on every route:

- a model without a speaker-adapted head: 409 for everything about profiles (no store is
  opened for it), before any id is looked up; for domains also a head not trained for them;
- an id the caller does not own, whether it exists for another key or not at all: 404 (the
  answer must not tell one key which ids another has);
- a profile made by another model than the one served: 409 (its statistics do not apply);
- a cap (profiles per key, clips per profile): 409, saying which setting and what to do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from anyio import to_thread
from fastapi import UploadFile, status

from ser_api.admission import Admission
from ser_api.errors import AUDIO_ERROR_STATUS, ApiError
from ser_api.speakers_store import (
    ModelIdentity,
    ModelMismatchError,
    SpeakerNotFoundError,
    SpeakerRecord,
    SpeakerStore,
    TooManyClipsError,
    TooManySpeakersError,
)
from ser_api.uploads import check_media_type
from ser_contract import DomainResponse, SpeakerResponse
from ser_features import AudioError, max_windows
from ser_inference import (
    DOMAIN,
    SPEAKER,
    AdaptationUnavailableError,
    AudioLimits,
    EmotionClassifier,
    Prediction,
    SpeakerStats,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProfileKind:
    """What differs between speaker and domain profiles: names, routes, settings, rule."""

    noun: str  # "speaker" or "domain": the query parameter and the usable rule's kind
    route: str  # "/speakers"
    max_profiles_setting: str  # the environment variable of the per-key cap
    max_clips_setting: str

    @property
    def plural(self) -> str:
        return self.route.lstrip("/")


SPEAKERS = ProfileKind(
    SPEAKER, "/speakers", "SER_MAX_SPEAKERS_PER_KEY", "SER_MAX_CLIPS_PER_SPEAKER"
)
DOMAINS = ProfileKind(DOMAIN, "/domains", "SER_MAX_DOMAINS_PER_KEY", "SER_MAX_CLIPS_PER_DOMAIN")

# What secrets.token_urlsafe gives (with room to spare): anything else cannot be an id, and is
# answered 404 without a look-up.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

SELF = "self"  # /predict?adapt=self: adapt to the recording's own windows
NOT_FOUND = "speaker_not_found"  # metric reasons
NO_ADAPTATION = "no_adaptation"
OTHER_MODEL = "profile_other_model"
TOO_MANY_SPEAKERS = "too_many_speakers"
TOO_MANY_CLIPS = "too_many_clips"


async def in_thread(func: Callable[..., T], *args: object) -> T:
    """``func(*args)`` in a worker thread: the store blocks (SQLite, another worker's write)."""
    return await to_thread.run_sync(func, *args)


def require_store(
    classifier: EmotionClassifier, store: SpeakerStore | None, kind: ProfileKind = SPEAKERS
) -> SpeakerStore:
    """The profile store, or 409 when the served model has no adapted head (for domain
    profiles: none trained for them)."""
    try:
        classifier.require_adaptation() if kind is SPEAKERS else classifier.require_domains()
    except AdaptationUnavailableError as error:
        raise ApiError(status.HTTP_409_CONFLICT, str(error), reason=NO_ADAPTATION) from None
    if store is None:  # opened at start-up for every model with the head (ser_api.main)
        raise RuntimeError(f"the {kind.noun} profile store was not opened")
    return store


def model_identity(classifier: EmotionClassifier) -> ModelIdentity:
    """The served model as a profile records it; the model must have an adapted head."""
    adaptation = classifier.require_adaptation()
    return ModelIdentity(classifier.model_version, adaptation.n_features, len(classifier.labels))


def not_found(profile_id: str, kind: ProfileKind = SPEAKERS) -> ApiError:
    shown = f"'{profile_id}'" if _ID.fullmatch(profile_id) else "with that id"
    return ApiError(
        status.HTTP_404_NOT_FOUND,
        f"no {kind.noun} profile {shown} for this API key; create one with POST {kind.route}",
        reason=f"{kind.noun}_not_found",
    )


def other_model(
    profile_id: str, stored: ModelIdentity, served: ModelIdentity, kind: ProfileKind = SPEAKERS
) -> ApiError:
    again = "enrol the speaker again" if kind is SPEAKERS else "enrol the recordings again"
    return ApiError(
        status.HTTP_409_CONFLICT,
        f"{kind.noun} profile '{profile_id}' was made by model {stored.model_version} "
        f"({stored.n_features} speaker features); this service runs model "
        f"{served.model_version} ({served.n_features}), whose answers its statistics do not "
        f"fit: delete it and {again}",
        reason=OTHER_MODEL,
    )


async def find_profile(
    store: SpeakerStore, owner: str, profile_id: str, classifier: EmotionClassifier,
    kind: ProfileKind = SPEAKERS,
) -> SpeakerRecord:  # fmt: skip
    """The caller's profile ``profile_id``, made by the served model; else 404 or 409."""
    if not _ID.fullmatch(profile_id):
        raise not_found(profile_id, kind)
    record = await in_thread(store.get, owner, profile_id)
    if record is None:
        raise not_found(profile_id, kind)
    served = model_identity(classifier)
    if record.model != served:
        raise other_model(profile_id, record.model, served, kind)
    return record


def check_file_count(count: int, max_files: int, kind: ProfileKind = SPEAKERS) -> None:
    """413 for more clips in one request than ``SER_MAX_ENROL_FILES``."""
    if count > max_files:
        raise ApiError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{count} files in one enrolment; the limit is {max_files} (SER_MAX_ENROL_FILES): "
            f"send the rest with POST {kind.route}/{{id}}/clips",
            reason="too_many_files",
        )


def too_many_clips(
    held: int, adding: int, limit: int, profile_id: str | None, kind: ProfileKind = SPEAKERS
) -> ApiError:
    which = f"a new {kind.noun} profile" if profile_id is None else (
        f"{kind.noun} profile '{profile_id}'"
    )  # fmt: skip
    return ApiError(
        status.HTTP_409_CONFLICT,
        f"{which} would hold {held + adding} clips ({held} + {adding}); the limit is {limit} "
        f"({kind.max_clips_setting})",
        reason=TOO_MANY_CLIPS,
    )


def too_many_speakers(limit: int, kind: ProfileKind = SPEAKERS) -> ApiError:
    return ApiError(
        status.HTTP_409_CONFLICT,
        f"this API key already has {limit} {kind.noun} profiles, the most allowed "
        f"({kind.max_profiles_setting}); delete one with DELETE {kind.route}/{{id}} first",
        reason=TOO_MANY_SPEAKERS if kind is SPEAKERS else "too_many_domains",
    )


async def enrol_uploads(
    uploads: Sequence[UploadFile],
    classifier: EmotionClassifier,
    limits: AudioLimits,
    admission: Admission,
    deadline: float,
) -> SpeakerStats:
    """The statistics of every clip together: all clips, or one error naming every bad one.

    Every declared media type is checked before any clip is decoded. Then the clips go one
    after another through the compute slots, each like one ``/predict`` upload (``deadline``
    for the first, a fresh queue wait for each next one): an enrolment of many clips never
    holds more than one slot, so it does not crowd out the uploads beside it. A clip that
    cannot be used does not stop the others from being checked, so the person learns every
    file to replace at once; nothing is stored unless all are good.

    Raises
    ------
    ApiError : 415 (media type) or 422 (a clip cannot be used), naming each bad file and why;
        status and reason are the first bad file's.
    ServiceBusyError : a clip waited too long for its slot, or the worker is too busy for its
        windows (admission by work).
    """
    n = len(uploads)
    bad: list[tuple[int, int, str, str]] = []  # (file number, status, reason, what is wrong)
    for index, upload in enumerate(uploads, start=1):
        try:
            check_media_type(upload)
        except ApiError as error:
            bad.append(
                (index, error.status_code, error.reason, f"file {index} of {n}: {error.detail}")
            )
    refused = {index for index, *_ in bad}
    stats = classifier.empty_profile()
    for index, upload in enumerate(uploads, start=1):
        if index in refused:
            continue
        data = await upload.read()  # one clip in memory at a time
        try:
            # Weighed by its windows like an upload (admission by work), clip by clip.
            info = await to_thread.run_sync(classifier.check_header, data, limits)
            async with admission.work_for(max_windows(info.duration_s, classifier.config)):
                clip = await admission.run(deadline, classifier.enrol, data, limits)
        except AudioError as error:
            problem = f"file {index} of {n} ('{upload.filename}') cannot be enrolled: {error}"
            bad.append((index, AUDIO_ERROR_STATUS, error.reason, problem))
            continue
        finally:
            deadline = time.monotonic() + admission.max_wait_s
        stats = stats.merged(clip)
    if bad:
        bad.sort()
        parts = [problem for *_, problem in bad]
        detail = (
            f"{parts[0]}; nothing was stored"
            if len(bad) == 1
            else f"{len(bad)} of {n} files cannot be enrolled, so nothing was stored: "
            + "; ".join(parts)
        )
        _, code, reason, _ = bad[0]
        raise ApiError(code, detail, reason)
    return stats


async def create_profile(
    store: SpeakerStore, owner: str, stats: SpeakerStats, classifier: EmotionClassifier,
    max_profiles: int, kind: ProfileKind = SPEAKERS,
) -> SpeakerRecord:  # fmt: skip
    try:
        return await in_thread(store.create, owner, stats, model_identity(classifier), max_profiles)
    except TooManySpeakersError as error:
        raise too_many_speakers(error.limit, kind) from None


async def add_to_profile(
    store: SpeakerStore, owner: str, profile_id: str, stats: SpeakerStats,
    classifier: EmotionClassifier, max_clips: int, kind: ProfileKind = SPEAKERS,
) -> SpeakerRecord:  # fmt: skip
    served = model_identity(classifier)
    try:
        return await in_thread(store.add, owner, profile_id, stats, served, max_clips)
    except SpeakerNotFoundError:
        raise not_found(profile_id, kind) from None  # deleted while its clips were computed
    except ModelMismatchError as error:
        raise other_model(profile_id, error.stored, served, kind) from None
    except TooManyClipsError as error:
        raise too_many_clips(error.held, error.adding, error.limit, profile_id, kind) from None


def profile_summary(
    record: SpeakerRecord, classifier: EmotionClassifier, kind: ProfileKind = SPEAKERS
) -> dict:
    """The profile's summary fields (never its statistics): what it holds, whether usable."""
    stats = record.stats
    reason = classifier.unusable_reason(stats, kind.noun)
    return {
        kind.noun: record.speaker_id,
        "clips": stats.clips,
        "seconds": round(stats.seconds, 3),
        "windows": stats.n_windows,
        "usable": reason is None,
        "reason": reason,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def speaker_response(record: SpeakerRecord, classifier: EmotionClassifier) -> SpeakerResponse:
    return SpeakerResponse(**profile_summary(record, classifier, SPEAKERS))


def domain_response(record: SpeakerRecord, classifier: EmotionClassifier) -> DomainResponse:
    return DomainResponse(**profile_summary(record, classifier, DOMAINS))


@dataclass(frozen=True, slots=True)
class Adaptation:
    """What a /predict request asked to adapt to: a stored speaker profile or the recording
    itself, and/or a stored domain profile; or nothing."""

    speaker: str | None  # the speaker profile's id, SELF, or None
    stats: SpeakerStats | None  # the speaker profile's statistics; None for SELF and none
    domain: str | None = None  # the domain profile's id, or None
    domain_stats: SpeakerStats | None = None

    @property
    def plain(self) -> bool:
        return self.speaker is None and self.domain is None

    @property
    def asked(self) -> str:
        """Metric label: plain, speaker, self, domain, speaker+domain or self+domain."""
        voice = None if self.speaker is None else SELF if self.speaker == SELF else "speaker"
        parts = [part for part in (voice, "domain" if self.domain else None) if part]
        return "+".join(parts) or "plain"

    def predict(
        self, classifier: EmotionClassifier, data: bytes, limits: AudioLimits
    ) -> Prediction:
        """The answer; runs in a worker thread, in a compute slot."""
        if self.plain:
            return classifier.predict(data, limits)
        return classifier.predict_adapted(
            classifier.prepare(data, limits), self.stats, self.domain_stats,
            own_voice=self.speaker == SELF,
        )  # fmt: skip


PLAIN = Adaptation(None, None)


async def adaptation_asked(
    speaker: str | None, adapt: str | None, classifier: EmotionClassifier,
    store: SpeakerStore | None, owner: str, domain: str | None = None,
    domains: SpeakerStore | None = None,
) -> Adaptation:  # fmt: skip
    """The query's ``speaker``/``adapt``/``domain`` as an :class:`Adaptation`; 400, 404 or 409
    when it cannot be served (before the upload takes a queue place)."""
    if speaker is not None and adapt is not None:
        raise ApiError(
            status.HTTP_400_BAD_REQUEST,
            "ask for either ?speaker=ID (a stored profile) or ?adapt=self (the recording "
            "itself), not both",
            reason="bad_request",
        )
    domain_stats = None
    if domain is not None:
        stored = require_store(classifier, domains, DOMAINS)
        domain_stats = (await find_profile(stored, owner, domain, classifier, DOMAINS)).stats
    if adapt is not None:
        if adapt != SELF:
            raise ApiError(
                status.HTTP_400_BAD_REQUEST,
                f"?adapt takes only '{SELF}' (adapt to the recording's own voice); for a "
                "stored profile use ?speaker=ID",
                reason="bad_request",
            )
        require_store(classifier, store)  # 409 without an adapted head
        return Adaptation(SELF, None, domain, domain_stats)
    if speaker is None:
        return PLAIN if domain is None else Adaptation(None, None, domain, domain_stats)
    record = await find_profile(require_store(classifier, store), owner, speaker, classifier)
    return Adaptation(speaker, record.stats, domain, domain_stats)
