"""Each part the request path uses is held to its protocol (sim/protocols.py), method by method and signature."""
from __future__ import annotations

import inspect

import pytest

from sim import protocols
from sim.energy import FleetEnergy
from sim.network import SharedLink
from sim.servers import FifoServer
from sim import scenario as scenarios


def _methods(protocol) -> list[str]:
    return [name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")]


@pytest.mark.parametrize("kind, protocol", [(SharedLink, protocols.FailingLink), (FifoServer, protocols.Server),
                                            (FleetEnergy, protocols.RadioEnergy)])
def test_each_kind_has_its_protocols_methods_with_their_parameters(kind, protocol):
    checked = []
    for base in protocol.__mro__:
        if base in (object, protocols.Protocol) or not getattr(base, "_is_protocol", False):
            continue
        for name in _methods(base):
            wanted = list(inspect.signature(getattr(base, name)).parameters)
            assert list(inspect.signature(getattr(kind, name)).parameters) == wanted, (kind.__name__, name)
            checked.append(name)
    assert len(checked) >= 2, checked  # send, set_capacity, counters, stall, resume; admit, wait_s; radio_*


def test_a_worlds_parts_are_instances_of_their_protocols():
    from sim.world import World

    world = World(scenarios.parse({
        "name": "p", "seed": 1, "duration": "1min", "policy": {"name": "local"}, "federation": {"enabled": False},
        "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}},
                  {"profile": "smartphone", "count": 2, "link": "lte",
                   "workload": {"kind": "poisson", "rate": "1/s", "deadline": "250ms"}}]}, "p"))
    links = world.links()
    assert links and all(isinstance(link, protocols.FailingLink) for link in links)
    servers = [site.server for site in world.topology.sites] + [cpu for cpu in world.fleet.cpu]
    assert all(isinstance(server, protocols.Server) for server in servers)
    assert isinstance(world.energy, protocols.RadioEnergy)


def test_a_part_without_a_protocol_method_is_not_an_instance():
    class HalfLink:
        name = "half"

        def send(self, nbytes, on_done, token):
            on_done(token)

    assert not isinstance(HalfLink(), protocols.Link)
