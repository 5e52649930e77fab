"""The normalised feature vector of an Observation: what the gym env shows an agent and the learned policy reads.

One definition for both, so that a model trained in sim.envs decides in the engine on exactly what it saw.
Every entry is dimensionless and clipped to [0, CLIP]; latencies and waits are in units of the request's
deadline (1.0: the estimate uses the whole deadline), energies in joules.
"""
from __future__ import annotations

import numpy as np

from sim.policies.base import CLOUD, EDGE, LOCAL
from sim.policies.observation import Observation

CLIP = 10.0
# name and meaning of each entry, in order (docs/rl.md and the env's docstring list them)
FEATURES = (
    ("latency_local", "estimated latency on the device / deadline (CPU wait + compute)"),
    ("latency_edge", "estimated latency at the edge / deadline (transfers, RTT, last seen edge wait, compute)"),
    ("latency_cloud", "estimated latency in the cloud / deadline (transfers, RTT, WAN, compute)"),
    ("energy_local_j", "estimated device energy of local compute, J"),
    ("energy_offload_j", "estimated device radio energy of offloading (edge or cloud alike), J"),
    ("battery_soc", "battery state of charge (1 for mains power)"),
    ("cpu_wait", "time until the device CPU is free / deadline"),
    ("edge_wait", "queue wait the edge server last reported / deadline"),
    ("radio_idle", "time since the radio's last transfer / its tail time, capped at 1 (1: offloading pays a "
                   "promotion and a fresh tail)"),
    ("up_share", "measured uplink throughput / the link's nominal rate"),
    ("down_share", "measured downlink throughput / the link's nominal rate"),
    ("staleness", "model versions the device's own model lags the servers' (0 without federation)"),
)
DIM = len(FEATURES)
# with `sites:`, sim.envs appends these for every site k, in site order (the learned policy reads FEATURES only)
SITE_FEATURES = (
    ("site_latency", "estimated latency at site k / deadline (access transfer, metro at its slowest hop, last "
                     "reported queue, compute, round trip)"),
    ("site_wait", "queue wait site k last reported to the device / deadline"),
    ("site_rtt", "round trip to site k (access link plus metro path) / deadline"),
)


def features(obs: Observation) -> np.ndarray:
    """The observation's feature vector (float32, DIM entries, each in [0, CLIP])."""
    scale = 1.0 / max(obs.deadline_s, 1e-6)
    latency, energy = obs.latency_estimates_s(), obs.energy_estimates_j()
    radio = obs.radio
    raw = (latency[LOCAL] * scale, latency[EDGE] * scale, latency[CLOUD] * scale, energy[LOCAL], energy[EDGE],
           obs.battery_soc, obs.cpu_wait_s * scale, obs.edge_wait_s * scale,
           min(obs.radio_idle_s / radio.tail_s, 1.0) if radio.tail_s > 0.0 else 1.0,
           obs.up_bps / radio.up_bps, obs.down_bps / radio.down_bps, float(obs.server_version - obs.local_version))
    # clipped in Python: np.clip, or np.minimum with a scalar, costs more than the rest of this function
    # (timeit: 5.9 us per call with two ufuncs, 3.4 us like this)
    return np.array([CLIP if x > CLIP else x if x > 0.0 else 0.0 for x in raw], dtype=np.float32)


def site_features(obs: Observation) -> list[float]:
    """The per-site entries (SITE_FEATURES for site 0, then site 1, ...), each clipped to [0, CLIP]."""
    scale = 1.0 / max(obs.deadline_s, 1e-6)
    raw = []
    for latency, wait, rtt in zip(obs.site_latency_estimates_s(), obs.site_wait_s, obs.site_rtt_s):
        raw += (latency * scale, wait * scale, rtt * scale)
    return [CLIP if x > CLIP else x if x > 0.0 else 0.0 for x in raw]
