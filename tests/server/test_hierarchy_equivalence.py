"""Must-hold through Flower: hierarchical FL with one site and k = 1 gives exactly flat FedAvg's global models.

tests/server/test_hierarchy.py holds it with a stand-in fleet; this runs the real ClientApp (local LSTM training on
each device's own household) under Flower's simulation engine, so the seeds, training windows and aggregation
order a device sees must agree too. Bit for bit: every global version's arrays are compared with ==.
"""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.app.runner import run_federated


def _one_site(**federation) -> scenarios.Scenario:
    return scenarios.parse({
        "name": "one-site", "seed": 4, "duration": "40min", "policy": {"name": "local"},
        "sites": [{"name": "only", "cells": [{"name": "only-wifi", "link": "wifi"}]}],
        "fleet": [{"profile": "raspberry-pi-4", "count": 5, "link": "wifi", "site": "only",
                   "workload": {"kind": "periodic", "rate": "1/min", "deadline": "100ms"}}],
        "models": {"edge": {"hidden": 8}},
        "federation": {"rounds": 3, "first_round_at": "1min", "every": "10min", "clients_per_round": 3,
                       "local_epochs": 1, "train_span": "3d", "pretrain": {"rounds": 0}, "round_deadline": "5min",
                       **federation}}, "one-site")


@pytest.mark.slow
def test_one_site_and_k_1_through_flower_gives_flat_fedavgs_models_bit_for_bit():
    flat = run_federated(_one_site())["world"]
    hier = run_federated(_one_site(hierarchy={"edge_rounds_per_cloud": 1}))["world"]
    assert sorted(flat.versions) == sorted(hier.versions) == [0, 1, 2, 3]
    for version in (1, 2, 3):
        for a, b in zip(flat.versions[version], hier.versions[version]):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(flat.versions[0], flat.versions[3]))  # it did train
