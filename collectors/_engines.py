"""Choosing an engine by name; each is imported only when asked for (scapy costs ~1 s)."""

from __future__ import annotations

from collectors._config import FlowConfig
from collectors._engine import Engine
from policies import ConfigError

ENGINES = ("fast", "scapy", "tshark")


def make_engine(name: str, config: FlowConfig | None = None) -> Engine:
    """A fresh engine: ``fast`` (default, compiled), ``scapy`` (the oracle) or ``tshark``."""
    config = config or FlowConfig()
    if name == "fast":
        from collectors._fastengine import FastEngine

        return FastEngine(config)
    if name == "scapy":
        from collectors._scapy_engine import ScapyEngine

        return ScapyEngine(config)
    if name == "tshark":
        from collectors._tshark_engine import TsharkEngine

        return TsharkEngine(config)
    raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}", field="engine")
