"""The catalogue of device, link and server profiles, each number with its source."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceProfile:
    """A class of edge device. SI units: FLOP/s, watts, bytes, joules."""

    name: str
    lstm_flops_per_s: float  # effective rate on a batch-1 recurrent model, not peak
    cores: int
    idle_w: float
    active_w: float  # whole device with one inference running
    ram_bytes: float
    battery_j: float | None  # None: mains powered
    sources: str


@dataclass(frozen=True)
class LinkProfile:
    """An access (or WAN) link: shared by every flow on it; radio power P = a_u*up + a_d*down + b."""

    name: str
    up_bps: float
    down_bps: float
    rtt_s: float  # device <-> edge round trip on this access network
    a_up_w_per_mbps: float
    a_down_w_per_mbps: float
    base_w: float
    promotion_s: float
    promotion_w: float
    tail_s: float
    tail_w: float
    sources: str


_PI_HPL = "Pi 4B HPL about 8 GFLOPS on 4 cores; batch-1 LSTM effective rate assumed 1/8 of it (step-by-step recurrence)"

DEVICES: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        DeviceProfile(
            "mcu-cortex-m4", 1.8e7, 1, 0.005, 0.05, 640 * 1024, 2 * 3600.0,
            "STM32L4R9 120 MHz: weather LSTM 27.5 ms with TFLM+CMSIS-NN (Plumerai blog); rate derived "
            "from that latency for a ~0.5 MFLOP model (check); <50 mW inferring (MLPerf Tiny class); "
            "idle 5 mW assumed (radio-less MCU in run mode, sleep is microwatts); 2 Wh coin-cell pack assumed",
        ),
        DeviceProfile(
            "raspberry-pi-4", 1.0e9, 4, 2.7, 6.4, 4e9, None,
            f"{_PI_HPL}; idle 2.7 W, 6.4 W under stress --cpu 4 (Pi benchmarkers' measurements)",
        ),
        DeviceProfile(
            "jetson-nano", 2.0e9, 4, 2.0, 6.8, 4e9, None,
            "CPU 4x A57 1.48 GHz, batch-1 LSTM on CPU assumed 2 GFLOP/s; 6.8 W measured on YOLOv5n "
            "(Machado et al. 2022); idle 2.0 W assumed (5 W mode floor not published)",
        ),
        DeviceProfile(
            "jetson-orin-nano", 8.0e9, 6, 4.0, 15.0, 8e9, None,
            "datasheet 7-15 W, 40 INT8 sparse TOPS; batch-1 LSTM rate assumed 8 GFLOP/s; idle 4 W assumed",
        ),
        DeviceProfile(
            "smartphone", 3.0e9, 8, 2.3, 5.6, 6e9, 15 * 3600.0,
            "whole-phone baseline 2.2-2.5 W and one big core at full load 4.9-6.3 W (SIGCOMM'21 5G power "
            "artifact; AnandTech); LSTM rate assumed 3 GFLOP/s; 15 Wh battery (typical 4000 mAh at 3.85 V)",
        ),
        DeviceProfile(
            "iot-gateway", 5.0e8, 2, 1.5, 3.0, 1e9, None,
            "assumed: dual Cortex-A53 class gateway, half a Pi 4 effective rate; power scaled from Pi 4 figures",
        ),
    )
}

_LTE = "Huang et al., MobiSys 2012 (rates, power model, tail); RTT Braud et al., PerCom 2020"
_WIFI = "EdgeCloudSim network tables (throughput); Braud et al. PerCom 2020 (RTT); power model coefficients (check)"

# LoRa: Semtech SX1276 datasheet (SF7/125 kHz PHY rate 5.47 kbit/s; Rx 9.9 mA; 3.3 V). EU868 caps transmit
# power at +14 dBm, so the radio transmits on RFO_HF at +13 dBm: 29 mA (not PA_BOOST's 120 mA at +20 dBm).
_LORA_BPS = 5470.0
_LORA_TX_W = 0.029 * 3.3
_LORA_RX_W = 0.0099 * 3.3
_LORA = ("Semtech SX1276 datasheet: SF7/125 kHz 5.47 kbit/s, Tx 29 mA at +13 dBm (RFO_HF, within EU868's +14 dBm), "
         "Rx 9.9 mA at 3.3 V; LoRaWAN "
         "regional parameters: class A opens RX1 1 s and RX2 2 s after an uplink, so a reply waits about 1 s (RTT) "
         "and the radio tail lasts 2 s, its windows open a few symbols: 5% of Rx power (assumed). The EU868 1% duty "
         "cycle (Adelantado et al. 2017) is not enforced: keep request rates within it")

LINKS: dict[str, LinkProfile] = {
    p.name: p
    for p in (
        LinkProfile("lte", 6e6, 13e6, 0.0199, 0.43839, 0.05197, 1.28804, 0.26, 1.21, 11.6, 1.06, _LTE),
        LinkProfile("wifi", 88e6, 88e6, 0.0037, 0.28317, 0.13701, 0.13286, 0.0, 0.0, 0.24, 0.13286,
                    _WIFI + "; 240 ms power-save tail assumed"),
        LinkProfile("5g", 200e6, 800e6, 0.010, 1.0, 0.15, 2.5, 0.08, 2.5, 10.0, 1.8,
                    "Xu et al. SIGCOMM 2020 / Narayanan et al. 2021: TCP well under the Gbps link, power 2-3x LTE "
                    "(coefficients scaled from LTE by 2x, assumed)"),
        LinkProfile("nb-iot", 60e3, 60e3, 1.5, 0.0, 0.0, 0.7, 1.0, 0.7, 10.0, 0.25,
                    "Martinez et al. 2019; Sorensen et al. 2021: tens of kbps, connected-state timers dominate "
                    "(rates and powers check)"),
        # LoRaWAN class A through a gateway, EU868 SF7/125 kHz (the fastest data rate, DR5).
        LinkProfile("lora", _LORA_BPS, _LORA_BPS, 1.0, (_LORA_TX_W - _LORA_RX_W) / (_LORA_BPS / 1e6), 0.0,
                    _LORA_RX_W, 0.0, 0.0, 2.0, 0.05 * _LORA_RX_W, _LORA),
    )
}


@dataclass(frozen=True)
class ServerDefaults:
    cores: int
    flops_per_s: float  # per core
    idle_w: float
    max_w: float
    sources: str = field(default="")


EDGE_SERVER = ServerDefaults(8, 5e10, 100.0, 240.0, "100 W static, 240 W full load, linear (LEAF example settings); "
                             "50 GFLOP/s per core for batch-1 LSTM assumed")
CLOUD = ServerDefaults(64, 1e11, 0.0, 0.0, "cloud cores assumed 100 GFLOP/s each; cloud power is not charged")
WAN = dict(up_bps=100e6, down_bps=100e6, rtt_s=0.040,
           sources="WAN per-client 20.7 Mbps (Charyyev et al. GLOBECOM 2020) is per client; the shared "
                   "backhaul is assumed 100 Mbps; regional cloud RTT 25-42 ms (Braud et al.)")
