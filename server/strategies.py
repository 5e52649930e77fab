"""Flower aggregation strategies by scenario name (Flower's own implementations, optionally DP-wrapped)."""
from __future__ import annotations

from flwr.serverapp import strategy as flower


# name -> the Flower strategy it builds from the scenario's federation settings (the shared keyword arguments first)
STRATEGIES = {
    "fedavg": lambda fed, common: flower.FedAvg(**common),
    # FedProx sends proximal-mu; the ClientApp adds the proximal term
    "fedprox": lambda fed, common: flower.FedProx(**common, proximal_mu=fed.proximal_mu),
    "fedadam": lambda fed, common: flower.FedAdam(**common, eta=fed.server_learning_rate),
    "fedyogi": lambda fed, common: flower.FedYogi(**common, eta=fed.server_learning_rate),
    "fedavgm": lambda fed, common: flower.FedAvgM(**common, server_learning_rate=fed.server_learning_rate,
                                                  server_momentum=fed.server_momentum),
}


def make_strategy(fed, clients: int | None = None):
    """The scenario's strategy; node sampling is ours (fraction 1 of the nodes the coordinator offers). `clients`:
    the updates a round aggregates, for server-side DP's sampling (default clients_per_round)."""
    common = dict(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=1,
                  min_evaluate_nodes=0)
    build = STRATEGIES.get(fed.strategy)
    if build is None:
        raise ValueError(f"unknown strategy {fed.strategy!r}; allowed: {', '.join(STRATEGIES)}")
    chosen = build(fed, common)
    if fed.dp_noise_multiplier is not None:
        chosen = flower.DifferentialPrivacyServerSideFixedClipping(
            chosen, noise_multiplier=fed.dp_noise_multiplier, clipping_norm=fed.dp_clipping_norm,
            num_sampled_clients=clients or fed.clients_per_round)
    return chosen
