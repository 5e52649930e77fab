"""Edge-model compression: magnitude pruning, distillation of the cloud model, and their bytes/FLOPs/accuracy report.

Pruning (``prune``) zeroes the smallest-magnitude entries of every weight matrix (recurrent
``weight_ih``/``weight_hh`` and the head; biases are kept), either per tensor (``scope="layer"``,
each matrix loses the same fraction) or over all matrices pooled (``scope="global"``). It is an
own mask, not ``torch.nn.utils.prune``: that one reparametrises ``weight`` as ``weight_orig * mask``
through a forward pre-hook, which ``nn.LSTM``'s flattened weights do not see reliably. Here the
zeros are written into the weights, and ``fine_tune_pruned`` keeps them zero by multiplying each
gradient with its mask (Adam started fresh then never moves a weight whose gradient is always 0).

Sparse storage (``sparse_bytes``): per weight matrix a bitmask of ``ceil(numel / 8)`` bytes, the
nonzero entries as int8 (symmetric per-tensor scale, as ``clients.model.fake_quantize_int8``) and
one fp32 scale; biases as in ``ModelCost.bytes_int8`` (fp32, fused where the cell allows). At 50%
sparsity that is 0.5 + 0.125 bytes per weight against 1 for dense int8 and 4 for fp32.

FLOPs of a pruned model are reported as those of the dense module (``model_cost``): an LSTM's
small dense matrix-vector products gain nothing from unstructured sparsity on a CPU, so the
compute time the simulator charges does not change; only the bytes do.

Distillation (``distill``): the student minimises ``alpha * MSE(s, y) + (1 - alpha) * MSE(s, t)``
with ``t`` the teacher's prediction. Both terms are squared errors of the same output, so the loss
equals ``MSE(s, alpha * y + (1 - alpha) * t)`` plus a constant that does not depend on the
student: the gradients are identical, and ``distill`` trains on that blended target with
``clients.forecast.fit``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from clients.baselines import (ReferenceSplit, naive_reference, reference_inputs, reference_splits, scores,
                               train_reference)
from clients.forecast import fit, fit_keeping_zeros, predict
from clients.model import ModelSpec, build_model, model_cost, quantize_int8
from clients.pruning import SCOPES, _weight_matrices, compress_for_deployment, prune, prune_structured  # noqa: F401

# The model the edge server and the cloud serve (fp32); devices serve the compressed edge model.
CLOUD_SPEC = ModelSpec(cell="lstm", hidden=64, layers=2, window=24)


def pruning_masks(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Boolean mask of the nonzero entries of each weight matrix, by parameter name."""
    return {name: p.detach() != 0 for name, p in _weight_matrices(model)}


def weight_sparsity(model: torch.nn.Module) -> float:
    """Fraction of weight-matrix entries that are exactly zero (biases excluded)."""
    matrices = [p for _, p in _weight_matrices(model)]
    return float(sum(int((p == 0).sum()) for p in matrices) / sum(p.numel() for p in matrices))


def sparse_bytes(model: torch.nn.Module) -> int:
    """Bytes of the sparse int8 format in the module docstring: bitmask + int8 nonzeros + fp32 scale per matrix."""
    spec = model.spec
    matrices = [p for _, p in _weight_matrices(model)]
    cost = model_cost(spec)
    bias_bytes = cost.bytes_int8 - sum(p.numel() for p in matrices) - 4 * len(matrices)
    return int(sum(math.ceil(p.numel() / 8) + int((p != 0).sum()) + 4 for p in matrices) + bias_bytes)


def fine_tune_pruned(model: torch.nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, lr: float,
                     batch_size: int = 256, seed: int = 0) -> float:
    """``clients.forecast.fit`` in place with each weight's gradient masked, so pruned entries stay exactly 0."""
    return fit_keeping_zeros(model, X, y, epochs, lr, batch_size, seed)


