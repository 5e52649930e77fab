"""Forecaster modules (LSTM/GRU -> linear head), their weights as numpy arrays, int8 versions and their cost.

Cost model (``model_cost``), per request of one window, counted from the module's parameter shapes:

- recurrent layer, per time step: ``2 * numel`` FLOPs for each weight matrix (multiply-add = 2),
  ``numel`` for each bias add, plus elementwise work per hidden unit: LSTM 13 (4 adds joining the
  input and hidden gate parts, 4 activations, 3 for ``c = f*c + i*g``, 1 ``tanh(c)``, 1 ``o*tanh(c)``),
  GRU 11 (2 adds for r and z, 2 sigmoids, ``r*hn``, one add and ``tanh`` for n, 4 for
  ``(1-z)*n + z*h``). Closed form per layer and step: LSTM ``8h(in+h) + 8h + 13h``, GRU
  ``6h(in+h) + 6h + 11h``. Activations count as 1 FLOP each.
- head: ``2 * hidden + 1``.
- training one sample costs 3x inference (forward + backward, the backward pass costing about twice
  the forward: gradients with respect to both activations and weights); the optimiser step is
  per batch and ignored.

Int8 storage (``bytes_int8``): every weight matrix as int8 with one fp32 scale per tensor (symmetric
per-tensor, as ``torch.ao.quantization.quantize_dynamic`` stores LSTM/GRU/Linear weights), biases
in fp32 with each recurrent layer's input and hidden biases summed where the cell allows it
(LSTM: one 4h bias; GRU: r and z parts summed, the n gate keeps both, so 4h). ``quantize_int8``
uses exactly this scheme by default (int8 weights, fp32 activations).
"""
from __future__ import annotations

import copy
import functools
import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

_GATES = {"lstm": 4, "gru": 3}
_ELEMENTWISE_PER_UNIT = {"lstm": 13, "gru": 11}
_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
TRAIN_FLOPS_FACTOR = 3.0

# which model answers a request: the shared global edge model, the larger model the servers serve, or a
# device's own fine-tuned copy of the edge model (personalisation)
EDGE_MODEL, CLOUD_MODEL, PERSONAL_MODEL = 0, 1, 2
MODEL_NAMES = ("edge", "cloud", "personal")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a forecaster: recurrent cell, its size, and its input window."""

    cell: str = "lstm"
    hidden: int = 16
    layers: int = 1
    window: int = 24
    calendar: bool = False

    def __post_init__(self) -> None:
        if self.cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {self.cell!r}")
        if min(self.hidden, self.layers, self.window) < 1:
            raise ValueError("hidden, layers and window must be >= 1")

    @property
    def input_features(self) -> int:
        """Features per input hour: the z-scored kWh, plus sin/cos of hour of day and day of week."""
        return 5 if self.calendar else 1


class Forecaster(nn.Module):
    """Recurrent cell over the window, then a linear head on the last hidden state: x [b, window, F] -> [b]."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.rnn = _CELLS[spec.cell](spec.input_features, spec.hidden, spec.layers, batch_first=True)
        self.head = nn.Linear(spec.hidden, 1)

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


@dataclass(frozen=True)
class ModelCost:
    """Compute, memory and payload of one forecaster (FLOPs, bytes)."""

    params: int
    flops_per_inference: float
    flops_per_train_sample: float
    bytes_fp32: int
    bytes_int8: int
    input_bytes: int
    output_bytes: int
    peak_activation_bytes: int


def _recurrent_flops_per_step(rnn: nn.RNNBase, cell: str) -> float:
    flops = 0.0
    for name, p in rnn.named_parameters():
        flops += 2 * p.numel() if name.startswith("weight") else p.numel()
    return flops + _ELEMENTWISE_PER_UNIT[cell] * rnn.hidden_size * rnn.num_layers


def closed_form_flops(spec: ModelSpec) -> float:
    """FLOPs of one inference from the formula in the module docstring (a check on ``model_cost``)."""
    h, g, e = spec.hidden, _GATES[spec.cell], _ELEMENTWISE_PER_UNIT[spec.cell]
    per_step = sum(2 * g * h * ((spec.input_features if layer == 0 else h) + h) + 2 * g * h + e * h
                   for layer in range(spec.layers))
    return spec.window * per_step + 2 * h + 1


@functools.lru_cache(maxsize=256)
def model_cost(spec: ModelSpec) -> ModelCost:
    """Cost of one forecaster, counted from the parameter shapes of an actual module."""
    model = build_model(spec, 0)
    params = sum(p.numel() for p in model.parameters())
    flops = spec.window * _recurrent_flops_per_step(model.rnn, spec.cell)
    flops += 2 * model.head.weight.numel() + model.head.bias.numel()
    weights = [p for n, p in model.named_parameters() if "weight" in n]
    g, h = _GATES[spec.cell], spec.hidden
    fused_bias = spec.layers * (4 * h if spec.cell == "gru" else g * h) + 1
    bytes_int8 = sum(w.numel() for w in weights) + 4 * len(weights) + 4 * fused_bias
    # Live fp32 buffers of one request: a layer's input and output sequences, gate pre-activations, (h, c).
    widest_input = max(spec.input_features, h) if spec.layers > 1 else spec.input_features
    peak = 4 * (spec.window * (widest_input + h) + g * h + 2 * h)
    return ModelCost(params=params, flops_per_inference=float(flops),
                     flops_per_train_sample=TRAIN_FLOPS_FACTOR * float(flops),
                     bytes_fp32=4 * params, bytes_int8=int(bytes_int8),
                     input_bytes=4 * spec.window * spec.input_features, output_bytes=4,
                     peak_activation_bytes=int(peak))


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
