"""The address plan of the bench carrier: domestic space, and disjoint pools of outside parties.

Domestic (bench/out/detect/site.yaml says so to the gate): 198.18.0.0/15 (subscribers behind
carrier-grade NAT, broadband, customer hosts), 198.51.100.0/24 and 203.0.113.0/24 (the
carrier's and its customers' servers), 2001:db8:a::/48; 10.0.0.0/8 (mobile subscribers,
inside GTP-U) is private space, which the profile counts as domestic anyway.

Outside parties come from public-looking /8 blocks, split into 16 disjoint pools by the
second octet (pool = second octet mod 16), so a scanner can never also be a web server, and
no benign party ever touches an address the partner indicated.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import numpy.typing as npt
from _flowgen import Addresses

I64 = npt.NDArray[np.int64]

DOMESTIC_PREFIXES = ("198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:a::/48")
_BLOCKS = np.array(
    [
        23,
        31,
        37,
        45,
        46,
        52,
        62,
        77,
        78,
        80,
        81,
        85,
        88,
        91,
        93,
        95,
        104,
        109,
        141,
        151,
        176,
        178,
        185,
        188,
        193,
        194,
        195,
        212,
        213,
        217,
    ],
    np.int64,
)

# pools of outside parties
WEB, CDN, AUTH_DNS, RESOLVERS, MAIL, NTP_CLIENTS, NTP_SERVERS, WEB_CLIENTS = range(8)
ADMINS, PEERS, ROAMING, ATTACKERS, C2, FLOODERS, REFLECTORS, INDICATED = range(8, 16)


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


CGNAT_POOL = _ip("198.18.0.0")  # /20: public addresses shared by many subscribers
BROADBAND = _ip("198.18.16.0")  # /20
CUSTOMERS = _ip("198.18.32.0")  # /19: customer hosts (scan targets, SSH servers)
WEB_SERVERS = _ip("198.51.100.1")  # .1 - .99
MX = _ip("198.51.100.100")  # .100 - .199
NTP_SERVERS_DOMESTIC = (_ip("198.51.100.123"), _ip("198.51.100.124"))
OPEN_RESOLVERS = _ip("198.51.100.200")  # .200 - .239: customers' open resolvers (abused in one attack)
RESOLVERS_DOMESTIC = _ip("203.0.113.53")  # .53 - .56
PGW = _ip("203.0.113.200")  # .200 - .203
MOBILE = _ip("10.128.0.0")  # /12 inside GTP-U
V6_SUBSCRIBERS = "2001:db8:a:1::/64"
V6_SERVERS = "2a02:4780:1:2::/64"
V6_C2 = "2a05:d014:9:7::/64"
V6_SCANNER = "2a0e:97c0:3e3:5::/64"


def foreign(rng: np.random.Generator, n: int, pool: int) -> I64:
    """``n`` distinct outside IPv4 addresses of ``pool``."""
    found: set[int] = set()
    out: list[int] = []
    while len(out) < n:
        m = 2 * (n - len(out)) + 16
        first = rng.choice(_BLOCKS, m)
        second = rng.integers(0, 16, m) * 16 + pool
        low = rng.integers(1, 65534, m)
        for value in ((first << 24) | (second << 16) | low).tolist():
            if value not in found:
                found.add(value)
                out.append(value)
                if len(out) == n:
                    break
    return np.array(out, np.int64)


def v4(values: npt.ArrayLike) -> Addresses:
    return Addresses.v4(values)


def zipf_pick(rng: np.random.Generator, pool: I64, n: int, a: float = 1.2) -> I64:
    """``n`` draws from ``pool``, the first entries most popular (Zipf)."""
    index = (rng.zipf(a, n) - 1) % len(pool)
    return pool[index]
