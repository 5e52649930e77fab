"""The `models:` and `federation:` sections of a scenario: the forecasters, pretraining and the federated rounds."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim import limits
from sim.limits import shown
from sim.scenario_async import Availability, Staleness
from sim.scenario_hierarchy import Hierarchy
from sim.scenario_types import DataSpan, Duration, Strict


class CompressionConfig(Strict):
    """How the edge model is shrunk in pretraining (clients.spec.Compression): see models.edge.compression."""

    prune: float = Field(default=0.0, ge=0, lt=1, description="share of hidden units (structured) or weights removed")
    structured: bool = False
    distill_from: Literal["cloud"] | None = None


class ModelConfig(Strict):
    cell: Literal["lstm", "gru"] = "lstm"
    hidden: int = Field(default=16, ge=1, le=1024)
    layers: int = Field(default=1, ge=1, le=8)
    window: int = Field(default=24, ge=2, le=24 * 14)
    calendar: bool = False
    proj_size: int = Field(default=0, ge=0, le=1023, description="LSTM projection width; 0: none")
    compression: CompressionConfig | None = None

    @model_validator(mode="after")
    def _projection_fits(self) -> "ModelConfig":
        # (the error's path is the model's: models.edge, models.cloud)
        if self.proj_size and self.cell != "lstm":
            raise ValueError(f"proj_size needs cell 'lstm' (a GRU has no projection), got cell {shown(self.cell)}")
        if self.proj_size and self.proj_size >= self.hidden:
            raise ValueError(f"proj_size must be < hidden ({self.hidden}), got {self.proj_size}")
        return self

    @property
    def spec(self):
        """The architecture as clients.spec.ModelSpec (its ``deployed`` form is what a device runs)."""
        from clients.spec import ModelSpec

        return ModelSpec(**self.model_dump())


class Models(Strict):
    edge: ModelConfig = ModelConfig()
    int8_on_device: bool = True  # devices serve the int8-quantised edge model
    # the larger fp32 model the edge server and the cloud serve; None: they serve the global edge model in fp32
    cloud: ModelConfig | None = None


class Pretrain(Strict):
    """Federated rounds on the devices' history before the deployment starts (not charged in simulated time)."""

    rounds: int = Field(default=3, ge=0, le=limits.MAX_ROUNDS)
    clients_per_round: int = Field(default=10, ge=1, le=limits.MAX_DEVICES)
    local_epochs: int = Field(default=2, ge=1, le=limits.MAX_LOCAL_EPOCHS)
    span: DataSpan = 60 * 86400.0


class Federation(Strict):
    enabled: bool = True
    pretrain: Pretrain = Pretrain()
    rounds: int = Field(default=2, ge=0)
    first_round_at: Duration = 600.0
    every: Duration = 1800.0
    clients_per_round: int = Field(default=5, ge=1, le=limits.MAX_DEVICES)
    local_epochs: int = Field(default=1, ge=1, le=limits.MAX_LOCAL_EPOCHS)
    learning_rate: float = Field(default=0.01, gt=0, le=1)
    train_span: DataSpan = 14 * 86400.0
    round_deadline: Duration = 600.0
    strategy: Literal["fedavg", "fedprox", "fedadam", "fedyogi", "fedavgm"] = "fedavg"
    proximal_mu: float = Field(default=0.01, ge=0, description="fedprox: weight of the client's proximal term")
    server_learning_rate: float = Field(default=0.1, gt=0, description="fedadam/fedyogi eta, fedavgm server lr")
    server_momentum: float = Field(default=0.9, ge=0, lt=1, description="fedavgm momentum")
    selection: Literal["random", "energy-aware", "fastest-k", "availability"] = "random"
    min_battery_soc: float = Field(default=0.3, ge=0, le=1, description="energy-aware: skip devices below this")
    overcommit: float = Field(default=1.3, ge=1, le=5, description="fastest-k: select k x overcommit, keep the k first")
    compression: Literal["none", "int8", "top-k"] = "none"
    topk_fraction: float = Field(default=0.1, gt=0, le=1, description="top-k: share of update entries sent")
    fault_rate: float = Field(default=0.0, ge=0, lt=1, description="share of ClientApp calls that raise (fault injection)")
    dp_noise_multiplier: float | None = Field(default=None, ge=0, description="server-side DP with fixed clipping")
    dp_clipping_norm: float = Field(default=1.0, gt=0)
    personalise: bool = Field(default=False, description="devices serve local requests with their own fine-tuned copy")
    supernodes: int | None = Field(default=None, ge=1, description="Flower supernodes hosting the devices "
                                   "(device d on supernode d mod n); default one per device")
    # how the ClientApps execute (sim.app.runner.choose_backend); results are the same bit for bit either way
    backend: Literal["auto", "inprocess", "ray"] = Field(
        default="auto", exclude_if=lambda v: v == "auto",
        description="inprocess: ClientApps called in this process (no Ray start); ray: Flower's simulation engine; "
                    "auto: inprocess unless RAY_ADDRESS names a Ray cluster or the run trains more than 400 updates")
    # hierarchical FL and edge model caches (sim.scenario_hierarchy); omitted when unset, so flat runs read as before
    hierarchy: Hierarchy | None = Field(default=None, exclude_if=lambda v: v is None,
                                        description="client -> edge site -> cloud (HierFAVG)")
    edge_cache: bool = Field(default=False, exclude_if=lambda v: not v,
                             description="flat FL with sites: devices download a new global model from their site's cache")
    # asynchronous federation and device availability (sim.scenario_async checks them; defaults leave sync as it was)
    mode: Literal["sync", "fedbuff", "fedasync"] = Field(default="sync", exclude_if=lambda v: v == "sync")
    buffer_size: int | None = Field(default=None, ge=1, le=limits.MAX_DEVICES, exclude_if=lambda v: v is None,
                                    description="fedbuff: aggregate as soon as this many updates arrived")
    concurrency: int | None = Field(default=None, ge=1, le=limits.MAX_DEVICES, exclude_if=lambda v: v is None,
                                    description="fedbuff/fedasync: devices training at once (default clients_per_round)")
    staleness: Staleness = Field(default=Staleness(), exclude_if=lambda v: v == Staleness())
    server_step: float = Field(default=1.0, gt=0, le=10, exclude_if=lambda v: v == 1.0,
                               description="fedbuff/fedasync: server learning rate on the averaged delta")
    availability: Availability = Field(default=Availability(), exclude_if=lambda v: v.kind == "always")
