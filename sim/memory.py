"""Whether a model fits a device's RAM: a model a device cannot infer with is a scenario error; one it cannot
train keeps the device out of federated training, with the reason (sizes: clients.spec.memory_bytes)."""
from __future__ import annotations

from clients.spec import ModelSpec, describe, memory_bytes
from sim.limits import format_bytes


def _shortfall(profile, spec: ModelSpec, what: str, *, int8: bool = False, train: bool = False) -> str | None:
    need = memory_bytes(spec, int8=int8, train=train)
    if need.total_bytes <= profile.ram_bytes:
        return None
    weights = "weights, gradients and Adam state" if train else f"{'int8' if int8 else 'fp32'} weights"
    return (f"{profile.name} has {format_bytes(profile.ram_bytes)} of RAM; {what} ({describe(spec)}) needs "
            f"{format_bytes(need.total_bytes)} to {'train' if train else 'infer'} ({weights} "
            f"{format_bytes(need.weights_bytes)} + activations {format_bytes(need.activation_bytes)})")


def inference_problem(profile, spec: ModelSpec, int8: bool) -> str | None:
    """Why a device of this profile cannot run the deployed edge model, or None if it fits."""
    return _shortfall(profile, spec.deployed, "the edge model", int8=int8)


def training_problem(profile, spec: ModelSpec, what: str = "the edge model") -> str | None:
    """Why a device of this profile cannot train `spec` (fp32, Adam, a batch of 64), or None if it can."""
    return _shortfall(profile, spec, what, train=True)


def first_problem(scenario) -> tuple[str, str] | None:
    """(field, message) of the first fleet group whose devices cannot hold the edge model they serve with."""
    spec = scenario.models.edge.spec
    for i, group in enumerate(scenario.fleet):
        problem = inference_problem(scenario.device_profile(group.profile), spec, scenario.models.int8_on_device)
        if problem is not None:
            return f"fleet[{i}].profile", problem
    return None


def untrainable(scenario, spec: ModelSpec, what: str = "the edge model") -> dict[int, str]:
    """Device index -> why it cannot train `spec`, for the devices that cannot (the world's device order)."""
    out: dict[int, str] = {}
    first = 0
    for group in scenario.fleet:
        problem = training_problem(scenario.device_profile(group.profile), spec, what)
        if problem is not None:
            out.update({d: problem for d in range(first, first + group.count)})
        first += group.count
    return out


def exclusions(scenario) -> list[dict]:
    """One row per (fleet group, model) left out of federated training: the edge model (as pretraining trains
    it and as it is deployed) and the cloud model, which devices pretrain when there is one."""
    edge = scenario.models.edge.spec
    models = [("edge", edge.dense, "the edge model")]
    if edge.deployed != edge.dense:
        models.append(("edge (deployed)", edge.deployed, "the deployed edge model"))
    if scenario.models.cloud is not None:
        models.append(("cloud", scenario.models.cloud.spec, "the cloud model"))
    rows = []
    for i, group in enumerate(scenario.fleet):
        profile = scenario.device_profile(group.profile)
        for name, spec, what in models:
            problem = training_problem(profile, spec, what)
            if problem is not None:
                rows.append({"group": i, "profile": group.profile, "devices": group.count, "model": name,
                             "reason": problem})
    return rows
