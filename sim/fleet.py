"""The fleet as a table: one list per per-device quantity, built once from the scenario.

The request path indexes these lists by device number, so they are plain lists (a list index is the
cheapest lookup Python has), shared and updated in place: a device's CPU queue, its throughput
estimates, the model versions it holds, the cell it is attached to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim import workload
from sim.catalogue import DeviceProfile, LinkProfile
from sim.harvest import Solar
from sim.scenario import Scenario
from sim.servers import FifoServer


@dataclass(frozen=True)
class Device:
    index: int
    group: int  # the fleet entry it comes from
    profile: DeviceProfile
    link: LinkProfile  # its radio: the link kind of the cells it attaches to


class Fleet:
    """Every device of a scenario: what it is, what it costs, and its changing state."""

    def __init__(self, scenario: Scenario, flops_per_inference: float):
        self.devices: list[Device] = []
        self.battery_j: list[float | None] = []
        self.harvest: list[Solar | None] = []
        self.revive_soc: list[float] = []
        self.cpu_scale: list[float] = []
        self.deadline_s: list[float] = []
        kinds, rates, bursts = [], [], []
        for g, group in enumerate(scenario.fleet):
            profile, link = scenario.device_profile(group.profile), scenario.link_profile(group.link)
            load = group.workload
            for _ in range(group.count):
                self.devices.append(Device(len(self.devices), g, profile, link))
                self.battery_j.append(group.battery if group.battery is not None else profile.battery_j)
                self.harvest.append(Solar(group.harvest.peak) if group.harvest is not None else None)
                self.revive_soc.append(group.battery_revive)
                governor = group.governor  # userspace at a cpu_scale is today's static scaling (sim.dvfs: the rest)
                self.cpu_scale.append(governor.cpu_scale if governor is not None and not governor.uses_table
                                      else group.cpu_scale)
                self.deadline_s.append(load.deadline)
                kinds.append(workload.KINDS[load.kind])
                rates.append(load.rate)
                bursts.append((load.burst_ratio, load.mean_burst, load.mean_calm))
        n = len(self.devices)
        self.workload_kind, self.request_rate = np.array(kinds), np.array(rates, dtype=float)
        self.bursts = tuple(np.array(bursts, float).T) if bursts else None
        self.cpu = [FifoServer(d.profile.cores) for d in self.devices]
        self.flops_per_inference = flops_per_inference
        # DVFS: a device clocked at a fraction s of f_max computes s times as fast (sim.dvfs sets governed ones)
        self.flops_per_s = [d.profile.lstm_flops_per_s * s for d, s in zip(self.devices, self.cpu_scale)]
        self.local_compute_s = [flops_per_inference / speed for speed in self.flops_per_s]
        for d in self.devices:  # an accelerator runs local inference and training: its rate, plus a cost per call
            accelerator = d.profile.accelerator
            if accelerator is not None:
                self.flops_per_s[d.index] = accelerator.lstm_flops_per_s
                self.local_compute_s[d.index] = accelerator.call_overhead_s + \
                    flops_per_inference / accelerator.lstm_flops_per_s
        # the throughput each device last measured on its access link (EWMA), starting from the link's rate
        self.up_bps = [d.link.up_bps for d in self.devices]
        self.down_bps = [d.link.down_bps for d in self.devices]
        self.access_rtt_s = [d.link.rtt_s for d in self.devices]
        # model versions: the newest global version each device downloaded; the round of its personal copy
        self.model_version = [0] * n
        self.personal_version = [-1] * n

    def __len__(self) -> int:
        return len(self.devices)
