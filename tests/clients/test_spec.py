"""clients/spec.py: the closed-form cost equals what the torch modules count, and sim.world loads no torch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clients import spec as specs
from clients.model import Forecaster
from clients.spec import ModelSpec, model_cost

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = (2, 24, 24 * 14)


def counted_cost(spec: ModelSpec, model: Forecaster) -> specs.ModelCost:
    """The cost counted from an actual module's parameter shapes (how clients/model.py computed it before)."""
    rnn, head = model.rnn, model.head
    per_step = sum(2 * p.numel() if name.startswith("weight") else p.numel() for name, p in rnn.named_parameters())
    per_step += specs.ELEMENTWISE_PER_UNIT[spec.cell] * rnn.hidden_size * rnn.num_layers
    flops = float(spec.window * per_step + 2 * head.weight.numel() + head.bias.numel())
    params = sum(p.numel() for p in model.parameters())
    weights = [p for name, p in model.named_parameters() if "weight" in name]
    g, h = specs.GATES[spec.cell], spec.hidden
    fused_bias = spec.layers * (4 * h if spec.cell == "gru" else g * h) + 1
    widest_input = max(spec.input_features, h) if spec.layers > 1 else spec.input_features
    return specs.ModelCost(params=params, flops_per_inference=flops, flops_per_train_sample=3.0 * flops,
                           bytes_fp32=4 * params,
                           bytes_int8=sum(w.numel() for w in weights) + 4 * len(weights) + 4 * fused_bias,
                           input_bytes=4 * spec.window * spec.input_features, output_bytes=4,
                           peak_activation_bytes=4 * (spec.window * (widest_input + h) + g * h + 2 * h))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("calendar", [False, True])
def test_closed_form_cost_equals_the_count_from_the_torch_module(cell, layers, calendar):
    for hidden in range(1, 129):
        model = Forecaster(ModelSpec(cell=cell, hidden=hidden, layers=layers, calendar=calendar))
        for window in WINDOWS:
            spec = ModelSpec(cell=cell, hidden=hidden, layers=layers, window=window, calendar=calendar)
            closed, counted = model_cost(spec), counted_cost(spec, model)
            assert closed == counted, spec
            assert all(type(getattr(closed, f)) is type(getattr(counted, f)) for f in closed.__dataclass_fields__)


def test_clients_model_re_exports_the_spec():
    from clients import model

    assert model.ModelSpec is ModelSpec and model.model_cost is model_cost
    assert (model.EDGE_MODEL, model.CLOUD_MODEL, model.PERSONAL_MODEL, model.MODEL_NAMES) == \
        (specs.EDGE_MODEL, specs.CLOUD_MODEL, specs.PERSONAL_MODEL, specs.MODEL_NAMES)


def test_spec_rejects_unknown_cells_and_empty_sizes():
    with pytest.raises(ValueError, match=r"cell must be one of \['gru', 'lstm'\], got 'rnn'"):
        ModelSpec(cell="rnn")
    with pytest.raises(ValueError, match="hidden, layers and window must be >= 1"):
        ModelSpec(hidden=0)


@pytest.mark.parametrize("module", ["clients.spec", "sim.world", "sim.app.summary", "sim.forecasts"])
def test_the_engine_imports_without_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, [m for m in sys.modules if 'torch' in m][:5]"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
