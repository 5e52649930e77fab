"""The in-process Grid behaves as Flower's simulation engine does for a ClientApp, and failures read as one line."""
from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

from server.coordinator import FederationFailed, check_not_all_failed, client_cause
from server.inprocess import InProcessGrid, run_in_process


def _toy_app() -> ClientApp:
    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        if msg.content["config"].get("fail", False):
            raise FileNotFoundError(f"no data for partition {context.node_config['partition-id']}")
        calls = int(context.state["metrics"]["calls"]) + 1 if "metrics" in context.state else 1
        context.state["metrics"] = MetricRecord({"calls": calls})
        arrays = msg.content["arrays"].to_numpy_ndarrays()
        arrays[0] += 1.0  # in place: the sender's copy must not change
        metrics = MetricRecord({"partition-id": int(context.node_config["partition-id"]), "calls": calls,
                                "num-partitions": int(context.node_config["num-partitions"])})
        return Message(RecordDict({"arrays": ArrayRecord(arrays), "metrics": metrics}), reply_to=msg)

    return app


def _train(grid: InProcessGrid, fail: bool = False) -> tuple[list[Message], list[Message]]:
    sent = [Message(RecordDict({"arrays": ArrayRecord([np.zeros(3)]), "config": ConfigRecord({"fail": fail})}),
                    dst_node_id=nid, message_type=MessageType.TRAIN) for nid in sorted(grid.get_node_ids())]
    return sent, list(grid.send_and_receive(sent, timeout=5))


def _in_a_server_app(body) -> dict:
    """Run body(grid) inside a ServerApp's main, as the runner does (Flower's message identity set)."""
    out: dict = {}
    app = ServerApp()

    @app.main()
    def main(grid, context):
        out["result"] = body(grid)

    run_in_process(app, _toy_app(), 3, seed=7)
    return out["result"]


def test_each_node_has_its_partition_and_a_state_that_persists():
    def body(grid):
        _train(grid)
        return _train(grid)

    sent, replies = _in_a_server_app(body)
    assert len(replies) == 3
    by_reply = {r.metadata.reply_to_message_id: r for r in replies}
    metrics = [by_reply[m.metadata.message_id].content["metrics"] for m in sent]
    assert sorted(int(m["partition-id"]) for m in metrics) == [0, 1, 2]
    assert all(int(m["num-partitions"]) == 3 for m in metrics)
    assert all(int(m["calls"]) == 2 for m in metrics)  # the second call saw the first one's state
    for m in sent:  # delivered as a copy, as Ray pickles it: the ClientApp's in-place edit stays on the device
        np.testing.assert_array_equal(m.content["arrays"].to_numpy_ndarrays()[0], np.zeros(3))
    for m in sent:
        reply = by_reply[m.metadata.message_id]
        assert reply.metadata.src_node_id == m.metadata.dst_node_id and reply.metadata.message_id
        np.testing.assert_array_equal(reply.content["arrays"].to_numpy_ndarrays()[0], np.ones(3))


def test_node_ids_are_random_but_seeded_and_never_the_partition():
    a, b, c = InProcessGrid(_toy_app(), 50, 1), InProcessGrid(_toy_app(), 50, 1), InProcessGrid(_toy_app(), 50, 2)
    assert list(a.get_node_ids()) == list(b.get_node_ids()) != list(c.get_node_ids())
    assert len(set(a.get_node_ids())) == 50 and min(a.get_node_ids()) > 1000


def test_a_raising_client_app_answers_with_flowers_error_reply():
    sent, replies = _in_a_server_app(lambda grid: _train(grid, fail=True))
    assert len(replies) == 3 and all(r.has_error() for r in replies)
    assert all(r.error.code == 2 for r in replies)  # ErrorCode.CLIENT_APP_RAISED_EXCEPTION
    assert client_cause(replies[0]).startswith("no data for partition ")


def test_every_client_failing_is_one_line_naming_their_cause():
    sent, replies = _in_a_server_app(lambda grid: _train(grid, fail=True))
    by_device = dict(enumerate(replies))
    with pytest.raises(FederationFailed) as caught:
        check_not_all_failed("pretraining round 1 of the edge model", [0, 1, 2], by_device)
    line = str(caught.value)
    assert "\n" not in line and line.startswith("pretraining round 1 of the edge model: the ClientApps of all 3")
    assert "1 reported: no data for partition" in line  # three different texts: the first of the commonest
    check_not_all_failed("round 1", [0, 1, 2, 3], {**by_device, 3: _in_a_server_app(lambda g: _train(g))[1][0]})


def test_a_supernodes_reason_keeps_the_exception_type():
    class Reply:
        error = type("E", (), {"reason": "<class 'clients.data.DataMissing'>:<'household data x.csv.gz not "
                                          "found (looked in /a; /b):\ninstall edgefed'>", "code": 2})()

    assert client_cause(Reply()) == "DataMissing: household data x.csv.gz not found (looked in /a; /b): install edgefed"
    assert client_cause(None) == "no reply within Flower's timeout"
    ray = type("R", (), {"error": type("E", (), {"code": 2, "reason": (
        "<class 'ray.exceptions.RayTaskError(ClientAppException)'>:<'\x1b[36mray::ClientAppActor.run()\x1b[39m "
        "(pid=1)\n  File \"clients/data.py\", line 48\nclients.data.DataMissing: no data\n\nThe above exception "
        "was the direct cause of the following exception:\n\nflwr.clientapp.client_app.ClientAppException: \n"
        "Exception ClientAppException occurred. Message: EDGEFED_DATA=/x.csv.gz: no such file'>")})()})()
    assert client_cause(ray) == "EDGEFED_DATA=/x.csv.gz: no such file"  # Ray's remote traceback, cut to the cause


def test_auto_runs_small_federations_in_process_and_large_ones_or_a_cluster_on_ray(monkeypatch):
    from sim import scenario as scenarios
    from sim.app.runner import INPROCESS_MAX_TRAIN_CALLS, choose_backend

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    quickstart = scenarios.load("scenarios/quickstart.yaml")
    assert choose_backend(quickstart) == "inprocess"  # 3 x 10 x 2 models + 2 x 8 = 76 updates
    data = quickstart.model_dump(mode="json")
    data["federation"].update(rounds=40, clients_per_round=10)  # 60 + 400 updates
    assert 60 + 400 > INPROCESS_MAX_TRAIN_CALLS and choose_backend(scenarios.parse(data, "big")) == "ray"
    assert choose_backend(scenarios.with_overrides(quickstart, backend="ray")) == "ray"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert choose_backend(quickstart) == "ray"
    assert choose_backend(scenarios.with_overrides(quickstart, backend="inprocess")) == "inprocess"
    with pytest.raises(scenarios.ScenarioError, match="backend"):
        scenarios.with_overrides(quickstart, backend="threads")
