"""What a device knows when a request arrives, and the estimates policies derive from it."""
from __future__ import annotations

from sim.policies.base import CLOUD, EDGE, LOCAL


def site_floor_s(rtt_s: tuple[float, ...], compute_s: tuple[float, ...], home: int) -> float:
    """The least round trip plus compute of the sites other than `home` (Observation.site_floor_s)."""
    return min((r + c for site, (r, c) in enumerate(zip(rtt_s, compute_s)) if site != home), default=float("inf"))


class Observation:
    """What a device knows when a request arrives; the world refills one instance per request (no allocation)."""

    __slots__ = ("now", "device", "group", "deadline_s", "battery_soc", "cpu_wait_s", "compute_s", "up_bytes",
                 "down_bytes", "up_bps", "down_bps", "access_rtt_s", "wan_rtt_s", "wan_bps", "edge_wait_s",
                 "compute_w", "radio", "radio_idle_s", "local_version", "server_version", "request", "home_site",
                 "site_wait_s", "site_rtt_s", "site_compute_s", "site_metro_bps", "site_floor_s", "cloud_wait_s")

    def __init__(self) -> None:
        self.now = 0.0
        self.device = 0
        self.deadline_s = 0.0
        self.battery_soc = 1.0  # 1.0 for mains-powered devices
        self.cpu_wait_s = 0.0  # time until the device CPU is free
        self.compute_s = (0.0, 0.0, 0.0)  # per target: compute time of one inference
        self.up_bytes = 0.0
        self.down_bytes = 0.0
        self.up_bps = 1.0  # recently measured throughput on the device's access link
        self.down_bps = 1.0
        self.access_rtt_s = 0.0
        self.wan_rtt_s = 0.0
        self.wan_bps = 1.0
        self.edge_wait_s = 0.0  # queue wait the edge server last reported to this device
        # the cloud's: 0 until a request there times out (sim.outages), then what its probes answered
        self.cloud_wait_s = 0.0
        self.group = 0  # the device's class (fleet entry)
        self.compute_w = 0.0  # device power above idle while computing
        self.radio = None  # the device's LinkProfile: promotion, tail and power coefficients
        self.radio_idle_s = float("inf")  # since the radio last finished a transfer (0 while active)
        self.local_version = 0  # model version on the device
        self.server_version = 0  # model version the edge server and cloud serve
        self.request = 0  # the request's id; observe() gets it back with the outcome
        # per edge site k (target FIRST_SITE + k): what the device knows of reaching it from its cell
        self.home_site = 0  # the site of the device's cell (target EDGE)
        self.site_wait_s: list[float] = [0.0]  # queue wait each site last reported to this device (live)
        self.site_rtt_s: tuple[float, ...] = (0.0,)  # round trip: access link plus the metro path
        self.site_compute_s: tuple[float, ...] = (0.0,)  # one inference on the site's server
        self.site_metro_bps: tuple[float, ...] = (float("inf"),)  # the metro path's slowest hop (inf: own site)
        # no other site's estimate is below its round trip plus compute (every other term is >= 0, and float
        # sums of non-negative terms are monotone): the least of these, to skip the sites when none can win
        # (the world sets it; -inf, unknown, skips nothing)
        self.site_floor_s = float("-inf")

    def latency_estimates_s(self) -> tuple[float, float, float]:
        """Greedy estimate per target (local, edge, cloud): D_in/r + RTT + W_queue + C/f + D_out/r (CALIBRATION.md).

        The cloud's W_queue is 0 (x + 0.0 is x: runs without outages keep their results) unless a timeout set it."""
        compute = self.compute_s
        transfer = self.up_bytes * 8.0 / self.up_bps + self.down_bytes * 8.0 / self.down_bps + self.access_rtt_s
        wan = (self.up_bytes + self.down_bytes) * 8.0 / self.wan_bps + self.wan_rtt_s
        return (self.cpu_wait_s + compute[LOCAL], transfer + self.edge_wait_s + compute[EDGE],
                transfer + wan + compute[CLOUD] + self.cloud_wait_s)

    def site_latency_estimates_s(self) -> list[float]:
        """latency_estimates_s's edge estimate for every site: the access transfer, the metro path at its
        slowest hop's nominal rate, the site's last reported queue, its compute and the round trip."""
        access = self.up_bytes * 8.0 / self.up_bps + self.down_bytes * 8.0 / self.down_bps
        metro_bits = (self.up_bytes + self.down_bytes) * 8.0
        return [access + metro_bits / bps + rtt + wait + compute for bps, rtt, wait, compute
                in zip(self.site_metro_bps, self.site_rtt_s, self.site_wait_s, self.site_compute_s)]

    def energy_estimates_j(self) -> tuple[float, float, float]:
        """Device energy of serving one request per target: compute above idle, or the radio's share.

        Offloading (to the edge or the cloud alike) pays transmit and receive (P = a*rate + b) and, if
        the radio has gone idle, a promotion and a fresh tail; inside the tail it pays only the tail it
        extends.
        """
        radio = self.radio
        up_s = self.up_bytes * 8.0 / self.up_bps
        down_s = self.down_bytes * 8.0 / self.down_bps
        active = (radio.a_up_w_per_mbps * self.up_bytes + radio.a_down_w_per_mbps * self.down_bytes) * 8e-6 \
            + radio.base_w * (up_s + down_s)
        if self.radio_idle_s >= radio.tail_s:
            offload = active + radio.promotion_s * radio.promotion_w + radio.tail_s * radio.tail_w
        else:
            offload = active + self.radio_idle_s * radio.tail_w
        return self.compute_w * self.compute_s[LOCAL], offload, offload


def staleness_rounds(obs: Observation, target: int) -> float:
    """Accuracy proxy: how many model versions the model serving `target` lags the newest global model.

    Forecast truth arrives only after the run, so no policy can measure its error online; a device's
    own model lags the servers' by the rounds it has not yet downloaded, and the servers always
    serve the newest. (int8 on the device costs under 0.1% MSE here: see docs/models-and-validation.md, so it is ignored.)
    """
    return float(obs.server_version - obs.local_version) if target == LOCAL else 0.0
