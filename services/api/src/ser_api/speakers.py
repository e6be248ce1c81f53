"""``/speakers`` and ``/domains``: enrol clips into a profile, list a key's profiles, read one's
summary, add clips, delete it.

A speaker profile is one voice; a domain profile one place (a sample of a deployment's own
recordings: microphone, room, language; issue 30). Both hold the same statistics, so one set of
routes serves both kinds (:func:`profile_router`). Thin, like the other routes: the statistics
are the classifier's (``enrol``), their storage :mod:`ser_api.speakers_store`, the lookups and
refusals :mod:`ser_api.speaker_profiles`. A profile belongs to the API key that created it; no
audio is ever kept, only the statistics ``/predict?speaker=ID&domain=ID`` and
``WS /stream?speaker=ID&domain=ID`` adapt answers with.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, UploadFile, status
from fastapi.responses import Response

from ser_api.auth import KEY_RESPONSES, require_api_key
from ser_api.config import Settings
from ser_api.deps import (
    AdmissionDep,
    ClassifierDep,
    DomainStoreDep,
    MetricsDep,
    OwnerDep,
    SettingsDep,
    StoreDep,
)
from ser_api.speaker_profiles import (
    DOMAINS,
    SPEAKERS,
    ProfileKind,
    add_to_profile,
    check_file_count,
    create_profile,
    domain_response,
    enrol_uploads,
    find_profile,
    in_thread,
    not_found,
    require_store,
    speaker_response,
    too_many_clips,
    too_many_speakers,
)
from ser_api.speakers_store import SpeakerRecord, SpeakerStore
from ser_api.uploads import ERROR_RESPONSES, audio_limits
from ser_contract import DomainList, DomainResponse, ErrorResponse, SpeakerList, SpeakerResponse
from ser_inference import EmotionClassifier


def _errors(**texts: str) -> dict[int | str, dict[str, Any]]:
    return {int(code[1:]): {"model": ErrorResponse, "description": t} for code, t in texts.items()}


_NO_HEAD = "The model has no speaker-adapted head (every route of this kind)"
_NO_DOMAIN_HEAD = f"{_NO_HEAD}, or its head was not trained for domain profiles"
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
ProfileId = Annotated[str, Path(description="The id POST returned.")]


def profile_router(
    kind: ProfileKind,
    store_dep: Any,
    response_model: type,
    list_model: type,
    to_response: Callable[[SpeakerRecord, EmotionClassifier], Any],
    caps: Callable[[Settings], tuple[int, int]],
    what: str,
) -> APIRouter:
    """The five routes of one kind of profile under ``kind.route``.

    ``store_dep``: the dependency giving that kind's store; ``caps``: (profiles per key,
    clips per profile) from the settings; ``what``: the clips, in words, for the docs.
    """
    noun, route = kind.noun, kind.route

    def action(name: str) -> str:  # metric label: speakers' as before issue 30, domain_*
        return name if kind is SPEAKERS else f"domain_{name}"

    no_head = _NO_HEAD if kind is SPEAKERS else _NO_DOMAIN_HEAD
    router = APIRouter(
        prefix=route, tags=[kind.plural], dependencies=[Depends(require_api_key)],
        responses=KEY_RESPONSES,
    )  # fmt: skip
    Clips = Annotated[
        list[UploadFile],
        File(
            description=f"One or more {what} (repeat the field), any format /predict reads; "
            "every clip must be usable or nothing is stored."
        ),
    ]
    Store = Annotated[SpeakerStore | None, store_dep]

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=response_model,
        responses={
            **_ENROL_ERRORS,
            **_errors(
                _409=f"{no_head}, or this key already has {kind.max_profiles_setting} profiles, "
                f"or more clips than {kind.max_clips_setting}."
            ),
        },
        summary=f"Create a {noun} profile from {what} (statistics only, no audio)",
        name=f"create_{noun}",
    )
    async def create(
        files: Clips,
        response: Response,
        classifier: ClassifierDep,
        settings: SettingsDep,
        metrics: MetricsDep,
        admission: AdmissionDep,
        store: Store,
        owner: OwnerDep,
    ) -> Any:
        profiles = require_store(classifier, store, kind)
        max_profiles, max_clips = caps(settings)
        check_file_count(len(files), settings.max_enrol_files, kind)
        if len(files) > max_clips:
            raise too_many_clips(0, len(files), max_clips, None, kind)
        # Refused before any clip is computed; the store checks again as it writes (a race).
        if await in_thread(profiles.count, owner) >= max_profiles:
            raise too_many_speakers(max_profiles, kind)
        async with admission.slot() as deadline:
            stats = await enrol_uploads(
                files, classifier, audio_limits(settings), admission, deadline
            )
        record = await create_profile(profiles, owner, stats, classifier, max_profiles, kind)
        metrics.speaker_profiles.labels(action("created")).inc()
        response.headers["Location"] = f"{route}/{record.speaker_id}"
        return to_response(record, classifier)

    @router.get(
        "",
        response_model=list_model,
        responses=_errors(_409=f"{no_head}."),
        summary=f"This API key's {noun} profiles, oldest first (summaries, never statistics)",
        name=f"list_{kind.plural}",
    )
    async def list_profiles(classifier: ClassifierDep, store: Store, owner: OwnerDep) -> Any:
        records = await in_thread(require_store(classifier, store, kind).list, owner)
        return list_model(**{kind.plural: [to_response(r, classifier) for r in records]})

    @router.get(
        "/{profile_id}",
        response_model=response_model,
        responses=_errors(_404=_NOT_FOUND, _409=f"{no_head}, or {_OTHER_MODEL}."),
        summary=f"A {noun} profile's summary: clips, seconds, windows, whether it is usable",
        name=f"get_{noun}",
    )
    async def get_profile(
        profile_id: ProfileId, classifier: ClassifierDep, store: Store, owner: OwnerDep
    ) -> Any:
        profiles = require_store(classifier, store, kind)
        return to_response(
            await find_profile(profiles, owner, profile_id, classifier, kind), classifier
        )

    @router.post(
        "/{profile_id}/clips",
        response_model=response_model,
        responses={
            **_ENROL_ERRORS,
            **_errors(
                _404=_NOT_FOUND,
                _409=f"{no_head}, or {_OTHER_MODEL}, or the profile would pass "
                f"{kind.max_clips_setting}.",
            ),
        },
        summary=f"Add clips to a {noun} profile (its statistics merged; all clips or none)",
        name=f"add_{noun}_clips",
    )
    async def add_clips(
        profile_id: ProfileId,
        files: Clips,
        classifier: ClassifierDep,
        settings: SettingsDep,
        metrics: MetricsDep,
        admission: AdmissionDep,
        store: Store,
        owner: OwnerDep,
    ) -> Any:
        profiles = require_store(classifier, store, kind)
        check_file_count(len(files), settings.max_enrol_files, kind)
        record = await find_profile(profiles, owner, profile_id, classifier, kind)
        _, limit = caps(settings)
        if record.stats.clips + len(files) > limit:
            raise too_many_clips(record.stats.clips, len(files), limit, profile_id, kind)
        async with admission.slot() as deadline:
            stats = await enrol_uploads(
                files, classifier, audio_limits(settings), admission, deadline
            )
        record = await add_to_profile(profiles, owner, profile_id, stats, classifier, limit, kind)
        metrics.speaker_profiles.labels(action("clips_added")).inc()
        return to_response(record, classifier)

    @router.delete(
        "/{profile_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=_errors(_404=_NOT_FOUND, _409=f"{no_head}."),
        summary=f"Delete a {noun} profile (its statistics are erased)",
        name=f"delete_{noun}",
    )
    async def delete_profile(
        profile_id: ProfileId, classifier: ClassifierDep, metrics: MetricsDep, store: Store,
        owner: OwnerDep,
    ) -> Response:  # fmt: skip
        profiles = require_store(classifier, store, kind)
        if not await in_thread(profiles.delete, owner, profile_id):
            raise not_found(profile_id, kind)
        metrics.speaker_profiles.labels(action("deleted")).inc()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


speakers_router = profile_router(
    SPEAKERS, StoreDep.__metadata__[0], SpeakerResponse, SpeakerList, speaker_response,
    lambda s: (s.max_speakers_per_key, s.max_clips_per_speaker), "clips of the speaker's voice",
)  # fmt: skip
domains_router = profile_router(
    DOMAINS, DomainStoreDep.__metadata__[0], DomainResponse, DomainList, domain_response,
    lambda s: (s.max_domains_per_key, s.max_clips_per_domain),
    "recordings from the place answers should adapt to (same microphone, room, language; any "
    "speakers and emotions, long recordings count as their windows)",
)  # fmt: skip
