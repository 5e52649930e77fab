"""Offload policies: one module per policy, the observation a device decides on, and the registry that finds them.

`registry` here is the function (as before the package existed): it shadows the submodule of the same
name, so reach the module itself through importlib.import_module("sim.policies.registry").
"""
from sim.policies.base import (CLOUD, EDGE, FIRST_SITE, LOCAL, TARGET_NAMES, TARGETS, BasePolicy, Param, Policy,
                               site_target)
from sim.policies.observation import Observation
from sim.policies.registry import describe, make_policy, registry

__all__ = ["CLOUD", "EDGE", "FIRST_SITE", "LOCAL", "TARGET_NAMES", "TARGETS", "BasePolicy", "Observation", "Param",
           "Policy", "describe", "make_policy", "registry", "site_target"]
