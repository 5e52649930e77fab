"""The `outages:` and `timeouts:` sections of a scenario: which component fails when (scheduled, or at random
by MTBF/MTTR), and how devices notice (timeouts, probes, estimates refreshed). The failure model: sim.outages."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sim.limits import shown
from sim.scenario_types import Duration, Strict

KINDS = ("cell", "metro", "wan", "server")  # component "<kind>:<name>", plus the bare "cloud"
# random outages: shorter means are glitches, not outages, and would have the engine spend its time failing
# (a 198-day run at the minimum mean draws about 17 million up/down times per entry)
MIN_MEAN_S = 1.0
MAX_OUTAGES = 10_000  # entries in `outages:` (each is a SimPy process)


def _maybe(**kwargs) -> Any:
    return Field(default=None, exclude_if=lambda v: v is None, **kwargs)


class Outage(Strict):
    """A component switched off: scheduled (`at`, `for`) or random (`mtbf`, `mttr`, exponential)."""

    component: str | None = _maybe(description="cloud, server:<site>, wan:<site>, cell:<cell> or metro:<a>-<b>; "
                                               "with `clouds:` also cloud:<cloud> and wan:<site>:<cloud>")
    server: str | None = _maybe(description="the older form of component server:<site> (`cloud`: the cloud)")
    at: Duration | None = _maybe(description="scheduled: when it goes down")
    duration: Duration | None = _maybe(alias="for", description="scheduled: how long it stays down")
    mtbf: Duration | None = _maybe(description="random: mean time between failures (exponential up times)")
    mttr: Duration | None = _maybe(description="random: mean time to repair (exponential down times)")

    model_config = Strict.model_config | {"populate_by_name": True, "serialize_by_alias": True}

    @model_validator(mode="after")
    def _one_form(self) -> "Outage":
        if (self.component is None) == (self.server is None):
            raise ValueError("name the failing part with `component:` (or the older `server:`), one of them")
        scheduled, random = (self.at, self.duration), (self.mtbf, self.mttr)
        if any(v is not None for v in scheduled) and any(v is not None for v in random):
            raise ValueError("an outage is scheduled (`at`, `for`) or random (`mtbf`, `mttr`), not both")
        if all(v is None for v in random):
            if None in scheduled:
                raise ValueError("a scheduled outage needs `at` and `for`; a random one `mtbf` and `mttr`")
        elif None in random:
            raise ValueError("a random outage needs both `mtbf` and `mttr`")
        elif min(self.mtbf, self.mttr) < MIN_MEAN_S:
            raise ValueError(f"mtbf and mttr must be >= {MIN_MEAN_S:g}s, got {self.mtbf:g}s and {self.mttr:g}s")
        return self

    @property
    def name(self) -> str:
        """The component in the one form: `cloud`, `server:s0`, `cell:c0`, ... (the older form read as new)."""
        if self.component is not None:
            return self.component
        return "cloud" if self.server == "cloud" else f"server:{self.server}"

    @property
    def random(self) -> bool:
        return self.mtbf is not None


class Timeouts(Strict):
    """How devices notice outages: a request with no reply by its timeout is given up; a device that timed out
    on a site or the cloud probes it every `probe_every` until a probe is answered (its queue then known again);
    `retry_local` runs a timed-out request on the device instead; `refresh` re-measures, every `probe_every`,
    the estimates that no transfer or reply refreshed meanwhile."""

    deadlines: float = Field(default=4.0, gt=0, le=1000, description="timeout = this many of the request's deadlines")
    probe_every: Duration = 10.0
    refresh: Literal["auto", "always", "never"] = Field(default="auto", exclude_if=lambda v: v == "auto", description=(
        "probe stale estimates (throughput, queues): auto = when the scenario declares outages or a bandwidth "
        "trace (so other scenarios keep their results bit for bit)"))
    retry_local: bool = Field(default=False, exclude_if=lambda v: not v, description=(
        "at a request's timeout its device runs it locally instead of giving it up (latency from its arrival: the "
        "timeout plus the local run); the row is served, target local, `retried` 1"))


def components(scenario: Any) -> list[str]:
    """Every component name a sim.scenario.Scenario can fail, in a fixed order (typed Any: no import cycle).

    With `clouds:`, `cloud` is every cloud and `wan:<site>` every WAN link of the site, as without it; each
    one alone is `cloud:<cloud>` and `wan:<site>:<cloud>`."""
    sites = [s.name for s in scenario.sites] or ["edge"]
    if scenario.sites:
        cells = [c.name for s in scenario.sites for c in s.cells]
    else:
        cells = single_site_cells(scenario)
    metro = [f"{m.between[0]}-{m.between[1]}" for m in scenario.metro]
    clouds = [c.name for c in scenario.clouds or []]
    one_wan = [f"wan:{s.name}:{clouds[k]}" for s in scenario.sites for k, _ in s.wan_links(clouds)] if clouds else []
    return (["cloud"] + [f"cloud:{c}" for c in clouds] + [f"server:{s}" for s in sites] + [f"wan:{s}" for s in sites]
            + one_wan + [f"cell:{c}" for c in cells] + [f"metro:{m}" for m in metro])


def single_site_cells(scenario: Any) -> list[str]:
    """The cell names of a scenario without sites: `<profile>/<link>` per fleet entry, `#<entry>` on a repeat
    (sim.topology names them so)."""
    names: list[str] = []
    for g, group in enumerate(scenario.fleet):
        name = f"{group.profile}/{scenario.link_profile(group.link).name}"
        names.append(f"{name}#{g}" if name in names else name)
    return names


def canonical(name: str, scenario: Any) -> str | None:
    """The component's name as `components` lists it (a metro link may be named either way round), or None."""
    known = components(scenario)
    if name in known:
        return name
    if name.startswith("metro:"):
        for m in scenario.metro:
            if name == f"metro:{m.between[1]}-{m.between[0]}":
                return f"metro:{m.between[0]}-{m.between[1]}"
    return None


def check(scenario: Any) -> tuple[str, str] | None:
    """The first (field path, problem) of the outages' component names, or None."""
    if len(scenario.outages) > MAX_OUTAGES:
        return "outages", f"at most {MAX_OUTAGES:,} entries, got {len(scenario.outages):,}"
    for i, outage in enumerate(scenario.outages):
        if canonical(outage.name, scenario) is not None:
            continue
        if outage.server is not None:
            servers = ["cloud"] + ([s.name for s in scenario.sites] or ["edge"])
            return f"outages[{i}].server", f"unknown server {shown(outage.server)}; allowed: {', '.join(servers)}"
        return f"outages[{i}].component", f"unknown component {shown(outage.component)}; allowed: " \
                                          f"{', '.join(_allowed(scenario))}"
    return None


def _allowed(scenario: Any, most: int = 12) -> list[str]:
    """The allowed names, shortened for an error line: the forms, then the first few names."""
    known = components(scenario)
    shown_names = known[:most] + ([f"... ({len(known) - most} more)"] if len(known) > most else [])
    return shown_names
