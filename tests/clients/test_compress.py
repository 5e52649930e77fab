"""Tests of clients/compress.py: pruning, sparse bytes, distillation, cloud vs edge cost, the report."""
import math

import numpy as np
import pytest
import torch

from clients.baselines import ReferenceSplit, reference_inputs, reference_splits, scores
from clients.compress import (CLOUD_SPEC, ReportBudget, compression_report, distill, fine_tune_pruned, prune,
                              pruning_masks, sparse_bytes, weight_sparsity)
from clients.forecast import fit, predict
from clients.model import ModelSpec, build_model, get_arrays, model_cost, quantize_int8

EDGE = ModelSpec(hidden=16)


def _subsample(split: ReferenceSplit, n: int, seed: int) -> ReferenceSplit:
    keep = np.sort(np.random.default_rng(seed).choice(len(split.y), size=min(n, len(split.y)), replace=False))
    return ReferenceSplit(split.X[keep], split.y[keep], split.target_hours[keep])


@pytest.fixture(scope="module")
def small():
    """The reference protocol's splits, subsampled (20k train, 3k val, 10k test windows) to keep tests fast."""
    full = reference_splits()
    return {"train": _subsample(full["train"], 20_000, 0), "val": _subsample(full["val"], 3_000, 1),
            "test": _subsample(full["test"], 10_000, 2)}


@pytest.fixture(scope="module")
def edge(small):
    """The fp32 edge model trained briefly (5 epochs over 20k pooled training windows, about a second)."""
    model = build_model(EDGE, 0)
    fit(model, reference_inputs(small["train"]), small["train"].y, 5, 5e-3, batch_size=256, seed=0)
    return model


def _mse(model, split):
    return scores(predict(model, reference_inputs(split)), split.y)["mse"]


def _persistence_mse(split):
    return scores(split.X[:, -1], split.y)["mse"]


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.8])
def test_prune_reaches_requested_sparsity_and_keeps_the_largest_weights(scope, sparsity):
    model = build_model(ModelSpec(hidden=16, layers=2), 0)
    before = get_arrays(model)
    pruned = prune(model, sparsity, scope)
    assert weight_sparsity(pruned) == pytest.approx(sparsity, abs=2e-3)
    assert weight_sparsity(model) == 0.0  # the input model is untouched
    for a, b in zip(before, get_arrays(model)):
        np.testing.assert_array_equal(a, b)
    for name, p in pruned.named_parameters():
        original = dict(model.named_parameters())[name].detach()
        if "bias" in name:
            assert torch.equal(p.detach(), original)
            continue
        kept = p.detach() != 0
        torch.testing.assert_close(p.detach()[kept], original[kept], rtol=0, atol=0)
        if scope == "layer":
            assert float(kept.float().mean()) == pytest.approx(1 - sparsity, abs=1.0 / p.numel() + 1e-9)
            if (~kept).any() and kept.any():
                assert float(original[~kept].abs().max()) <= float(original[kept].abs().min())
    with pytest.raises(ValueError):
        prune(model, 1.0)
    with pytest.raises(ValueError):
        prune(model, 0.5, "random")


def test_sparse_bytes_format():
    spec = ModelSpec(hidden=32)
    model = build_model(spec, 0)
    cost = model_cost(spec)
    matrices = [p for n, p in model.named_parameters() if "weight" in n]
    # dense: bitmask + every entry as int8 = bytes_int8 + the bitmasks
    assert sparse_bytes(model) == cost.bytes_int8 + sum(math.ceil(p.numel() / 8) for p in matrices)
    half = prune(model, 0.5)
    weights = sum(p.numel() for p in matrices)
    assert sparse_bytes(half) == sparse_bytes(model) - sum(math.floor(0.5 * p.numel()) for p in matrices)
    assert sparse_bytes(half) < 0.7 * cost.bytes_int8 and cost.bytes_fp32 > 5 * sparse_bytes(half)
    assert sparse_bytes(half) > 0.625 * weights  # 1 bit + half a byte per weight, at least


def test_pruned_model_after_brief_fine_tune_keeps_sparsity_and_accuracy(small, edge):
    dense = _mse(edge, small["test"])
    pruned = prune(edge, 0.5)
    masks = pruning_masks(pruned)
    fine_tune_pruned(pruned, reference_inputs(small["train"]), small["train"].y, epochs=1, lr=1e-3, seed=0)
    assert weight_sparsity(pruned) == pytest.approx(0.5, abs=2e-3)
    for name, p in pruned.named_parameters():
        if name in masks:  # zeros stayed zero, and the kept weights did train
            assert not bool(p.detach()[~masks[name]].any())
    assert not torch.equal(pruned.rnn.weight_hh_l0, prune(edge, 0.5).rnn.weight_hh_l0)
    # stated tolerance: 50% sparse + one fine-tuning epoch stays within 3% of the dense test MSE
    assert _mse(pruned, small["test"]) < 1.03 * dense


