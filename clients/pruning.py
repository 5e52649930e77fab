"""Pruning the edge model's weights, without its data: magnitude pruning (``prune``, unstructured) and
structured pruning of hidden units (``prune_structured``); ``compress_for_deployment`` applies a spec's
compression to the dense weights. The server calls these on aggregated weights only, so this module
imports neither clients.data nor anything that reads it (clients/compress.py has the bench and the docs).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

from clients.model import ModelSpec, build_model

SCOPES = ("layer", "global")


def _weight_matrices(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if "weight" in name]


def prune(model: torch.nn.Module, sparsity: float, scope: str = "layer") -> torch.nn.Module:
    """A copy of ``model`` with the ``sparsity`` fraction of smallest-|w| weight-matrix entries set to 0."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    out = copy.deepcopy(model)
    matrices = [p for _, p in _weight_matrices(out)]
    with torch.no_grad():
        if scope == "global":
            pooled = torch.cat([p.detach().abs().flatten() for p in matrices])
            k = int(math.floor(sparsity * pooled.numel()))
            if k > 0:
                order = torch.argsort(pooled, stable=True)  # exactly k zeros, ties broken by position
                keep = torch.ones_like(pooled, dtype=torch.bool)
                keep[order[:k]] = False
                at = 0
                for p in matrices:
                    p.mul_(keep[at:at + p.numel()].view_as(p))
                    at += p.numel()
        else:
            for p in matrices:
                k = int(math.floor(sparsity * p.numel()))
                if k > 0:
                    flat = p.view(-1)
                    flat[torch.argsort(flat.abs(), stable=True)[:k]] = 0.0
    return out


def prune_structured(model: torch.nn.Module, spec: ModelSpec) -> torch.nn.Module:
    """The deployed model of a structurally pruned ``spec`` (``spec.deployed``: fewer hidden units per layer),
    keeping in each layer the units whose weights (their gate rows, and where they feed: the next layer, the
    projection or the head) have the largest L2 norm; ``model`` is the dense model (``spec.dense``).

    The kept units' weights are copied unchanged, so the pruned model computes what the dense one would with
    the other units' outputs forced to zero, and costs ``model_cost(spec)``: a dense model of the smaller size.
    """
    dense, small = spec.dense, spec.deployed
    h, k, g = dense.hidden, small.hidden, 4 if dense.cell == "lstm" else 3
    src = {name: p.detach() for name, p in model.rnn.named_parameters()}
    out = build_model(spec, 0)
    dst = dict(out.rnn.named_parameters())
    keep_prev = None  # the previous layer's kept units: the columns of this layer's input (no projection)
    with torch.no_grad():
        for layer in range(dense.layers):
            w_ih, w_hh = src[f"weight_ih_l{layer}"], src[f"weight_hh_l{layer}"]
            rows_of = lambda units: torch.cat([units + gate * h for gate in range(g)])  # noqa: E731
            score = sum(w_ih.view(g, h, -1).pow(2).sum(dim=(0, 2)), w_hh.view(g, h, -1).pow(2).sum(dim=(0, 2)))
            if dense.proj_size:
                score = score + src[f"weight_hr_l{layer}"].pow(2).sum(dim=0)
            elif layer + 1 < dense.layers:
                score = score + src[f"weight_ih_l{layer + 1}"].pow(2).sum(dim=0) + w_hh.pow(2).sum(dim=0)
            else:
                score = score + model.head.weight.detach().pow(2).sum(dim=0) + w_hh.pow(2).sum(dim=0)
            keep = torch.sort(torch.argsort(score, descending=True, stable=True)[:k]).values
            rows = rows_of(keep)
            cols_in = keep_prev if (keep_prev is not None and not dense.proj_size) else slice(None)
            dst[f"weight_ih_l{layer}"].copy_(w_ih[rows][:, cols_in])
            dst[f"weight_hh_l{layer}"].copy_(w_hh[rows][:, slice(None) if dense.proj_size else keep])
            for bias in ("bias_ih", "bias_hh"):
                dst[f"{bias}_l{layer}"].copy_(src[f"{bias}_l{layer}"][rows])
            if dense.proj_size:
                dst[f"weight_hr_l{layer}"].copy_(src[f"weight_hr_l{layer}"][:, keep])
            keep_prev = keep
        out.head.weight.copy_(model.head.weight.detach() if dense.proj_size else model.head.weight.detach()[:, keep_prev])
        out.head.bias.copy_(model.head.bias.detach())
    return out


def compress_for_deployment(arrays: list[np.ndarray], spec: ModelSpec) -> list[np.ndarray]:
    """Weights of the dense model (``spec.dense``) as the deployed model of ``spec`` stores them: structured
    pruning keeps the strongest hidden units, unstructured pruning zeroes the smallest entries of every
    weight matrix (per matrix); no compression returns them unchanged."""
    from clients.model import get_arrays, set_arrays

    c = spec.compression
    if c is None or not c.prune:
        return [np.array(a, np.float32, copy=True) for a in arrays]
    dense = build_model(spec.dense, 0)
    set_arrays(dense, arrays)
    return get_arrays(prune_structured(dense, spec) if c.structured else prune(dense, c.prune))
