"""Edge caches of models: a site keeps the newest global model it received, and its devices download from it.

Without a cache every device fetches a new global model from the cloud over its site's WAN and its cell; with
one, the WAN carries one copy per site per version (the first device's miss, or the cloud's push), and every
later download of that version at the site is a hit that crosses the cell only.
"""
from __future__ import annotations

from typing import Callable


class SiteModelCache:
    """Per site: the newest global version it holds and the fetches over its WAN still in flight."""

    def __init__(self, world):
        self.world = world
        self.held = [-1] * len(world.topology.sites)  # -1: nothing cached yet
        self._fetching: dict[tuple[int, int], list[Callable[[], None]]] = {}
        self.wan_bytes = 0.0  # what the caches pulled over the WANs
        self.wan_bytes_saved = 0.0  # what the hits would have pulled without a cache

    def push(self, site: int, version: int, nbytes: float, on_done: Callable[[], None]) -> None:
        """The cloud sends `version` to the site over its WAN downlink; the site caches it."""
        self._fetch(site, version, nbytes, on_done)

    def deliver(self, dev: int, version: int, nbytes: float, on_done: Callable[[], None]) -> None:
        """Device `dev` downloads `version` from its site: over the cell on a hit, after a WAN fetch on a miss."""
        world = self.world
        site = world.topology.home_site[dev]

        def over_cell() -> None:
            world.transfer(dev, nbytes, False, on_done, wan=False)

        if self.held[site] >= version or (site, version) in self._fetching:
            self.wan_bytes_saved += nbytes
            if self.held[site] >= version:
                over_cell()
            else:  # another device's miss is already fetching it: wait for that copy
                self._fetching[(site, version)].append(over_cell)
            return
        self._fetch(site, version, nbytes, over_cell)

    def _fetch(self, site: int, version: int, nbytes: float, then: Callable[[], None]) -> None:
        key = (site, version)
        if key in self._fetching:
            self._fetching[key].append(then)
            return
        self._fetching[key] = [then]
        self.wan_bytes += nbytes

        def arrived(_) -> None:
            self.held[site] = max(self.held[site], version)
            for waiting in self._fetching.pop(key):
                waiting()

        self.world.topology.sites[site].wan_down.send(nbytes, arrived, 0)