def distill(teacher: torch.nn.Module, student_spec: ModelSpec, X: np.ndarray, y: np.ndarray, epochs: int,
            lr: float, alpha: float = 0.5, seed: int = 0, batch_size: int = 256) -> torch.nn.Module:
    """A ``student_spec`` model trained on ``alpha * MSE(s, y) + (1 - alpha) * MSE(s, teacher)``.

    X must suit both models (same window and input features). The teacher is run once, in batches.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    soft = predict(teacher, X)
    target = (alpha * np.asarray(y, np.float32) + (1.0 - alpha) * soft).astype(np.float32)
    student = build_model(student_spec, seed)
    fit(student, X, target, epochs, lr, batch_size=batch_size, seed=seed)
    return student


@dataclass(frozen=True)
class ReportBudget:
    """Training effort of ``compression_report`` (epochs x samples per epoch, fresh subsample each epoch)."""

    edge_epochs: int = 10
    edge_samples: int = 120_000
    cloud_epochs: int = 8
    cloud_samples: int = 50_000
    reference_epochs: int = 10
    reference_samples: int = 120_000
    prune_epochs: int = 2
    prune_samples: int = 50_000
    distill_epochs: int = 10
    distill_pool: int = 120_000
    val_samples: int = 10_000


def _row(name: str, spec: ModelSpec, nbytes: int, pred: np.ndarray, y: np.ndarray, **extra) -> dict:
    cost = model_cost(spec)
    return {"name": name, "spec": spec, "bytes": int(nbytes), "flops": cost.flops_per_inference,
            **scores(pred, y), **extra}


def _pruned_rows(edge, edge_spec: ModelSpec, sparsity: float, x_train, x_test, y_train, y_test,
                 rng: np.random.Generator, budget: ReportBudget, lr: float, seed: int, log) -> list[dict]:
    """The edge model pruned to `sparsity`, before and after a brief fine-tune with its mask; scored as stored:
    int8 weights (zeros stay zero), the sparse format's bytes."""
    pruned = prune(edge, sparsity)
    rows = [_row(f"edge pruned {sparsity:.0%}, no fine-tune (int8 sparse)", edge_spec, sparse_bytes(pruned),
                 predict(quantize_int8(pruned), x_test), y_test, sparsity=weight_sparsity(pruned))]
    take = rng.choice(len(y_train), size=min(budget.prune_samples, len(y_train)), replace=False)
    t = time.perf_counter()
    fine_tune_pruned(pruned, x_train[take], y_train[take], budget.prune_epochs, lr / 3, seed=seed)
    log(f"fine-tuned pruned model in {time.perf_counter() - t:.1f} s")
    rows.append(_row(f"edge pruned {sparsity:.0%} + fine-tune (int8 sparse)", edge_spec, sparse_bytes(pruned),
                     predict(quantize_int8(pruned), x_test), y_test, sparsity=weight_sparsity(quantize_int8(pruned))))
    return rows


def _feature_and_cell_rows(trained, edge_spec: ModelSpec, calendar: bool, projections: tuple[ModelSpec, ...],
                           budget: ReportBudget, test) -> list[dict]:
    """The edge model with calendar features, and each LSTM with a projection: same protocol, budget and seed."""
    rows = []
    if calendar and not edge_spec.calendar:
        cal_spec = ModelSpec(cell=edge_spec.cell, hidden=edge_spec.hidden, layers=edge_spec.layers,
                             window=edge_spec.window, calendar=True)
        cal = trained(cal_spec, budget.edge_epochs, budget.edge_samples)
        rows.append(_row("edge fp32 + calendar features", cal_spec, model_cost(cal_spec).bytes_fp32,
                         predict(cal, reference_inputs(test, True)), test.y))
    for spec in projections:  # lighter recurrent cells
        model = trained(spec, budget.edge_epochs, budget.edge_samples)
        rows.append(_row(f"edge LSTM h={spec.hidden} proj={spec.proj_size}", spec, model_cost(spec).bytes_fp32,
                         predict(model, reference_inputs(test, spec.calendar)), test.y))
    return rows


