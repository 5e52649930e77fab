"""A policy learned in sim.envs: a saved multilayer perceptron that maps the feature vector to a target.

The model is a plain .npz export (numpy only: the engine never imports Stable-Baselines3 or torch):
`w0, b0, w1, b1, ...` with a tanh after every layer but the last, whose argmax is the target, and
`features`, the feature names it was trained on (checked against sim.policies.features at load time).
sim/envs/export.py writes one from an SB3 policy; examples/train_ppo.py trains and exports one.
"""
from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sim.policies.base import CLOUD, EDGE, BasePolicy, Param
from sim.policies.features import FEATURES, features
from sim.policies.observation import Observation

# trained on scenarios/congested.yaml by examples/train_ppo.py (docs/rl.md)
BUNDLED = "learned_congested.npz"


def load_mlp(path: str | Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (weights, bias) layers of an exported model; ValueError if it was trained on other features."""
    with np.load(path, allow_pickle=False) as saved:
        names = tuple(str(n) for n in saved["features"])
        expected = tuple(name for name, _ in FEATURES)
        if names != expected:
            raise ValueError(f"{path}: trained on features {', '.join(names)}; this edgefed has {', '.join(expected)}")
        layers = []
        while f"w{len(layers)}" in saved:
            k = len(layers)
            layers.append((saved[f"w{k}"].astype(np.float64), saved[f"b{k}"].astype(np.float64)))
    if not layers or layers[0][0].shape[1] != len(expected) or layers[-1][0].shape[0] != 3:
        raise ValueError(f"{path}: not an MLP from {len(expected)} features to 3 targets")
    return layers


class Learned(BasePolicy):
    """The target a trained MLP scores highest on the normalised observation (trained with sim.envs)."""

    name = "learned"
    params = {"path": Param("", "the exported model (.npz); empty: the bundled one trained on congested.yaml")}

    def __init__(self, rng: np.random.Generator, **values: Any):
        super().__init__(rng, **values)
        try:
            self.layers = load_mlp(self.path or resources.files(__package__).joinpath(BUNDLED))
        except OSError as exc:
            raise ValueError(f"learned policy: cannot read {self.path or BUNDLED}: {exc.strerror or exc}") from None

    def decide(self, obs: Observation) -> int:
        x = features(obs).astype(np.float64)
        *hidden, (w_out, b_out) = self.layers
        for w, b in hidden:
            x = np.tanh(w @ x + b)
        score = w_out @ x + b_out
        if obs.edge_wait_s == math.inf or obs.cloud_wait_s == math.inf:  # a target that timed out (sim.outages):
            score[[t for t, wait in ((EDGE, obs.edge_wait_s), (CLOUD, obs.cloud_wait_s)) if wait == math.inf]] = \
                -math.inf  # its features are clipped, so the model cannot tell; never choose it till a probe answers
        return int(np.argmax(score))
