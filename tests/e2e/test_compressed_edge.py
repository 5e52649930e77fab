"""scenarios/compressed-edge.yaml and bench/compressed_edge.py's variants: each validates, and what the run
charges (deployed bytes, FLOPs per local inference) is clients/spec.py's closed form of the deployed model."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from clients.spec import ModelSpec, closed_form_flops, memory_bytes, model_cost
from sim import scenario as scenarios
from sim.world import World

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("compressed_edge_bench", ROOT / "bench" / "compressed_edge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()
DENSE = ModelSpec(hidden=16)
# the deployed model of each variant in closed form: (bytes on the device, FLOPs per inference)
EXPECTED = {
    "dense int8": (model_cost(DENSE).bytes_int8, closed_form_flops(DENSE)),
    "structured prune 0.5": (model_cost(ModelSpec(hidden=8)).bytes_int8, closed_form_flops(ModelSpec(hidden=8))),
    "unstructured prune 0.5": (None, closed_form_flops(DENSE)),  # sparse bytes: checked against dense below
    "distilled from cloud": (model_cost(DENSE).bytes_int8, closed_form_flops(DENSE)),
    "structured 0.5 + distilled": (model_cost(ModelSpec(hidden=8)).bytes_int8, closed_form_flops(ModelSpec(hidden=8))),
}


def test_the_bundled_scenario_validates_as_structured_pruning_with_distillation():
    scenario = scenarios.load(ROOT / "scenarios" / "compressed-edge.yaml")
    c = scenario.models.edge.compression
    assert (c.prune, c.structured, c.distill_from) == (0.5, True, "cloud")
    assert set(BENCH.VARIANTS) == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_variant_charges_the_closed_form_of_its_deployed_model(name):
    scenario = BENCH.variant(name)
    world = World(scenario)
    nbytes, flops = EXPECTED[name]
    assert world.fleet.flops_per_inference == flops
    assert world.fleet.local_compute_s[0] == pytest.approx(flops / 1e9, rel=1e-12)  # Pi 4B profile: 1e9 FLOP/s
    if nbytes is None:  # bitmask + int8 nonzeros: fewer bytes than dense int8, more than half of them
        dense = model_cost(DENSE).bytes_int8
        assert 0.5 * dense < world.model_bytes < 0.8 * dense
        nbytes = model_cost(scenario.models.edge.spec).bytes_int8
    assert world.model_bytes == nbytes == memory_bytes(scenario.models.edge.spec, int8=True).weights_bytes


@pytest.mark.slow
@pytest.mark.parametrize("name", ["structured prune 0.5", "unstructured prune 0.5"])
def test_a_run_reports_the_deployed_bytes_and_the_closed_form_latency(name):
    row = BENCH.measure(name)
    nbytes, flops = EXPECTED[name]
    assert row["summary_bytes"] == row["bytes"] == (nbytes or row["bytes"])
    assert row["flops"] == flops
    # policy local, one request a minute: a local inference is its compute, flops / (1e9 FLOP/s), nothing else
    assert row["latency_s"] == pytest.approx(flops / 1e9, rel=1e-6)  # latency_s is a float32 column
    assert row["energy_j"] > 0 and 0 < row["mse"] < row["persistence_mse"]
