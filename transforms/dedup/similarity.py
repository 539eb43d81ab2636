"""Nearest-neighbour maths on unit vectors, block by block: a pool of any size is compared in
bounded memory, one block of query rows against all items at a time."""

from __future__ import annotations

import numpy as np

#: cells of a similarity block held at once (64 MB of float32): pools of any size run in
#: bounded memory, one block of rows against all columns at a time
BLOCK_CELLS = 1 << 24


def blocks(rows: int, cols: int):
    step = max(1, BLOCK_CELLS // max(cols, 1))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def top_k(queries: np.ndarray, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar ``items`` of every query row: (indices, cosines), computed block by
    block of queries so no full similarity matrix is ever held."""
    k = min(k, len(items))
    index = np.zeros((len(queries), k), np.int64)
    value = np.zeros((len(queries), k), np.float32)
    for start, stop in blocks(len(queries), len(items)):
        sims = queries[start:stop] @ items.T
        top = np.argpartition(sims, -k, axis=1)[:, -k:]
        index[start:stop] = top
        value[start:stop] = np.take_along_axis(sims, top, axis=1)
    return index, value


def knn_mean(queries: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine of every query row's k most similar items (the ratio margin's
    neighbourhood), block by block."""
    k = min(k, len(items))
    out = np.zeros(len(queries), np.float32)
    for start, stop in blocks(len(queries), len(items)):
        sims = queries[start:stop] @ items.T
        out[start:stop] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
