"""The bare service whoknows is compared with: encode the query, search FAISS, answer.

    WHOKNOWS_INDEX_DIR=data/index/sample uvicorn tests.benchmarks.bare_app:app

The same encoder backend and passage index as the whoknows index given, no
ranking, no evidence, no logging: the floor a recommendation service pays.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

from models import assembly
from models.artifact import Manifest
from models.encoder import Encoder, recorded_backend

_INDEX = Path(os.environ["WHOKNOWS_INDEX_DIR"])
_MANIFEST = Manifest.read(_INDEX)
_ENCODER = Encoder(backend=recorded_backend(_MANIFEST.encoder), query_cache_size=0)
_PASSAGES = assembly.read(_INDEX, _ENCODER).parts.passages

app = FastAPI()


class Query(BaseModel):
    query: str


@app.post("/search")
def search(body: Query) -> dict[str, list[int]]:
    vector = _ENCODER._encode([body.query], "query")
    hits = _PASSAGES.search(np.asarray(vector, dtype=np.float32), 10)
    return {"ids": hits.ids[0].tolist()}
