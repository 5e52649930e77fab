"""Which model answers a request, a forecaster's architecture, and its cost in closed form (no torch import).

The simulator needs a model's FLOPs and bytes, not the model: this module gives them without loading torch.
Cost model (``model_cost``), per request of one window, with h the hidden size, g the gates (LSTM 4, GRU 3)
and ``in`` a layer's input width (the input features for the first layer, h after it):

- recurrent layer, per time step: ``2 * numel`` FLOPs for each weight matrix (multiply-add = 2),
  ``numel`` for each bias add, plus elementwise work per hidden unit: LSTM 13 (4 adds joining the
  input and hidden gate parts, 4 activations, 3 for ``c = f*c + i*g``, 1 ``tanh(c)``, 1 ``o*tanh(c)``),
  GRU 11 (2 adds for r and z, 2 sigmoids, ``r*hn``, one add and ``tanh`` for n, 4 for
  ``(1-z)*n + z*h``). Per layer and step: LSTM ``8h(in+h) + 8h + 13h``, GRU ``6h(in+h) + 6h + 11h``.
  Activations count as 1 FLOP each.
- head: ``2 * hidden + 1``.
- training one sample costs 3x inference (forward + backward, the backward pass costing about twice
  the forward: gradients with respect to both activations and weights); the optimiser step is
  per batch and ignored.

Parameters are those of torch's ``nn.LSTM``/``nn.GRU`` (per layer ``weight_ih`` g*h x in, ``weight_hh``
g*h x h, two biases of g*h) and ``nn.Linear(h, 1)``; tests/clients/test_spec.py checks them against the
modules. Int8 storage (``bytes_int8``): every weight matrix as int8 with one fp32 scale per tensor
(symmetric per-tensor, as ``torch.ao.quantization.quantize_dynamic`` stores LSTM/GRU/Linear weights),
biases in fp32 with each recurrent layer's input and hidden biases summed where the cell allows it
(LSTM: one 4h bias; GRU: r and z parts summed, the n gate keeps both, so 4h).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

GATES = {"lstm": 4, "gru": 3}
ELEMENTWISE_PER_UNIT = {"lstm": 13, "gru": 11}
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
        if self.cell not in GATES:
            raise ValueError(f"cell must be one of {sorted(GATES)}, got {self.cell!r}")
        if min(self.hidden, self.layers, self.window) < 1:
            raise ValueError("hidden, layers and window must be >= 1")

    @property
    def input_features(self) -> int:
        """Features per input hour: the z-scored kWh, plus sin/cos of hour of day and day of week."""
        return 5 if self.calendar else 1


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


def _layer_inputs(spec: ModelSpec) -> list[int]:
    return [spec.input_features if layer == 0 else spec.hidden for layer in range(spec.layers)]


def closed_form_flops(spec: ModelSpec) -> float:
    """FLOPs of one inference (the formula in the module docstring)."""
    h, g, e = spec.hidden, GATES[spec.cell], ELEMENTWISE_PER_UNIT[spec.cell]
    per_step = sum(2 * g * h * (width + h) + 2 * g * h + e * h for width in _layer_inputs(spec))
    return float(spec.window * per_step + 2 * h + 1)


@functools.lru_cache(maxsize=256)
def model_cost(spec: ModelSpec) -> ModelCost:
    """Cost of one forecaster from its architecture alone."""
    h, g = spec.hidden, GATES[spec.cell]
    weights = sum(g * h * (width + h) for width in _layer_inputs(spec)) + h  # recurrent matrices, then the head
    params = weights + spec.layers * 2 * g * h + 1  # + two biases per layer, the head's bias
    flops = closed_form_flops(spec)
    weight_tensors = 2 * spec.layers + 1
    fused_bias = spec.layers * (4 * h if spec.cell == "gru" else g * h) + 1
    bytes_int8 = weights + 4 * weight_tensors + 4 * fused_bias
    # Live fp32 buffers of one request: a layer's input and output sequences, gate pre-activations, (h, c).
    widest_input = max(spec.input_features, h) if spec.layers > 1 else spec.input_features
    peak = 4 * (spec.window * (widest_input + h) + g * h + 2 * h)
    return ModelCost(params=params, flops_per_inference=flops, flops_per_train_sample=TRAIN_FLOPS_FACTOR * flops,
                     bytes_fp32=4 * params, bytes_int8=bytes_int8,
                     input_bytes=4 * spec.window * spec.input_features, output_bytes=4,
                     peak_activation_bytes=peak)
