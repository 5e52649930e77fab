"""The catalogue under its old name: sim/catalogue loads it from YAML; import from sim.catalogue in new code."""
from sim.catalogue import CLOUD, DEVICES, EDGE_SERVER, LINKS, SERVERS, WAN, DeviceProfile, LinkProfile, ServerProfile

__all__ = ["CLOUD", "DEVICES", "EDGE_SERVER", "LINKS", "SERVERS", "WAN", "DeviceProfile", "LinkProfile",
           "ServerProfile"]
