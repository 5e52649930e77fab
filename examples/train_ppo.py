"""Train a PPO offload policy on edgefed/Offload-v0 and export it for `policy: {name: learned}`.

    pip install -e ".[rl]"
    python examples/train_ppo.py --scenario scenarios/congested.yaml --steps 300000 --out runs/learned/congested.npz
    edgefed compare scenarios/congested.yaml --policies lyapunov,linucb,learned --seeds 5   # bundled model

Episodes are seeded from --seed (default 1000: far from the scenario seeds `edgefed compare` uses, 21-25 for
congested.yaml), so the comparison is on seeds the model never trained on. Saves the SB3 model (.zip) next to
the numpy export (.npz) that the engine loads.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium
import torch
from stable_baselines3 import PPO

import sim.envs  # noqa: F401  registers edgefed/Offload-v0
from sim.envs.export import export_ppo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/congested.yaml")
    parser.add_argument("--steps", type=int, default=300_000, help="environment steps (decisions) to train on")
    parser.add_argument("--seed", type=int, default=1000, help="first training episode's seed")
    parser.add_argument("--out", type=Path, default=Path("runs/learned/congested.npz"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # small MLP: threads cost more than they give; leaves a core for the env
    env = gymnasium.make("edgefed/Offload-v0", scenario=args.scenario, seed=args.seed)
    # a short horizon: a request's outcome is credited a few decisions after it (delayed reward)
    model = PPO("MlpPolicy", env, n_steps=4096, batch_size=512, n_epochs=4, gamma=0.9, gae_lambda=0.9,
                learning_rate=3e-4, ent_coef=0.01, seed=args.seed,
                policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.Tanh}, verbose=0)
    started = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    wall = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out.with_suffix(".zip"))
    export_ppo(model, args.out)
    print(f"trained {args.steps} steps in {wall:.0f} s; wrote {args.out} and {args.out.with_suffix('.zip')}")


if __name__ == "__main__":
    main()
