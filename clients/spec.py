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
- projection (LSTM ``proj_size`` p > 0, torch's ``weight_hr`` p x h): ``2ph`` per layer and step; the
  layer's output, recurrent state and the next layer's input are then p wide, not h, so the recurrent
  matrices are g*h x (in + p). With o the output width (p, or h without projection):
  ``8h(in+o) + 8h + 13h + 2ph``.
- head: ``2 * o + 1``.
- training one sample costs 3x inference (forward + backward, the backward pass costing about twice
  the forward: gradients with respect to both activations and weights); the optimiser step is
  per batch and ignored.

Parameters are those of torch's ``nn.LSTM``/``nn.GRU`` (per layer ``weight_ih`` g*h x in, ``weight_hh``
g*h x h, two biases of g*h) and ``nn.Linear(h, 1)``; tests/clients/test_spec.py checks them against the
modules. Int8 storage (``bytes_int8``): every weight matrix as int8 with one fp32 scale per tensor
(symmetric per-tensor, as ``torch.ao.quantization.quantize_dynamic`` stores LSTM/GRU/Linear weights),
biases in fp32 with each recurrent layer's input and hidden biases summed where the cell allows it
(LSTM: one 4h bias; GRU: r and z parts summed, the n gate keeps both, so 4h).

Compression (``Compression``, deployed as ``ModelSpec.deployed``): structured pruning removes a share of
each layer's hidden units, so the deployed model is the dense model of the smaller hidden size and costs
exactly that; unstructured pruning zeroes a share of every weight matrix's entries, which saves bytes in a
sparse format (per matrix a bitmask of ceil(numel/8) bytes, the nonzeros in int8 or fp32, the int8 scale)
and no FLOPs: the small dense matrix-vector products of a batch-1 LSTM on these CPUs run no faster with
zeros in them (no sparse kernel is modelled).

Memory (``memory_bytes``), the RAM a device needs: to infer, the weights as stored plus the peak
activations of one request; to train, fp32 weights, their gradients and Adam's two moments (16 bytes a
parameter) plus what backpropagation through time must keep for a batch: per sample, layer and step the
layer's input, the g gate activations, c, tanh(c) and the output (and the unprojected h with a
projection), and the last output for the head. That is the minimum; torch's own CPU LSTM keeps about as
much with a projection and about 2.3x as much through oneDNN without one (tests/clients/test_spec.py).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

GATES = {"lstm": 4, "gru": 3}
ELEMENTWISE_PER_UNIT = {"lstm": 13, "gru": 11}
TRAIN_FLOPS_FACTOR = 3.0
TRAIN_BATCH = 64  # clients.forecast.fit's batch, what a device trains with
TRAIN_BYTES_PER_PARAM = 16  # fp32 weight, gradient, Adam's first and second moments

# which model answers a request: the shared global edge model, the larger model the servers serve, or a
# device's own fine-tuned copy of the edge model (personalisation)
EDGE_MODEL, CLOUD_MODEL, PERSONAL_MODEL = 0, 1, 2
MODEL_NAMES = ("edge", "cloud", "personal")


