"""Forecaster modules (LSTM/GRU -> linear head), their weights as numpy arrays and their int8 versions.

The model ids, ``ModelSpec`` and the closed-form cost (``model_cost``) live in clients/spec.py, which
imports no torch; they are re-exported here. ``quantize_int8`` stores weights as ``ModelCost.bytes_int8``
counts them by default (int8 weights with one fp32 scale per tensor, fp32 activations).
"""
from __future__ import annotations

import copy
import functools
import math
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from clients.spec import (CLOUD_MODEL, EDGE_MODEL, MODEL_NAMES, PERSONAL_MODEL, TRAIN_FLOPS_FACTOR,  # noqa: F401
                          Compression, ModelCost, ModelSpec, closed_form_flops, memory_bytes, model_cost)

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}  # the cells of clients.spec.GATES


class Forecaster(nn.Module):
    """Recurrent cell over the window, then a linear head on the last hidden state: x [b, window, F] -> [b].

    The module has the deployed architecture of ``spec`` (``ModelSpec.deployed``: after structured pruning);
    build ``spec.dense`` for the model before compression."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        arch = spec.deployed
        extra = {"proj_size": arch.proj_size} if arch.proj_size else {}  # nn.GRU takes no proj_size
        self.rnn = _CELLS[arch.cell](arch.input_features, arch.hidden, arch.layers, batch_first=True, **extra)
        self.head = nn.Linear(arch.output_width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


def build_model(spec: ModelSpec, seed: int) -> Forecaster:
    """A freshly initialised forecaster; the same seed gives the same weights and the global RNG is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Forecaster(spec)


def get_arrays(model: nn.Module) -> list[np.ndarray]:
    """Float32 copies of the weights in state_dict order."""
    return [t.detach().cpu().numpy().astype(np.float32, copy=True) for t in model.state_dict().values()]


def set_arrays(model: nn.Module, arrays: list[np.ndarray]) -> None:
    """Load weights given in state_dict order (shapes must match)."""
    keys = list(model.state_dict().keys())
    if len(keys) != len(arrays):
        raise ValueError(f"expected {len(keys)} arrays, got {len(arrays)}")
    model.load_state_dict(OrderedDict((k, torch.as_tensor(np.asarray(a, dtype=np.float32)))
                                      for k, a in zip(keys, arrays)), strict=True)


def _quantize_dynamic(model: Forecaster) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao (not installed)
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {nn.LSTM, nn.GRU, nn.Linear},
                                                      dtype=torch.qint8)


def fake_quantize_int8(model: Forecaster) -> Forecaster:
    """Own fallback scheme: each weight matrix rounded to symmetric per-tensor int8 times one fp32 scale."""
    out = copy.deepcopy(model).eval()
    with torch.no_grad():
        for name, p in out.named_parameters():
            if "weight" in name:
                scale = p.abs().max().clamp_min(1e-12) / 127.0
                p.copy_(torch.round(p / scale).clamp(-127, 127) * scale)
    return out


@functools.lru_cache(maxsize=1)
def dynamic_quantization_available() -> bool:
    """Whether torch's dynamic int8 quantization runs on this build (checked once on a tiny LSTM and GRU)."""
    try:
        for cell in _CELLS:
            q = _quantize_dynamic(build_model(ModelSpec(cell=cell, hidden=4, window=3), 0))
            with torch.inference_mode():
                y = q(torch.zeros(2, 3, 1))
            if y.shape != (2,) or not bool(torch.isfinite(y).all()):
                return False
        return True
    except Exception:  # noqa: BLE001 - any failure of the deprecated API means: use the fallback
        return False


def quantize_int8(model: Forecaster, backend: str = "weights") -> nn.Module:
    """An int8-weight copy of the model with the same forward.

    ``"weights"`` (default): ``fake_quantize_int8``, int8 weights with fp32 activations, so a
    request's forecast does not depend on which other requests share its batch. ``"dynamic"``:
    ``torch.ao.quantization.quantize_dynamic`` (works on torch 2.13 CPU but is deprecated, and it
    quantizes activations with a per-batch range, so results shift by ~1e-3 with batch
    composition); falls back to ``"weights"`` where unavailable.
    """
    if backend == "dynamic" and dynamic_quantization_available():
        return _quantize_dynamic(model)
    if backend not in ("weights", "dynamic"):
        raise ValueError(f"backend must be 'weights' or 'dynamic', got {backend!r}")
    return fake_quantize_int8(model)


def int8_size_ratio(spec: ModelSpec) -> float:
    """fp32 bytes over int8 bytes of a spec (for reports)."""
    cost = model_cost(spec)
    return cost.bytes_fp32 / cost.bytes_int8 if cost.bytes_int8 else math.inf
