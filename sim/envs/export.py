"""Export a Stable-Baselines3 PPO policy to the .npz MLP that sim.policies.learned reads (no SB3 in the engine)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sim.policies.features import FEATURES


def export_ppo(model: Any, path: str | Path) -> Path:
    """Write the actor of an SB3 PPO MlpPolicy (tanh hidden layers, then the action logits) to `path`."""
    import torch

    policy = model.policy
    if policy.activation_fn is not torch.nn.Tanh:
        raise ValueError("sim.policies.learned evaluates tanh hidden layers; train with activation_fn=nn.Tanh")
    linear = [m for m in policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)] + [policy.action_net]
    arrays = {}
    for k, layer in enumerate(linear):
        arrays[f"w{k}"] = layer.weight.detach().cpu().numpy().astype(np.float32)
        arrays[f"b{k}"] = layer.bias.detach().cpu().numpy().astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:  # np.savez on a name would append .npz
        np.savez(out, features=np.array([name for name, _ in FEATURES]), **arrays)
    return path
