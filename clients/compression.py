"""Update codecs: what a device sends instead of its full weights (none, int8, top-k with error feedback).

The codec works on the update delta = new weights - the global weights the device started from.
The byte count of the encoded arrays is what the simulated uplink carries; the server decodes
before aggregation, so the accuracy effect of compression is real.
"""
from __future__ import annotations

import math

import numpy as np

CODECS = ("none", "int8", "top-k")


def encoded_bytes(payload: list[np.ndarray]) -> int:
    return int(sum(a.nbytes for a in payload))


def encode(new: list[np.ndarray], base: list[np.ndarray], codec: str, topk_fraction: float = 0.1,
           residual: list[np.ndarray] | None = None) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """(payload arrays, new error-feedback residual) for the update new - base."""
    if codec == "none":
        return [np.asarray(a, np.float32) for a in new], None
    deltas = [np.asarray(n, np.float32) - np.asarray(b, np.float32) for n, b in zip(new, base)]
    if codec == "int8":
        payload = []
        for d in deltas:
            peak = float(np.abs(d).max()) if d.size else 0.0
            scale = peak / 127.0 if peak > 0 else 1.0
            payload += [np.round(d / scale).astype(np.int8), np.array([scale], np.float32)]
        return payload, None
    if codec == "top-k":
        if residual is not None:
            deltas = [d + r for d, r in zip(deltas, residual)]
        flat = np.concatenate([d.ravel() for d in deltas])
        k = max(1, math.ceil(topk_fraction * flat.size))
        index = np.argpartition(np.abs(flat), flat.size - k)[flat.size - k:]
        index.sort()
        sent = np.zeros_like(flat)
        sent[index] = flat[index]
        left = flat - sent  # error feedback: what was not sent is added to the next update
        shapes = [d.shape for d in deltas]
        bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
        residual = [left[bounds[i]:bounds[i + 1]].reshape(shapes[i]) for i in range(len(shapes))]
        return [index.astype(np.int32), flat[index].astype(np.float32)], residual
    raise ValueError(f"unknown update codec {codec!r}; allowed: {', '.join(CODECS)}")


def decode(payload: list[np.ndarray], base: list[np.ndarray], codec: str) -> list[np.ndarray]:
    """The full weights the device meant: base + decoded delta."""
    if codec == "none":
        return [np.asarray(a, np.float32) for a in payload]
    if codec == "int8":
        return [np.asarray(b, np.float32) + q.astype(np.float32) * s[0]
                for b, q, s in zip(base, payload[0::2], payload[1::2])]
    if codec == "top-k":
        index, values = payload
        flat = np.concatenate([np.asarray(b, np.float32).ravel() for b in base])
        flat[index] += values
        out, at = [], 0
        for b in base:
            out.append(flat[at:at + b.size].reshape(b.shape))
            at += b.size
        return out
    raise ValueError(f"unknown update codec {codec!r}; allowed: {', '.join(CODECS)}")
