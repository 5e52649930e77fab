"""The in-process backend gives the Ray backend's results bit for bit, and only arrays and metrics leave a device."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim import scenario as scenarios
from sim.app.runner import choose_backend, run_federated, run_scenario, write_run

from tests.e2e.test_run import TINY

COMPARED = ("rounds.csv", "round_clients.csv", "versions.csv", "devices.csv", "summary.json")
ALLOWED_METRICS = {"partition-id", "num-examples", "train-loss", "update-bytes", "errors", "baseline-errors"}


def _quickstart(backend: str) -> scenarios.Scenario:
    """The quickstart with one light pretraining round (its default three, of an edge and a cloud LSTM, take a
    minute here and test nothing about the backends)."""
    data = scenarios.load("scenarios/quickstart.yaml").model_dump(mode="json")
    data["federation"].update(backend=backend, pretrain={**data["federation"]["pretrain"], "rounds": 1,
                                                          "clients_per_round": 4})
    return scenarios.parse(data, "quickstart")


def _hard(backend: str) -> scenarios.Scenario:
    """Everything that keeps state on a node or fails: top-k residuals, personal copies, pooled supernodes,
    injected faults; pretrained through the backend itself (no cache)."""
    data = {**TINY, "duration": "2h", "fleet": [{**g, "count": 3} for g in TINY["fleet"]],
            "federation": {**TINY["federation"], "rounds": 3, "every": "30min", "first_round_at": "10min",
                           "clients_per_round": 5, "compression": "top-k", "personalise": True, "fault_rate": 0.3,
                           "pretrain": {"rounds": 1, "clients_per_round": 3}, "supernodes": 4, "backend": backend}}
    return scenarios.parse(data, "hard")


@pytest.mark.slow
def test_quickstart_run_directories_are_identical_under_both_backends(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEFED_CACHE_DIR", str(tmp_path / "cache"))  # pretrained once, by the first run
    assert choose_backend(_quickstart("auto")) == "inprocess"
    runs = {}
    for backend in ("inprocess", "ray"):
        result = run_scenario(_quickstart(backend))
        runs[backend] = write_run(result, tmp_path / backend, plots=False)
    assert "cached" in result.pretrained_note  # the cache key does not depend on the backend
    for name in COMPARED:
        assert (runs["inprocess"] / name).read_bytes() == (runs["ray"] / name).read_bytes(), name
    a, b = (pq.read_table(runs[k] / "requests.parquet") for k in ("inprocess", "ray"))
    assert a.num_rows > 50_000 and a.equals(b)


@pytest.mark.slow
def test_stateful_and_failing_clients_match_and_only_arrays_and_metrics_leave(tmp_path, monkeypatch):
    runs = {}
    for backend in ("inprocess", "ray"):  # each pretrains through its own backend: a cache of its own
        monkeypatch.setenv("EDGEFED_CACHE_DIR", str(tmp_path / f"cache-{backend}"))
        runs[backend] = run_federated(_hard(backend))
    here, ray = runs["inprocess"], runs["ray"]
    assert all(out["pretrained_note"].startswith("trained") for out in runs.values())
    assert here["rounds"] == ray["rounds"] and here["round_clients"] == ray["round_clients"]
    assert sum(r["failed"] for r in here["rounds"] if r["phase"] == "deploy") >= 1  # faults fired
    assert here["world"].versions.keys() == ray["world"].versions.keys() == {0, 1, 2, 3}
    for version in here["world"].versions:
        for x, y in zip(here["world"].versions[version], ray["world"].versions[version]):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(here["world"].table()["forecast_error"], ray["world"].table()["forecast_error"])
    assert here["versions"] == ray["versions"]
    # the privacy audit, on the in-process exchange: the same kinds of records as under Ray, nothing else
    kinds = []
    for out in (here, ray):
        replies = [m for m in out["exchanged"] if m.metadata.reply_to_message_id]
        errors = sum(m.has_error() for m in replies)
        shapes = sorted((m.metadata.message_type, tuple(m.content.array_records), tuple(m.content.config_records),
                         tuple(sorted(k for r in m.content.metric_records.values() for k in r)))
                        for m in replies if not m.has_error())
        kinds.append((len(replies), errors, shapes))
        for message_type, arrays, configs, metrics in shapes:
            assert set(arrays) <= {"arrays"} and not configs and set(metrics) <= ALLOWED_METRICS
    assert kinds[0] == kinds[1] and kinds[0][1] >= 1 and kinds[0][0] >= 30  # pretraining, rounds, scoring


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["inprocess", "ray"])
def test_devices_without_their_data_stop_the_run_with_one_line_naming_it(backend, tmp_path, monkeypatch):
    from clients import data as household_data, device
    from server.coordinator import FederationFailed

    # in process, devices share this process's caches: forget any household series an earlier test read
    for cached in (household_data._household_raw, household_data.eligible_households, device._series):
        cached.cache_clear()
    monkeypatch.setenv("EDGEFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGEFED_DATA", str(tmp_path / "nowhere.csv.gz"))  # read by the ClientApps (Ray workers too)
    data = {**TINY, "federation": {**TINY["federation"], "pretrain": {"rounds": 1, "clients_per_round": 2},
                                   "backend": backend}}
    with pytest.raises(FederationFailed) as caught:
        run_federated(scenarios.parse(data, "no-data"))
    assert str(caught.value) == (f"pretraining round 1 of the edge model: the ClientApps of all 2 devices failed (2 "
                                 f"reported: EDGEFED_DATA={tmp_path / 'nowhere.csv.gz'}: no such file (it must name "
                                 f"sgsc_households_hourly.csv.gz))")
