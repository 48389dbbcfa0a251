"""Legal profiles, approvals, partner agreements, decisions, and the error tree."""

from policies._errors import (
    CaptureError,
    ConfigError,
    DecodeError,
    ExchangeError,
    GateViolation,
    MetagateError,
    NotACaptureError,
    PolicyError,
)

__all__ = [
    "CaptureError",
    "ConfigError",
    "DecodeError",
    "ExchangeError",
    "GateViolation",
    "MetagateError",
    "NotACaptureError",
    "PolicyError",
]
