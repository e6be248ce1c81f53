"""``/speakers``: enrol a speaker's clips into a profile, read its summary, add clips, delete it.

Thin, like the other routes: the statistics are the classifier's (``enrol``), their storage
:mod:`ser_api.speakers_store`, the lookups and refusals :mod:`ser_api.speaker_profiles`. A
profile belongs to the API key that created it; no audio is ever kept, only the statistics
``/predict?speaker=ID`` and ``WS /stream?speaker=ID`` adapt answers with.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, UploadFile, status
from fastapi.responses import Response

from ser_api.auth import KEY_RESPONSES, require_api_key
from ser_api.deps import (
    AdmissionDep,
    ClassifierDep,
    MetricsDep,
    OwnerDep,
    SettingsDep,
    StoreDep,
)
from ser_api.speaker_profiles import (
    add_to_profile,
    check_file_count,
    create_profile,
    enrol_uploads,
    find_profile,
    in_thread,
    not_found,
    require_store,
    speaker_response,
    too_many_clips,
    too_many_speakers,
)
from ser_api.uploads import ERROR_RESPONSES, audio_limits
from ser_contract import ErrorResponse, SpeakerResponse

speakers_router = APIRouter(
    prefix="/speakers", tags=["speakers"], dependencies=[Depends(require_api_key)],
    responses=KEY_RESPONSES,
)  # fmt: skip


def _errors(**texts: str) -> dict[int | str, dict[str, Any]]:
    return {int(code[1:]): {"model": ErrorResponse, "description": t} for code, t in texts.items()}


_NO_HEAD = "The model has no speaker-adapted head (every /speakers route)"
_NOT_FOUND = "No profile by this id for this API key (another key's profiles are not shown)."
_OTHER_MODEL = "the profile was made by another model than the one served"
_ENROL_ERRORS = {
    **ERROR_RESPONSES,
    **_errors(
        _400="Form field 'files' missing or not files.",
        _413="Request body over SER_MAX_UPLOAD_BYTES, or more files than SER_MAX_ENROL_FILES.",
        _415="Not multipart/form-data, or a file declared as a non-audio type (named).",
        _422="A clip is empty, undecodable, too short, too long, silent or NaN (named): "
        "nothing is stored.",
    ),
}
SpeakerId = Annotated[str, Path(description="The id POST /speakers returned.")]
Clips = Annotated[
    list[UploadFile],
    File(
        description="One or more clips of the speaker's voice (repeat the field), any format "
        "/predict reads; every clip must be usable or nothing is stored."
    ),
]


@speakers_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SpeakerResponse,
    responses={
        **_ENROL_ERRORS,
        **_errors(
            _409=f"{_NO_HEAD}, or this key already has SER_MAX_SPEAKERS_PER_KEY profiles, or "
            "more clips than SER_MAX_CLIPS_PER_SPEAKER."
        ),
    },
    summary="Create a speaker profile from clips of their voice (statistics only, no audio)",
)
async def create_speaker(
    files: Clips,
    response: Response,
    classifier: ClassifierDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    admission: AdmissionDep,
    store: StoreDep,
    owner: OwnerDep,
) -> SpeakerResponse:
    profiles = require_store(classifier, store)
    check_file_count(len(files), settings.max_enrol_files)
    if len(files) > settings.max_clips_per_speaker:
        raise too_many_clips(0, len(files), settings.max_clips_per_speaker, None)
    # Refused before any clip is computed; the store checks again as it writes (a race).
    if await in_thread(profiles.count, owner) >= settings.max_speakers_per_key:
        raise too_many_speakers(settings.max_speakers_per_key)
    async with admission.slot() as deadline:
        stats = await enrol_uploads(files, classifier, audio_limits(settings), admission, deadline)
    record = await create_profile(profiles, owner, stats, classifier, settings.max_speakers_per_key)
    metrics.speaker_profiles.labels("created").inc()
    response.headers["Location"] = f"/speakers/{record.speaker_id}"
    return speaker_response(record, classifier)


@speakers_router.get(
    "/{speaker_id}",
    response_model=SpeakerResponse,
    responses=_errors(_404=_NOT_FOUND, _409=f"{_NO_HEAD}, or {_OTHER_MODEL}."),
    summary="A speaker profile's summary: clips, seconds, windows, whether it is usable",
)
async def get_speaker(
    speaker_id: SpeakerId, classifier: ClassifierDep, store: StoreDep, owner: OwnerDep
) -> SpeakerResponse:
    record = await find_profile(require_store(classifier, store), owner, speaker_id, classifier)
    return speaker_response(record, classifier)


@speakers_router.post(
    "/{speaker_id}/clips",
    response_model=SpeakerResponse,
    responses={
        **_ENROL_ERRORS,
        **_errors(
            _404=_NOT_FOUND,
            _409=f"{_NO_HEAD}, or {_OTHER_MODEL}, or the profile would pass "
            "SER_MAX_CLIPS_PER_SPEAKER.",
        ),
    },
    summary="Add clips to a speaker profile (its statistics merged; all clips or none)",
)
async def add_clips(
    speaker_id: SpeakerId,
    files: Clips,
    classifier: ClassifierDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    admission: AdmissionDep,
    store: StoreDep,
    owner: OwnerDep,
) -> SpeakerResponse:
    profiles = require_store(classifier, store)
    check_file_count(len(files), settings.max_enrol_files)
    record = await find_profile(profiles, owner, speaker_id, classifier)
    limit = settings.max_clips_per_speaker
    if record.stats.clips + len(files) > limit:
        raise too_many_clips(record.stats.clips, len(files), limit, speaker_id)
    async with admission.slot() as deadline:
        stats = await enrol_uploads(files, classifier, audio_limits(settings), admission, deadline)
    record = await add_to_profile(profiles, owner, speaker_id, stats, classifier, limit)
    metrics.speaker_profiles.labels("clips_added").inc()
    return speaker_response(record, classifier)


@speakers_router.delete(
    "/{speaker_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_errors(_404=_NOT_FOUND, _409=f"{_NO_HEAD}."),
    summary="Delete a speaker profile (its statistics are erased)",
)
async def delete_speaker(
    speaker_id: SpeakerId, classifier: ClassifierDep, metrics: MetricsDep, store: StoreDep,
    owner: OwnerDep,
) -> Response:  # fmt: skip
    profiles = require_store(classifier, store)
    if not await in_thread(profiles.delete, owner, speaker_id):
        raise not_found(speaker_id)
    metrics.speaker_profiles.labels("deleted").inc()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