def test_edge_lstm_beats_persistence_by_25_percent_and_int8_stays_within_5_percent(small, edge):
    mse, persistence = _mse(edge, small["test"]), _persistence_mse(small["test"])
    assert mse < 0.75 * persistence
    int8 = _mse(quantize_int8(edge), small["test"])
    assert abs(int8 - mse) / mse < 0.05
    assert model_cost(EDGE).bytes_fp32 >= 3.5 * model_cost(EDGE).bytes_int8


@pytest.mark.slow  # 5 s
def test_distilled_student_beats_persistence_and_follows_its_teacher(small):
    train, test = small["train"], small["test"]
    X, x_test = reference_inputs(train), reference_inputs(test)
    teacher = build_model(ModelSpec(hidden=32), 5)
    fit(teacher, X, train.y, 3, 5e-3, batch_size=256, seed=5)
    student_spec = ModelSpec(hidden=8)
    student = distill(teacher, student_spec, X, train.y, epochs=3, lr=5e-3, alpha=0.0, seed=1)
    scratch = build_model(student_spec, 1)
    fit(scratch, X, train.y, 3, 5e-3, batch_size=256, seed=1)
    assert isinstance(student, torch.nn.Module) and student.spec == student_spec
    assert _mse(student, test) < 0.75 * _persistence_mse(test)
    # with alpha = 0 the student learns the teacher's function: closer to it than a student trained on y alone
    t = predict(teacher, x_test)
    assert scores(predict(student, x_test), t)["mse"] < 0.8 * scores(predict(scratch, x_test), t)["mse"]


def test_distill_loss_is_the_blended_target_mse():
    """alpha*MSE(s,y) + (1-alpha)*MSE(s,t) and MSE(s, alpha*y + (1-alpha)*t) have the same gradient."""
    s = build_model(EDGE, 0)
    x, y, t = torch.randn(32, 24, 1), torch.randn(32), torch.randn(32)
    alpha = 0.3
    grads = []
    for loss_fn in (lambda p: alpha * torch.mean((p - y) ** 2) + (1 - alpha) * torch.mean((p - t) ** 2),
                    lambda p: torch.mean((p - (alpha * y + (1 - alpha) * t)) ** 2)):
        s.zero_grad()
        loss_fn(s(x)).backward()
        grads.append([p.grad.clone() for p in s.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_distill_with_alpha_one_is_plain_training():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 24, 1)).astype(np.float32), rng.normal(size=300).astype(np.float32)
    student = distill(build_model(EDGE, 9), EDGE, X, y, epochs=1, lr=1e-2, alpha=1.0, seed=4)
    plain = build_model(EDGE, 4)
    fit(plain, X, y, 1, 1e-2, batch_size=256, seed=4)
    for a, b in zip(get_arrays(student), get_arrays(plain)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        distill(plain, EDGE, X, y, 1, 1e-2, alpha=1.5)


def test_cloud_model_costs_more_than_edge_model():
    cloud, edge = model_cost(CLOUD_SPEC), model_cost(EDGE)
    assert CLOUD_SPEC.hidden > EDGE.hidden and CLOUD_SPEC.layers > EDGE.layers
    assert cloud.flops_per_inference > 10 * edge.flops_per_inference
    assert cloud.flops_per_train_sample > edge.flops_per_train_sample
    assert cloud.bytes_fp32 > 10 * edge.bytes_fp32 > 10 * edge.bytes_int8
    assert cloud.peak_activation_bytes > edge.peak_activation_bytes


def test_compression_report_rows_on_a_tiny_budget(small):
    tiny = ReportBudget(edge_epochs=1, edge_samples=3000, cloud_epochs=1, cloud_samples=1000, reference_epochs=1,
                        reference_samples=2000, prune_epochs=1, prune_samples=2000, distill_epochs=1,
                        distill_pool=2000, val_samples=1000)
    test = _subsample(small["test"], 2000, 3)
    projected = ModelSpec(hidden=8, proj_size=4)
    report = compression_report({**small, "test": test}, budget=tiny, reference_hidden=None, projections=(projected,))
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows)[:2] == ["persistence", "same hour yesterday"]
    assert rows["persistence"]["mse"] == pytest.approx(_persistence_mse(test))
    fp32, int8, cloud = rows["edge fp32"], rows["edge int8"], rows["cloud fp32"]
    pruned = rows["edge pruned 50% + fine-tune (int8 sparse)"]
    assert fp32["bytes"] >= 3.5 * int8["bytes"] and int8["bytes"] > pruned["bytes"]
    assert pruned["sparsity"] == pytest.approx(0.5, abs=2e-3)
    assert cloud["flops"] > fp32["flops"] and cloud["bytes"] > fp32["bytes"]
    assert rows["edge fp32 + calendar features"]["spec"].calendar
    assert any(name.startswith("edge distilled") for name in rows)
    proj = rows["edge LSTM h=8 proj=4"]  # lighter cell: its cost is the closed form of its own spec
    assert proj["spec"] == projected and proj["bytes"] == model_cost(projected).bytes_fp32 < fp32["bytes"]
    assert proj["flops"] == model_cost(projected).flops_per_inference
    assert all(np.isfinite(r["mse"]) and np.isfinite(r["mae"]) for r in rows.values())
