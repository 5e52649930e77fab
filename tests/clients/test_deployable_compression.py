"""Compression you can deploy: structured pruning gives the smaller model and its closed-form cost,
distillation trains on the teacher's forecasts, pretraining applies both (clients/compress.py, server/)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clients.pruning import compress_for_deployment, prune_structured
from clients.data import DeviceSeries
from clients.forecast import fit, predict, serving_model, train_local
from clients.model import Compression, ModelSpec, build_model, get_arrays, model_cost, set_arrays

STRUCTURED = Compression(prune=0.5, structured=True)


@pytest.mark.parametrize("arch", [dict(hidden=16), dict(hidden=32, layers=2), dict(hidden=32, layers=2, proj_size=8),
                                  dict(cell="gru", hidden=16, layers=2)])
def test_structured_prune_half_is_the_dense_model_of_half_the_hidden_size_and_computes_the_same(arch):
    spec = ModelSpec(**arch, compression=STRUCTURED)
    small = ModelSpec(**{**arch, "hidden": arch["hidden"] // 2})
    assert spec.deployed == small and model_cost(spec) == model_cost(small)
    # FLOPs at most about half: a quarter of the recurrent matrices, half with a fixed projection
    assert model_cost(spec).flops_per_inference < 0.51 * model_cost(spec.dense).flops_per_inference
    # a dense model whose odd units have no weights at all: their outputs stay 0, pruning them changes nothing
    dense = build_model(spec.dense, 3)
    h, g = spec.hidden, 4 if spec.cell == "lstm" else 3
    dropped = torch.arange(1, h, 2)
    with torch.no_grad():
        rows = torch.cat([dropped + k * h for k in range(g)])  # the dropped units' gate rows
        for name, p in dense.rnn.named_parameters():
            if name.startswith("weight_hr"):  # projection: the units' columns
                p[:, dropped] = 0.0
                continue
            p[rows] = 0.0
            feeds_on_units = name.startswith("weight_hh") or (name.startswith("weight_ih") and name[-1] != "0")
            if feeds_on_units and not spec.proj_size:  # (with a projection these columns are projected state)
                p[:, dropped] = 0.0
        if not spec.proj_size:
            dense.head.weight[:, dropped] = 0.0
    pruned = prune_structured(dense, spec)
    assert pruned.rnn.hidden_size == h // 2
    x = torch.randn(32, spec.window, 1)
    with torch.no_grad():
        assert torch.allclose(pruned(x), dense(x), atol=1e-6)


def test_unstructured_sparsity_saves_bytes_not_flops():
    spec = ModelSpec(hidden=32, compression=Compression(prune=0.5))
    dense = model_cost(spec.dense)
    cost = model_cost(spec)
    assert cost.flops_per_inference == dense.flops_per_inference
    from clients.compress import prune, sparse_bytes

    model = build_model(spec.dense, 0)
    assert cost.bytes_int8 == sparse_bytes(prune(model, 0.5)) < dense.bytes_int8
    arrays = compress_for_deployment(get_arrays(model), spec)
    weights = [a for a, (name, _) in zip(arrays, model.state_dict().items()) if "weight" in name]
    assert all(np.count_nonzero(w == 0) == w.size // 2 for w in weights)


def _series() -> DeviceSeries:
    rng = np.random.default_rng(0)
    hours = np.arange(24 * 40)
    raw = 0.5 + 0.3 * np.sin(2 * np.pi * hours / 24) + 0.05 * rng.standard_normal(len(hours))
    return DeviceSeries.from_hourly(0, "h0", np.datetime64("2013-01-01T00", "h"), raw,
                                    np.datetime64("2013-01-31T00", "h"), history_hours=24 * 30, horizon_hours=24 * 10)


def test_distillation_trains_on_the_blend_of_target_and_teacher_forecast():
    series, student, teacher_spec = _series(), ModelSpec(hidden=8), ModelSpec(hidden=16)
    start = get_arrays(build_model(student, 1))
    teacher = get_arrays(build_model(teacher_spec, 2))
    got, n, _ = train_local(start, series, student, 0, 24 * 20, 2, 0.01, seed=4, teacher=(teacher_spec, teacher, 0.5))
    X, y = series.training_windows(0, 24 * 20, 24, False)
    assert n == len(y) > 400
    blended = 0.5 * y + 0.5 * predict(serving_model(teacher_spec, teacher, False), X)
    by_hand = build_model(student, 4)
    set_arrays(by_hand, start)
    fit(by_hand, X, blended.astype(np.float32), 2, 0.01, 64, 0.0, 4)
    assert all(np.array_equal(a, b) for a, b in zip(got, get_arrays(by_hand)))
    plain, _, _ = train_local(start, series, student, 0, 24 * 20, 2, 0.01, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(got, plain))


def test_pretraining_trains_dense_then_prunes_then_fine_tunes_the_deployed_model_distilling_from_the_cloud():
    from server.coordinator import pretrain_models
    from sim import scenario as scenarios

    calls = []

    class Recording:
        def train(self, strategy, server_round, devices, arrays, config, teacher=None):
            calls.append((config["train-model"], [a.shape for a in arrays.to_numpy_ndarrays()], teacher is not None))
            return {}

    scenario = scenarios.parse({
        "name": "c", "duration": "1h", "fleet": [{"profile": "raspberry-pi-4", "count": 4,
                                                  "workload": {"rate": "0.1/s", "deadline": "1s"}}],
        "models": {"edge": {"hidden": 16, "compression": {"prune": 0.5, "structured": True, "distill_from": "cloud"}},
                   "cloud": {"hidden": 32}},
        "federation": {"enabled": False, "pretrain": {"rounds": 4, "clients_per_round": 2}}})
    dense = get_arrays(build_model(scenario.models.edge.spec.dense, 0))
    edge, cloud, rows = pretrain_models(Recording(), scenario, dense)
    assert [c[0] for c in calls] == ["cloud"] * 4 + ["edge-dense"] * 2 + ["edge"] * 2
    assert [c[2] for c in calls] == [False] * 4 + [True] * 4
    assert calls[4][1][0] == (64, 1) and calls[6][1][0] == (32, 1)  # weight_ih of hidden 16, then of 8
    assert [a.shape for a in edge] == [a.shape for a in get_arrays(build_model(ModelSpec(hidden=8), 0))]
    assert [r["phase"] for r in rows] == ["pretrain"] * 4 + ["pretrain-cloud"] * 4


def test_compression_needs_pretraining_and_a_matching_cloud_model():
    from sim import scenario as scenarios

    base = {"name": "c", "duration": "1h", "fleet": [{"profile": "raspberry-pi-4", "count": 1,
                                                      "workload": {"rate": "0.1/s", "deadline": "1s"}}]}
    with pytest.raises(scenarios.ScenarioError, match=r"s.yaml: models.edge.compression: is applied in pretraining"):
        scenarios.parse({**base, "models": {"edge": {"compression": {"prune": 0.5}}},
                         "federation": {"pretrain": {"rounds": 0}}}, "s.yaml")
    with pytest.raises(scenarios.ScenarioError, match=r"models.edge.compression.distill_from: cloud needs models.cloud"):
        scenarios.parse({**base, "models": {"edge": {"compression": {"distill_from": "cloud"}}}}, "s.yaml")
    with pytest.raises(scenarios.ScenarioError, match=r"models.edge.compression.prune: must be < 1"):
        scenarios.parse({**base, "models": {"edge": {"compression": {"prune": 1.0}}}}, "s.yaml")
