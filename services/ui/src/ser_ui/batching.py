"""How the web app sends a batch: in requests small enough for the API's limits, and a
chunk refused as a whole retried file by file. No Streamlit here: the page passes a
progress callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ser_contract import ServiceLimits
from ser_ui.client import ApiClient, ApiRejectedError, AudioFile, BatchItem

# Batch requests are split so the progress bar moves and no request nears the API's
# upload limit or its per-request file cap (both from GET /model "limits" when known).
MIB = 1024 * 1024  # bytes
BATCH_CHUNK_FILES = 8
BATCH_CHUNK_MAX_BYTES = 32 * MIB  # bytes
MULTIPART_HEADROOM = 0.9  # of the API's upload limit: room for the multipart framing


def request_limits(limits: ServiceLimits | None) -> tuple[int, int]:
    """Files and bytes per batch request: our defaults, tightened by the API's limits."""
    if limits is None:
        return BATCH_CHUNK_FILES, BATCH_CHUNK_MAX_BYTES
    return (
        max(1, min(BATCH_CHUNK_FILES, limits.max_batch_files)),
        max(1, min(BATCH_CHUNK_MAX_BYTES, int(limits.max_upload_bytes * MULTIPART_HEADROOM))),
    )


def chunks(
    audios: Sequence[AudioFile],
    max_files: int = BATCH_CHUNK_FILES,
    max_bytes: int = BATCH_CHUNK_MAX_BYTES,
) -> list[list[AudioFile]]:
    """Split into requests of at most ``max_files`` files and ``max_bytes`` bytes.

    A file larger than ``max_bytes`` on its own goes alone; the API then explains (413).
    """
    result: list[list[AudioFile]] = []
    size = 0
    for audio in audios:
        if result and len(result[-1]) < max_files and size + len(audio.content) <= max_bytes:
            result[-1].append(audio)
            size += len(audio.content)
        else:
            result.append([audio])
            size = len(audio.content)
    return result


def analyse(
    client: ApiClient,
    audios: Sequence[AudioFile],
    limits: tuple[int, int] = (BATCH_CHUNK_FILES, BATCH_CHUNK_MAX_BYTES),
    on_progress: Callable[[int], None] = lambda done: None,
) -> list[BatchItem]:
    """Send ``audios`` to ``POST /predict/batch`` chunk by chunk, one item per file in order.

    A chunk refused as a whole (e.g. 413, too large together) is retried file by file, so
    one bad file costs only its own row. Any other :class:`ApiError` (outage) propagates.
    ``on_progress(n_done)`` is called after each chunk.
    """
    items: list[BatchItem] = []
    for chunk in chunks(audios, *limits):
        try:
            items += client.predict_batch(chunk)
        except ApiRejectedError as error:
            if len(chunk) == 1:
                items.append(BatchItem(filename=chunk[0].name, error=error))
            else:
                for audio in chunk:
                    try:
                        items += client.predict_batch([audio])
                    except ApiRejectedError as single_error:
                        items.append(BatchItem(filename=audio.name, error=single_error))
        on_progress(len(items))
    return items