def compression_report(splits: dict[str, ReferenceSplit] | None = None, edge_spec: ModelSpec = ModelSpec(hidden=16),
                       cloud_spec: ModelSpec = CLOUD_SPEC, reference_hidden: int | None = 32,
                       sparsity: float = 0.5, alpha: float = 0.5, lr: float = 3e-3, seed: int = 0,
                       budget: ReportBudget = ReportBudget(), calendar: bool = True,
                       projections: tuple[ModelSpec, ...] = (), verbose: bool = False) -> dict:
    """Bytes, FLOPs and test MSE/MAE on the reference protocol for the naive baselines and every model variant.

    Rows: persistence, same hour yesterday, central LSTM h=``reference_hidden`` (None skips it), fp32
    edge, its int8 version (``quantize_int8``), the edge model pruned to ``sparsity`` and fine-tuned
    briefly with its mask, an edge-sized student distilled from the cloud model, the fp32 cloud model,
    (``calendar``) the edge model with calendar features, and one row per LSTM with a projection in
    ``projections``, trained with the edge model's budget and seed. Pruned rows are scored with int8 weights, as
    their sparse format stores them. Returns {"rows": [...], "seconds": ...}.
    """
    t_start = time.perf_counter()
    splits = splits or reference_splits()
    train, test = splits["train"], splits["test"]
    rng = np.random.default_rng(seed + 7)
    log = print if verbose else (lambda *a, **k: None)
    rows: list[dict] = []
    naive = naive_reference(splits)
    x_test = reference_inputs(test, False)
    rows.append(_row("persistence", edge_spec, 0, test.X[:, -1], test.y, flops=0.0))
    rows.append(_row("same hour yesterday", edge_spec, 0, test.X[:, -24], test.y, flops=0.0))
    assert abs(rows[0]["mse"] - naive["persistence"]["mse"]) < 1e-9

    def trained(spec: ModelSpec, epochs: int, samples: int) -> torch.nn.Module:
        t = time.perf_counter()
        model, val = train_reference(spec, splits, epochs, samples, lr, seed=seed, val_samples=budget.val_samples)
        log(f"trained {spec} in {time.perf_counter() - t:.1f} s (val MSE {val:.3f})")
        return model

    if reference_hidden is not None:
        ref_spec = ModelSpec(hidden=reference_hidden)
        ref = trained(ref_spec, budget.reference_epochs, budget.reference_samples)
        rows.append(_row(f"central LSTM h={reference_hidden} (reference)", ref_spec, model_cost(ref_spec).bytes_fp32,
                         predict(ref, x_test), test.y))

    edge = trained(edge_spec, budget.edge_epochs, budget.edge_samples)
    x_test_edge = reference_inputs(test, edge_spec.calendar)
    fp32 = predict(edge, x_test_edge)
    edge_cost = model_cost(edge_spec)
    rows.append(_row("edge fp32", edge_spec, edge_cost.bytes_fp32, fp32, test.y))
    rows.append(_row("edge int8", edge_spec, edge_cost.bytes_int8, predict(quantize_int8(edge), x_test_edge), test.y))

    x_train_edge = reference_inputs(train, edge_spec.calendar)
    rows += _pruned_rows(edge, edge_spec, sparsity, x_train_edge, x_test_edge, train.y, test.y, rng, budget, lr,
                         seed, log)

    cloud = trained(cloud_spec, budget.cloud_epochs, budget.cloud_samples)
    x_test_cloud = reference_inputs(test, cloud_spec.calendar)
    cloud_row = _row("cloud fp32", cloud_spec, model_cost(cloud_spec).bytes_fp32, predict(cloud, x_test_cloud), test.y)

    if cloud_spec.calendar == edge_spec.calendar and cloud_spec.window == edge_spec.window:
        pool = rng.choice(len(train.y), size=min(budget.distill_pool, len(train.y)), replace=False)
        t = time.perf_counter()
        student = distill(cloud, edge_spec, x_train_edge[pool], train.y[pool], budget.distill_epochs, lr, alpha, seed)
        log(f"distilled student in {time.perf_counter() - t:.1f} s")
        rows.append(_row(f"edge distilled from cloud (alpha {alpha})", edge_spec, edge_cost.bytes_fp32,
                         predict(student, x_test_edge), test.y))
    rows.append(cloud_row)

    rows += _feature_and_cell_rows(trained, edge_spec, calendar, projections, budget, test)
    persistence_mse = rows[0]["mse"]
    for row in rows:
        row["gain_vs_persistence"] = 1.0 - row["mse"] / persistence_mse
    return {"rows": rows, "seconds": time.perf_counter() - t_start, "test_samples": int(len(test.y))}

