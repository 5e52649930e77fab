"""Pretrained models cached on disk: keyed by what determines them, and a hit gives the results of a miss."""
from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim import scenario as scenarios
from sim.app import pretrain_cache, runner

TINY = {
    "name": "tiny", "seed": 4, "duration": "10min", "policy": {"name": "greedy"},
    "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 1, "clients_per_round": 2, "local_epochs": 1,
                                                  "span": "3d"}},
}


def tiny(**changes) -> scenarios.Scenario:
    data = json.loads(json.dumps(TINY))
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    return scenarios.Scenario.model_validate(data)


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEFED_CACHE_DIR", str(tmp_path / "cache"))
    runner._train.cache_clear()
    yield tmp_path / "cache"
    runner._train.cache_clear()


@pytest.mark.parametrize("change", [{"seed": 5}, {"models.edge.hidden": 9}, {"federation.pretrain.rounds": 2},
                                    {"federation.pretrain.span": "4d"}, {"data": {"start": "2013-01-01"}},
                                    {"federation.learning_rate": 0.02}, {"duration": "11min"},
                                    {"fleet": [{**TINY["fleet"][0], "count": 3}]}])
def test_key_changes_with_what_determines_the_model(change):
    assert pretrain_cache.pretrain_key(tiny(**change)) != pretrain_cache.pretrain_key(tiny())


@pytest.mark.parametrize("change", [{"policy": {"name": "local"}}, {"name": "other"}, {"description": "x"},
                                    {"output": {"requests": "none"}}])
def test_key_ignores_what_cannot_change_the_model(change):
    assert pretrain_cache.pretrain_key(tiny(**change)) == pretrain_cache.pretrain_key(tiny())


def test_store_and_load_give_the_same_bits(empty_cache):
    rng = np.random.default_rng(0)
    edge = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=5)]
    rows = [{"phase": "pretrain", "round": 1, "train_loss": math.nan, "start_s": 0.0}]
    assert pretrain_cache.store("k1", edge, None, rows) == empty_cache / "pretrained" / "k1.npz"
    loaded_edge, cloud, loaded_rows = pretrain_cache.load("k1")
    assert cloud is None and [a.dtype for a in loaded_edge] == [np.float32, np.float64]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(edge, loaded_edge))
    assert math.isnan(loaded_rows[0]["train_loss"]) and loaded_rows[0]["round"] == 1
    assert [p.name for p in (empty_cache / "pretrained").iterdir()] == ["k1.npz"]  # no temporary left


def test_a_damaged_entry_is_a_miss(empty_cache):
    (empty_cache / "pretrained").mkdir(parents=True)
    (empty_cache / "pretrained" / "k2.npz").write_bytes(b"PK\x03\x04 half a file")
    assert pretrain_cache.load("k2") is None


def test_second_pretrained_call_loads_what_the_first_trained(monkeypatch):
    calls = []

    def fake_train(scenario_json):
        calls.append(scenario_json)
        return [np.full(3, 0.1, np.float32)], None, [{"phase": "pretrain", "round": 1}]

    fake_train.cache_clear = lambda: None
    monkeypatch.setattr(runner, "_train", fake_train)
    first = runner.pretrained(tiny())
    second = runner.pretrained(tiny(policy={"name": "local"}, duration="2h"))  # same model: a hit
    assert len(calls) == 1
    assert first.note.startswith("trained, now cached (key ") and second.note.startswith("cached (key ")
    assert first.note[-13:] == second.note[-13:]
    assert second.edge[0].tobytes() == first.edge[0].tobytes() and second.rounds == first.rounds
    runner.pretrained(tiny(seed=9))
    assert len(calls) == 2  # another seed: another model


def _requests(result) -> dict:
    return {k: v.tobytes() for k, v in result.requests.items()}


@pytest.mark.slow  # pretrains through Flower on Ray once
def test_a_cache_hit_gives_the_results_of_a_miss_bit_for_bit(tmp_path):
    miss = runner.run_scenario(tiny())
    runner._train.cache_clear()  # the next run must read the disk, not this process's memory
    hit = runner.run_scenario(tiny())
    assert miss.pretrained_note.startswith("trained") and hit.pretrained_note.startswith("cached")
    assert hit.summary == miss.summary and _requests(hit) == _requests(miss) and hit.rounds == miss.rounds
    runner.write_run(miss, tmp_path / "miss", plots=False)
    runner.write_run(hit, tmp_path / "hit", plots=False)
    assert pq.read_table(tmp_path / "miss" / "requests.parquet").equals(pq.read_table(tmp_path / "hit" / "requests.parquet"))


@pytest.mark.slow  # two federated runs through Flower on Ray
def test_a_federated_run_from_cached_pretraining_equals_one_that_pretrained():
    fed = {"enabled": True, "rounds": 1, "first_round_at": "2min", "every": "5min", "clients_per_round": 2,
           "local_epochs": 1, "train_span": "2d", "round_deadline": "2min"}
    scenario = tiny(federation={**TINY["federation"], **fed})
    miss = runner.run_scenario(scenario)
    hit = runner.run_scenario(scenario)
    assert miss.pretrained_note.startswith("trained") and hit.pretrained_note.startswith("cached")
    assert hit.summary == miss.summary and _requests(hit) == _requests(miss)
    assert hit.rounds == miss.rounds and hit.round_clients == miss.round_clients
