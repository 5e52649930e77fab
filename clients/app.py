"""The Flower ClientApp of one device: trains and scores forecasts on its own household's data only."""
from __future__ import annotations

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from clients.compression import encode, encoded_bytes
from clients.device import DeviceSettings, score_requests
from clients.forecast import train_local
from clients.model import CLOUD_MODEL, PERSONAL_MODEL


def _model_version(key: str) -> tuple[int, int]:
    """Record "arrays-m1-v0" -> (1, 0): which shared model and version an evaluate message's array record holds."""
    model, version = key.removeprefix("arrays-m").split("-v")
    return int(model), int(version)


def make_client_app() -> ClientApp:
    """One device's ClientApp; its deployment settings arrive in each message's config."""
    app = ClientApp()

    def partition(context: Context) -> int:
        return int(context.node_config["partition-id"])

    def device(msg: Message, context: Context) -> int:
        """The device this message is for: a node may host several (its state keys are per device)."""
        return int(msg.content["config"].get("device", partition(context)))

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        return Message(RecordDict({"metrics": MetricRecord({"partition-id": partition(context)})}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)  # one core per ClientApp, as its Ray resources say
        config = msg.content["config"]
        settings = DeviceSettings.from_config(config)
        pid = device(msg, context)
        server_round = int(config["server-round"])
        fault_rate = float(config.get("fault-rate", 0.0))
        if fault_rate and np.random.default_rng([settings.seed, server_round, pid]).random() < fault_rate:
            raise RuntimeError(f"injected fault on device {pid} in round {server_round}")
        start = msg.content["arrays"].to_numpy_ndarrays()
        teacher = None
        if "teacher" in msg.content.array_records:  # distillation: the cloud model's weights came along
            teacher = (settings.specs[CLOUD_MODEL], msg.content["teacher"].to_numpy_ndarrays(),
                       float(config["distill-alpha"]))
        arrays, examples, loss = train_local(
            start, settings.series(pid), settings.trained_spec(config), teacher=teacher,
            until_sim_hour=int(config["sim-hour"]), span_hours=int(config["train-span-hours"]),
            epochs=int(config["local-epochs"]), lr=float(config["learning-rate"]),
            proximal_mu=float(config.get("proximal-mu", 0.0)),
            seed=settings.seed * 100003 + server_round * 1009 + pid)
        codec = str(config.get("compression", "none"))
        residual = context.state.array_records.get(f"residual-{pid}") if codec == "top-k" else None
        payload, residual = encode(arrays, start, codec, float(config.get("topk-fraction", 0.1)),
                                   residual.to_numpy_ndarrays() if residual is not None else None)
        if residual is not None:  # error feedback stays on the device for its next update
            context.state[f"residual-{pid}"] = ArrayRecord(residual)
        if config.get("personalise", False):  # the fine-tuned copy stays to serve this device's own requests
            context.state[f"personal-{pid}-r{server_round}"] = ArrayRecord(arrays)
        metrics = MetricRecord({"num-examples": examples, "train-loss": float(loss) if examples else 0.0,
                                "update-bytes": encoded_bytes(payload)})
        return Message(RecordDict({"arrays": ArrayRecord(payload), "metrics": metrics}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        config = msg.content["config"]
        settings = DeviceSettings.from_config(config)
        forecasts = {key: np.asarray(config[key]) for key in ("hour", "model", "version", "quantized")}
        weights = {_model_version(key): record.to_numpy_ndarrays() for key, record in msg.content.array_records.items()}
        pid = device(msg, context)
        for version in np.unique(forecasts["version"][forecasts["model"] == PERSONAL_MODEL]):
            weights[(PERSONAL_MODEL, int(version))] = context.state[f"personal-{pid}-r{version}"].to_numpy_ndarrays()
        errors, baseline = score_requests(settings, pid, forecasts, weights)
        metrics = MetricRecord({"errors": errors.tolist(), "baseline-errors": baseline.tolist()})
        return Message(RecordDict({"metrics": metrics}), reply_to=msg)

    return app


# the app `flwr run` and a SuperNode load (pyproject.toml [tool.flwr.app.components])
app = make_client_app()