@dataclass(frozen=True)
class Compression:
    """How the edge model is shrunk before deployment: a pruned share, of hidden units (structured) or of
    weight entries (unstructured), and the model it is distilled from during pretraining (None: none)."""

    prune: float = 0.0
    structured: bool = False
    distill_from: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.prune < 1.0:
            raise ValueError(f"prune must be in [0, 1), got {self.prune!r}")
        if self.distill_from not in (None, "cloud"):
            raise ValueError(f"distill_from must be 'cloud' or None, got {self.distill_from!r}")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a forecaster: recurrent cell, its size (with an optional LSTM projection), its input
    window, and how it is compressed for deployment (``deployed`` is the architecture that then runs)."""

    cell: str = "lstm"
    hidden: int = 16
    layers: int = 1
    window: int = 24
    calendar: bool = False
    proj_size: int = 0  # LSTM only: 0 = no projection, else 1 <= proj_size < hidden (as torch's nn.LSTM)
    compression: Compression | None = None

    def __post_init__(self) -> None:
        if self.cell not in GATES:
            raise ValueError(f"cell must be one of {sorted(GATES)}, got {self.cell!r}")
        if min(self.hidden, self.layers, self.window) < 1:
            raise ValueError("hidden, layers and window must be >= 1")
        if self.proj_size and (self.cell != "lstm" or not 0 < self.proj_size < self.hidden):
            raise ValueError(f"proj_size needs cell 'lstm' and 0 < proj_size < hidden, got {self.proj_size!r}")
        if isinstance(self.compression, dict):  # as a scenario's model_dump() gives it
            object.__setattr__(self, "compression", Compression(**self.compression))

    @property
    def output_width(self) -> int:
        """Width of a layer's output and recurrent state: the projection's, or the hidden size."""
        return self.proj_size or self.hidden

    @property
    def dense(self) -> "ModelSpec":
        """The architecture before compression: what pretraining starts from."""
        return dataclasses.replace(self, compression=None)

    @property
    def deployed(self) -> "ModelSpec":
        """The architecture that runs after compression: structured pruning keeps round(hidden * (1 - prune))
        hidden units (at least one, and more than the projection); unstructured pruning keeps the shape."""
        c = self.compression
        if c is None or not c.structured:
            return self if c is None or c.prune else self.dense
        kept = max(1, self.proj_size + 1, round(self.hidden * (1.0 - c.prune)))
        return dataclasses.replace(self, hidden=kept, compression=None)

    @property
    def sparsity(self) -> float:
        """Share of weight-matrix entries stored as zeros (unstructured pruning), else 0."""
        c = self.compression
        return c.prune if c is not None and not c.structured else 0.0

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
    train_activation_bytes_per_sample: int = 0  # what backpropagation through time keeps (module docstring)


def _layer_inputs(spec: ModelSpec) -> list[int]:
    return [spec.input_features if layer == 0 else spec.output_width for layer in range(spec.layers)]


def closed_form_flops(spec: ModelSpec) -> float:
    """FLOPs of one inference (the formula in the module docstring); pruned entries still cost their FLOPs."""
    spec = spec.deployed
    h, o, p, g, e = spec.hidden, spec.output_width, spec.proj_size, GATES[spec.cell], ELEMENTWISE_PER_UNIT[spec.cell]
    per_step = sum(2 * g * h * (width + o) + 2 * g * h + e * h + 2 * p * h for width in _layer_inputs(spec))
    return float(spec.window * per_step + 2 * o + 1)


def _matrix_sizes(spec: ModelSpec) -> list[int]:
    """Entries of each weight matrix, in state_dict order: per layer weight_ih, weight_hh (, weight_hr), the head."""
    h, o, g = spec.hidden, spec.output_width, GATES[spec.cell]
    per_layer = [[g * h * width, g * h * o] + ([spec.proj_size * h] if spec.proj_size else [])
                 for width in _layer_inputs(spec)]
    return [n for layer in per_layer for n in layer] + [o]


@functools.lru_cache(maxsize=256)
def model_cost(spec: ModelSpec) -> ModelCost:
    """Cost of one forecaster from its architecture alone: the deployed one when the spec is compressed."""
    sparsity, spec = spec.sparsity, spec.deployed
    h, o, g = spec.hidden, spec.output_width, GATES[spec.cell]
    matrices = _matrix_sizes(spec)
    weights = sum(matrices)
    params = weights + spec.layers * 2 * g * h + 1  # + two biases per layer, the head's bias
    flops = closed_form_flops(spec)
    fused_bias = spec.layers * (4 * h if spec.cell == "gru" else g * h) + 1
    bytes_int8 = weights + 4 * len(matrices) + 4 * fused_bias
    bytes_fp32 = 4 * params
    if sparsity:  # bitmask + nonzeros (+ the int8 scale); biases dense (fp32: both of them, as torch keeps them)
        kept = [n - math.floor(sparsity * n) for n in matrices]
        masks = sum(math.ceil(n / 8) for n in matrices)
        bytes_int8 = masks + sum(kept) + 4 * len(matrices) + 4 * fused_bias
        bytes_fp32 = masks + 4 * sum(kept) + 4 * (params - weights)
    # Live fp32 buffers of one request: a layer's input and output sequences, gate pre-activations, (h, c)
    # (and the projected state).
    widest_input = max(spec.input_features, o) if spec.layers > 1 else spec.input_features
    peak = 4 * (spec.window * (widest_input + o) + g * h + 2 * h + spec.proj_size)
    kept_per_step = sum(width + g * h + 2 * h + o + (h if spec.proj_size else 0) for width in _layer_inputs(spec))
    return ModelCost(params=params, flops_per_inference=flops, flops_per_train_sample=TRAIN_FLOPS_FACTOR * flops,
                     bytes_fp32=bytes_fp32, bytes_int8=bytes_int8,
                     input_bytes=4 * spec.window * spec.input_features, output_bytes=4,
                     peak_activation_bytes=peak,
                     train_activation_bytes_per_sample=4 * (spec.window * kept_per_step + o))


@dataclass(frozen=True)
class Memory:
    """RAM one use of a model needs (bytes): its stored weights (with training's gradients and optimiser
    state) and its activations."""

    weights_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes


def memory_bytes(spec: ModelSpec, *, int8: bool = False, train: bool = False, batch: int = TRAIN_BATCH) -> Memory:
    """RAM to infer with (int8 or fp32 weights) or to train (fp32, Adam, a batch of ``batch``) the deployed model."""
    cost = model_cost(spec)
    if train:
        return Memory(TRAIN_BYTES_PER_PARAM * cost.params, batch * cost.train_activation_bytes_per_sample)
    return Memory(cost.bytes_int8 if int8 else cost.bytes_fp32, cost.peak_activation_bytes)


def describe(spec: ModelSpec) -> str:
    """A short name of an architecture for messages: 'lstm h=64 x2', with its projection and compression."""
    text = f"{spec.cell} h={spec.hidden}" + (f" x{spec.layers}" if spec.layers > 1 else "")
    text += f" proj={spec.proj_size}" if spec.proj_size else ""
    c = spec.compression
    if c is not None and c.prune:
        text += f" pruned {c.prune:g} {'structured' if c.structured else 'unstructured'}"
    return text
