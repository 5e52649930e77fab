"""Strategies and client selection are registries by scenario name: every name the schema allows has an entry."""
from __future__ import annotations

from typing import get_args

from server.selection import SELECTIONS
from server.strategies import STRATEGIES, make_strategy
from sim.scenario_federation import Federation


def test_every_strategy_and_selection_the_schema_allows_is_registered_and_no_other():
    assert set(STRATEGIES) == set(get_args(Federation.model_fields["strategy"].annotation))
    assert set(SELECTIONS) == set(get_args(Federation.model_fields["selection"].annotation))


def test_each_strategy_builds_flowers_own_class_with_the_scenarios_settings():
    for name in STRATEGIES:
        fed = Federation(strategy=name, server_learning_rate=0.2, proximal_mu=0.05)
        strategy = make_strategy(fed)
        assert type(strategy).__name__.lower() == name, (name, type(strategy).__name__)
    assert make_strategy(Federation(strategy="fedprox", proximal_mu=0.05)).proximal_mu == 0.05
