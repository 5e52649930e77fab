"""Through Flower: a federatedly pretrained cloud model served by the servers, and personal copies kept in
each ClientApp's state that serve its device's local requests and never leave it."""
from __future__ import annotations

import numpy as np
import pytest
from flwr.app import MessageType

from sim import scenario as scenarios
from clients.model import CLOUD_MODEL, EDGE_MODEL, PERSONAL_MODEL
from sim.recorder import SERVED
from sim.app.runner import collect, run_federated

from test_run import TINY


def _scenario() -> scenarios.Scenario:
    data = {**TINY, "duration": "2h",
            "policy": {"name": "random", "params": {"p_local": 0.6, "p_edge": 0.2, "p_cloud": 0.2}},
            "models": {"edge": {"hidden": 8}, "cloud": {"hidden": 32, "layers": 2}},
            "federation": {**TINY["federation"], "rounds": 2, "first_round_at": "10min", "every": "40min",
                           "clients_per_round": 5, "personalise": True,
                           "pretrain": {"rounds": 1, "clients_per_round": 5, "local_epochs": 1}}}
    return scenarios.parse(data, "models-e2e")


@pytest.fixture(scope="module")
def run():
    return run_federated(_scenario())


@pytest.mark.slow
def test_every_model_answers_and_every_forecast_is_scored(run):
    world = run["world"]
    t = world.table()
    served = t["dropped"] == SERVED
    assert world.cloud_arrays is not None and [a.shape for a in world.cloud_arrays] != [
        a.shape for a in world.versions[0]]
    counts = {m: int((t["model"][served] == m).sum()) for m in (EDGE_MODEL, CLOUD_MODEL, PERSONAL_MODEL)}
    assert min(counts.values()) > 30, counts
    personal = served & (t["model"] == PERSONAL_MODEL)
    assert set(np.unique(t["model_version"][personal])) <= {1, 2}
    assert np.isfinite(t["forecast_error"][served]).mean() > 0.99  # personal copies were scored on their devices
    summary = collect(world, run["rounds"], run["round_clients"], run["versions"]).summary
    assert set(summary["forecast_mse_by_model"]) == {"edge", "cloud", "personal"}
    assert [r["phase"] for r in run["rounds"]] == ["pretrain", "pretrain-cloud", "deploy", "deploy"]


@pytest.mark.slow
def test_held_out_table_scores_the_cloud_model_and_the_personal_copies(run):
    rows = {(r["model"], r["model_version"]): r for r in run["versions"]}
    assert set(rows) == {("edge", 0), ("edge", 1), ("edge", 2), ("cloud", 0), ("personal", -1)}
    assert rows[("personal", -1)]["devices"] == 5 and rows[("cloud", 0)]["devices"] == 5
    mses = [r["mse"] for r in run["versions"]]
    assert all(np.isfinite(mses)) and len(set(mses)) == len(mses)  # five different models, five different scores


@pytest.mark.slow
def test_personal_copies_never_leave_their_device(run):
    replies = [m for m in run["exchanged"] if m.metadata.reply_to_message_id and not m.has_error()]
    evaluations = [m for m in run["exchanged"] if m.metadata.message_type == MessageType.EVALUATE
                   and not m.metadata.reply_to_message_id]
    assert evaluations  # with personalisation the devices score their own forecasts
    for reply in replies:
        assert set(reply.content.array_records) <= {"arrays"}
        assert set(reply.content.config_records) == set()
    shared = {f"arrays-m{m}-v{v}" for m, v in ((0, 0), (0, 1), (0, 2), (1, 0))}
    for message in evaluations:
        assert set(message.content.array_records) <= shared
