"""The yardstick for HTTP throughput: a FastAPI app whose /predict only decodes the upload.

Served by the same uvicorn, with the same worker count and client as the real API, it shows
how much of the budget is HTTP + form parsing + decoding, which the API cannot avoid.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, File, UploadFile
from threadpoolctl import threadpool_limits

from ser_features import load_audio

threadpool_limits(limits=1, user_api="blas")  # as the API does
app = FastAPI()


@app.post("/predict")
async def decode(file: Annotated[UploadFile, File()]) -> dict[str, float]:
    audio = load_audio(await file.read())
    return {"duration_s": audio.duration_s}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
