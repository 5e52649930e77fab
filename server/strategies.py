"""Flower aggregation strategies by scenario name (Flower's own implementations, optionally DP-wrapped)."""
from __future__ import annotations

from flwr.serverapp import strategy as flower


def make_strategy(fed, clients: int | None = None):
    """The scenario's strategy; node sampling is ours (fraction 1 of the nodes the coordinator offers)."""
    common = dict(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=1,
                  min_evaluate_nodes=0)
    name = fed.strategy
    if name == "fedavg":
        chosen = flower.FedAvg(**common)
    elif name == "fedprox":  # FedProx sends proximal-mu; the ClientApp adds the proximal term
        chosen = flower.FedProx(**common, proximal_mu=fed.proximal_mu)
    elif name == "fedadam":
        chosen = flower.FedAdam(**common, eta=fed.server_learning_rate)
    elif name == "fedyogi":
        chosen = flower.FedYogi(**common, eta=fed.server_learning_rate)
    elif name == "fedavgm":
        chosen = flower.FedAvgM(**common, server_learning_rate=fed.server_learning_rate,
                                server_momentum=fed.server_momentum)
    else:
        raise ValueError(f"unknown strategy {name!r}")
    if fed.dp_noise_multiplier is not None:
        chosen = flower.DifferentialPrivacyServerSideFixedClipping(
            chosen, noise_multiplier=fed.dp_noise_multiplier, clipping_norm=fed.dp_clipping_norm,
            num_sampled_clients=clients or fed.clients_per_round)
    return chosen
