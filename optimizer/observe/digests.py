"""Content digests of decision and reward rows, their JSON built a column at a time.

A row's digest (``store.rows``) is the BLAKE2b of the JSON list of its content. Here each
column's JSON text is made once per distinct value (by orjson, so it is orjson's text) and
the lists are joined by Arrow, leaving only the hash itself to do row by row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

QUOTE, COMMA = pa.scalar('"'), pa.scalar(",")
BLAKE = hashlib.blake2b(digest_size=16)


def coded(values: Sequence, codes: np.ndarray) -> pa.Array:
    """The JSON text of ``values[code]`` for each code (-1: the last value)."""
    texts = pa.array([orjson.dumps(v).decode() for v in values], pa.string())
    return texts.take(pa.array(np.where(codes < 0, len(values) - 1, codes)))


def quoted(texts: pa.Array) -> pa.Array:
    """JSON strings of texts holding no control characters (such as orjson's output)."""
    texts = pc.replace_substring(pc.replace_substring(texts, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise(QUOTE, texts, QUOTE, "")


def digests(*parts: pa.Array) -> list[str]:
    """BLAKE2b-128 (hex) of each row's JSON list of ``parts`` (JSON texts)."""
    pieces: list = [pa.scalar("[")]
    for part in parts:
        pieces += [part, COMMA]
    pieces[-1] = pa.scalar("]")
    lists = pc.binary_join_element_wise(*pieces, "").cast(pa.binary()).to_pylist()
    out = []
    for data in lists:  # a copy of an empty hash is quicker to make than a new one
        h = BLAKE.copy()
        h.update(data)
        out.append(h.hexdigest())
    return out


def time_texts(texts: pa.Array) -> pa.Array:
    """JSON strings of stored times (digits, dashes, colons, a space and a dot)."""
    return pc.binary_join_element_wise(QUOTE, texts, QUOTE, "")
