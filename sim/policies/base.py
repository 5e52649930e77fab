"""What every offload policy shares: the targets, the Policy protocol, Param, and a declaring base class."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np

LOCAL, EDGE, CLOUD = 0, 1, 2
TARGETS = (LOCAL, EDGE, CLOUD)
TARGET_NAMES = ("local", "edge", "cloud")
# with several edge sites a policy may also name one: target FIRST_SITE + k is site k of the scenario's `sites:`
# (EDGE stays "the device's own site"); the request is then recorded as target EDGE with `site` k
FIRST_SITE = 3


def site_target(site: int) -> int:
    """The target that offloads to edge site `site` (its index in `sites:`)."""
    return FIRST_SITE + site


@dataclass(frozen=True)
class Param:
    """One tunable parameter of a policy: its default and what it means (shown by `edgefed policies`).

    A number unless its default is a string (a file path, say): values are converted to the default's kind.
    """

    default: float | str
    doc: str

    def coerce(self, value: Any) -> float | str:
        return str(value) if isinstance(self.default, str) else float(value)


# `obs` is an Observation (observation.py), or None when uses_observation is False; typed Any because
# observation.py imports the targets from here, and even a type-only import back would be an import cycle
class Policy(Protocol):
    name: str
    uses_observation: bool  # optional; False lets the world skip filling the observation
    uses_outcomes: bool  # optional; False lets the world skip observe() (the policy does not learn)

    def decide(self, obs: Any) -> int: ...

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None: ...


class BasePolicy:
    """A policy that declares its parameters once, in `params`; the registry finds it by its `name`.

    The first line of a subclass's docstring is its rule (`edgefed policies`). Each declared parameter
    becomes an instance attribute (a float, or a str if its default is one) of the same name. A subclass without a `name` is a shared
    base and is not registered.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    uses_observation = True
    uses_outcomes = False

    def __init__(self, rng: np.random.Generator, **values: Any):
        # the registry has already turned unknown names into a user-facing error; this guards direct use
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no parameter {', '.join(unknown)}")
        for key, param in self.params.items():
            setattr(self, key, param.coerce(values.get(key, param.default)))

    @classmethod
    def rule(cls) -> str:
        return (cls.__doc__ or "").strip().split("\n", 1)[0]

    def decide(self, obs: Any) -> int:
        raise NotImplementedError

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None:
        pass
