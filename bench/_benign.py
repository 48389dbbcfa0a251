"""Benign carrier traffic, with the near misses every detector must let pass.

Families (shares of flows in ``SHARES``), and what each is a near miss for:

- web: subscribers (CGNAT pool, broadband, IPv6) to Zipf-popular servers, page loads of 1-6
  connections, QUIC. Beaconing: repeated connections, but irregular.
- cdn: one page load reaching 10-40 CDN edges within seconds.
- mobile: subscribers inside GTP-U (roaming: a foreign SGW, our PGW) to web servers. DDoS:
  twenty SGWs fan in toward the PGW, but everything is answered.
- push / imap: 300 phones keep a connection to 6 push gateways every 9-11 minutes, 400
  subscribers poll 3 mail servers every 5 minutes. Beaconing: regular, but popular services.
- dns: our resolvers query authoritative servers, subscribers query public resolvers, and a
  busy resolver sends 5,000 queries in two minutes. Reflection: many "reflectors", enough
  bytes, but a ratio of responses to requests far below 10.
- mail: MTAs deliver to our MX; newsletter bursts reach 60 MX from one address in five
  minutes. Horizontal scan: answered, with data.
- ntp: outside clients poll our NTP servers (often 123 <-> 123); our hosts poll pool servers
  every ~66 s. Reflection (ratio 1), DDoS (answered), beaconing (udp/123 is ignored).
- inbound web: outside clients to our web servers; a flash crowd of 8,000 clients in two
  minutes. DDoS: answered.
- ssh: admins' long sessions; three monitors check five hosts' SSH every 5 minutes. Brute
  force: long sessions, or ten logins a window pair where thirty are needed.
- p2p: DHT peers query 3-15 subscribers each, each on its own port. Scans: no service repeats.
- stray: single refused or unanswered connections, one or two per source. Scans: never
  enough from one source.
- icmp: monitors ping our servers, answered. ICMP sweeps: answered.
"""

from __future__ import annotations

import numpy as np
from _addresses import (
    ADMINS,
    AUTH_DNS,
    BROADBAND,
    CDN,
    CGNAT_POOL,
    CUSTOMERS,
    I64,
    MAIL,
    MOBILE,
    MX,
    NTP_CLIENTS,
    NTP_SERVERS,
    NTP_SERVERS_DOMESTIC,
    PEERS,
    PGW,
    RESOLVERS,
    RESOLVERS_DOMESTIC,
    ROAMING,
    V6_SERVERS,
    V6_SUBSCRIBERS,
    WEB,
    WEB_CLIENTS,
    WEB_SERVERS,
    foreign,
    v4,
    zipf_pick,
)
from _flowgen import (
    ECHO,
    LOGIN,
    NTP,
    QUIC,
    REFUSED,
    SESSION,
    SYN_ONLY,
    UDP_ONE,
    UDP_PAIR,
    Addresses,
    Step,
    flowset,
    pattern,
)
from _flowgen import MAIL as MAIL_EXCHANGE
from _flowgen import WEB as WEB_EXCHANGE
from _pcapgen import ICMP, TCP, UDP, Packets

US = 1_000_000
SHARES = {
    "web": 0.38,
    "cdn": 0.10,
    "mobile": 0.08,
    "dns": 0.14,
    "mail": 0.05,
    "ntp": 0.06,
    "inbound_web": 0.08,
    "ssh": 0.005,
    "p2p": 0.03,
    "stray": 0.02,
    "icmp": 0.01,
}


def _ports(rng: np.random.Generator, n: int) -> I64:
    ports = rng.integers(1024, 65536, n)
    return np.where(np.isin(ports, (2152, 3544, 4789, 6081)), ports + 1, ports)


def _subscribers(rng: np.random.Generator, n: int) -> Addresses:
    kind = rng.choice(3, n, p=[0.6, 0.25, 0.15])
    cgnat = CGNAT_POOL + rng.integers(0, 4096, n)
    broadband = BROADBAND + rng.integers(0, 4096, n)
    out = v4(np.where(kind == 0, cgnat, broadband))
    six = np.flatnonzero(kind == 2)
    v6 = Addresses.v6_from(V6_SUBSCRIBERS, rng.integers(1, 1 << 62, len(six)))
    out.hi[six], out.lo[six], out.v6[six] = v6.hi, v6.lo, True
    return out


def _times(rng: np.random.Generator, n: int, t0: int, span_s: float) -> I64:
    return t0 + rng.integers(0, int(span_s * US), n)


class Benign:
    """Builds the benign families for ``flows`` flows over ``span_s`` seconds from ``t0`` (us)."""

    def __init__(self, rng: np.random.Generator, flows: int, span_s: float, t0: int) -> None:
        self.rng, self.flows, self.span_s, self.t0 = rng, flows, span_s, t0
        self.web_pool = foreign(rng, 60_000, WEB)
        self.v6_pool = Addresses.v6_from(V6_SERVERS, rng.integers(1, 1 << 62, 4000))
        self.cdn_pool = foreign(rng, 3000, CDN)
        self.parts: list[Packets] = []

    def n(self, family: str) -> int:
        return int(self.flows * SHARES[family])

    def build(self) -> Packets:
        for family in (self.web, self.cdn, self.mobile, self.periodic, self.dns, self.mail, self.ntp):
            family()
        for family in (self.inbound_web, self.ssh, self.p2p, self.stray, self.icmp):
            family()
        return Packets.concat(self.parts)

    def _servers(self, n: int, v6: np.ndarray) -> Addresses:
        servers = v4(zipf_pick(self.rng, self.web_pool, n, 1.15))
        six = np.flatnonzero(v6)
        pick = self.v6_pool.take(self.rng.integers(0, len(self.v6_pool), len(six)))
        servers.hi[six], servers.lo[six], servers.v6[six] = pick.hi, pick.lo, True
        return servers

    def web(self) -> None:
        """Page loads: a client, a server, 1-6 connections within two seconds."""
        rng, total = self.rng, self.n("web")
        pages = total // 3
        per = rng.integers(1, 7, pages)
        per = per[: np.searchsorted(np.cumsum(per), total) + 1]
        clients = _subscribers(rng, len(per))
        servers = self._servers(len(per), clients.v6)
        page_start = _times(rng, len(per), self.t0, self.span_s)
        flow = np.repeat(np.arange(len(per)), per)
        start = page_start[flow] + rng.integers(0, 2 * US, len(flow))
        quic = rng.random(len(flow)) < 0.08
        for exchange, mask, l4, port in ((QUIC, quic, UDP, 443), (WEB_EXCHANGE, ~quic, TCP, None)):
            rows = flow[mask]
            sport = port if port is not None else rng.choice([443, 80], len(rows), p=[0.9, 0.1])
            fs = flowset(start[mask], clients.take(rows), servers.take(rows), _ports(rng, len(rows)), sport, l4)
            self.parts.append(pattern(rng, fs, exchange))

    def cdn(self) -> None:
        rng, total = self.rng, self.n("cdn")
        per = rng.integers(10, 41, max(1, total // 25))
        clients = _subscribers(rng, len(per))
        clients = v4(np.where(clients.v6, CGNAT_POOL, clients.lo.astype(np.int64)))
        page = np.repeat(np.arange(len(per)), per)
        start = _times(rng, len(per), self.t0, self.span_s)[page] + rng.integers(0, 3 * US, len(page))
        edges = v4(self.cdn_pool[rng.integers(0, len(self.cdn_pool), len(page))])
        fs = flowset(start, clients.take(page), edges, _ports(rng, len(page)), 443, TCP)
        self.parts.append(pattern(rng, fs, WEB_EXCHANGE))

    def mobile(self) -> None:
        rng, n = self.rng, self.n("mobile")
        sgw = foreign(rng, 20, ROAMING)
        phones = v4(MOBILE + rng.integers(0, 1 << 20, n))
        servers = v4(zipf_pick(rng, self.web_pool, n, 1.15))
        link = rng.integers(0, 20, n)
        tunnel = (sgw[link], PGW + link % 4)
        quic = rng.random(n) < 0.2
        for exchange, mask, l4 in ((QUIC, quic, UDP), (WEB_EXCHANGE, ~quic, TCP)):
            rows = np.flatnonzero(mask)
            fs = flowset(
                _times(rng, len(rows), self.t0, self.span_s),
                phones.take(rows),
                servers.take(rows),
                _ports(rng, len(rows)),
                443,
                l4,
                gtp=(tunnel[0][rows], tunnel[1][rows]),
            )
            self.parts.append(pattern(rng, fs, exchange))

    def _every(
        self,
        clients: Addresses,
        servers: Addresses,
        period_s: tuple[float, float],
        port: int,
        l4: int,
        exchange: list[Step],
        cport: I64 | int | None = None,
    ) -> None:
        """Each client talks to its server every ``period_s`` seconds (uniform jitter within the range)."""
        rng = self.rng
        mean = (period_s[0] + period_s[1]) / 2
        beats = int(self.span_s / mean) + 2
        n = len(clients)
        gaps = rng.uniform(period_s[0], period_s[1], (n, beats)) * US
        start = self.t0 + rng.integers(0, int(mean * US), n)[:, None] + np.cumsum(gaps, axis=1).astype(np.int64)
        start = start - gaps[:, :1].astype(np.int64)
        flow = np.repeat(np.arange(n), beats)
        start = start.ravel()
        keep = start < self.t0 + int(self.span_s * US)
        flow, start = flow[keep], start[keep]
        ports = _ports(rng, len(flow)) if cport is None else cport
        fs = flowset(start, clients.take(flow), servers.take(flow), ports, port, l4)
        self.parts.append(pattern(rng, fs, exchange))

    def periodic(self) -> None:
        """Push keepalives and IMAP polls: regular, but each server has hundreds of clients."""
        rng = self.rng
        push = foreign(rng, 6, MAIL + 0)  # push gateways live with the mail providers' pool
        phones = v4(CGNAT_POOL + rng.integers(0, 4096, 300))
        self._every(phones, v4(push[rng.integers(0, 6, 300)]), (540, 660), 5223, TCP, WEB_EXCHANGE)
        imap = foreign(rng, 3, MAIL)
        users = v4(BROADBAND + rng.integers(0, 4096, 400))
        self._every(users, v4(imap[rng.integers(0, 3, 400)]), (270, 330), 993, TCP, WEB_EXCHANGE)

    def dns(self) -> None:
        rng, n = self.rng, self.n("dns")
        auth = foreign(rng, 20_000, AUTH_DNS)
        public = foreign(rng, 4, RESOLVERS)
        ours = np.flatnonzero(rng.random(n) < 0.7)
        theirs = np.setdiff1d(np.arange(n), ours)
        resolvers = v4(RESOLVERS_DOMESTIC + rng.integers(0, 4, len(ours)))
        fs = flowset(
            _times(rng, len(ours), self.t0, self.span_s),
            resolvers,
            v4(zipf_pick(rng, auth, len(ours))),
            _ports(rng, len(ours)),
            53,
            UDP,
        )
        self.parts.append(pattern(rng, fs, UDP_PAIR))
        clients = _subscribers(rng, len(theirs))
        clients = v4(np.where(clients.v6, BROADBAND, clients.lo.astype(np.int64)))
        fs = flowset(
            _times(rng, len(theirs), self.t0, self.span_s),
            clients,
            v4(public[rng.integers(0, 4, len(theirs))]),
            _ports(rng, len(theirs)),
            53,
            UDP,
        )
        self.parts.append(pattern(rng, fs, UDP_PAIR))
        # a busy resolver: 5,000 queries to 500 servers in two minutes
        burst = 5000
        at = self.t0 + int(rng.uniform(0.2, 0.8) * self.span_s * US)
        fs = flowset(
            at + rng.integers(0, 120 * US, burst),
            v4(np.full(burst, RESOLVERS_DOMESTIC)),
            v4(auth[rng.integers(0, 500, burst)]),
            _ports(rng, burst),
            53,
            UDP,
        )
        self.parts.append(pattern(rng, fs, [Step(False, 0, (30, 60)), Step(True, 0, (200, 480))]))

    def mail(self) -> None:
        rng, n = self.rng, self.n("mail")
        mtas = foreign(rng, 3000, MAIL + 0)
        fs = flowset(
            _times(rng, n, self.t0, self.span_s),
            v4(zipf_pick(rng, mtas, n, 1.3)),
            v4(MX + rng.integers(0, 100, n)),
            _ports(rng, n),
            25,
            TCP,
        )
        self.parts.append(pattern(rng, fs, MAIL_EXCHANGE))
        # newsletter bursts: one provider address delivers to 60 MX within five minutes
        provider = foreign(rng, 5, MAIL)
        for i in range(12):
            at = self.t0 + int(rng.uniform(0.05, 0.95) * self.span_s * US)
            fs = flowset(
                at + rng.integers(0, 300 * US, 60),
                v4(np.full(60, provider[i % 5])),
                v4(MX + rng.permutation(100)[:60]),
                _ports(rng, 60),
                25,
                TCP,
            )
            self.parts.append(pattern(rng, fs, MAIL_EXCHANGE))

    def ntp(self) -> None:
        rng, n = self.rng, self.n("ntp")
        clients = foreign(rng, 30_000, NTP_CLIENTS)
        symmetric = rng.random(n) < 0.5
        cport = np.where(symmetric, 123, _ports(rng, n))
        fs = flowset(
            _times(rng, n, self.t0, self.span_s),
            v4(clients[rng.integers(0, len(clients), n)]),
            v4(np.array(NTP_SERVERS_DOMESTIC)[rng.integers(0, 2, n)]),
            cport,
            123,
            UDP,
        )
        self.parts.append(pattern(rng, fs, NTP))
        pool = foreign(rng, 50, NTP_SERVERS)
        hosts = v4(CUSTOMERS + rng.integers(0, 8192, 200))
        self._every(hosts, v4(pool[rng.integers(0, 50, 200)]), (64, 70), 123, UDP, NTP, cport=123)

    def inbound_web(self) -> None:
        rng, n = self.rng, self.n("inbound_web")
        clients = foreign(rng, 200_000, WEB_CLIENTS)
        fs = flowset(
            _times(rng, n, self.t0, self.span_s),
            v4(clients[rng.integers(0, len(clients), n)]),
            v4(zipf_pick(rng, WEB_SERVERS + np.arange(99), n, 1.3)),
            _ports(rng, n),
            443,
            TCP,
        )
        self.parts.append(pattern(rng, fs, WEB_EXCHANGE))
        crowd = 8000  # a flash crowd: 8,000 clients within two minutes, all answered
        at = self.t0 + int(rng.uniform(0.2, 0.8) * self.span_s * US)
        fs = flowset(
            at + rng.integers(0, 120 * US, crowd),
            v4(clients[rng.permutation(len(clients))[:crowd]]),
            v4(np.full(crowd, WEB_SERVERS + 7)),
            _ports(rng, crowd),
            443,
            TCP,
        )
        self.parts.append(pattern(rng, fs, WEB_EXCHANGE))

    def ssh(self) -> None:
        rng, n = self.rng, self.n("ssh")
        admins = foreign(rng, 500, ADMINS)
        fs = flowset(
            _times(rng, n, self.t0, self.span_s),
            v4(admins[rng.integers(0, 500, n)]),
            v4(CUSTOMERS + rng.integers(0, 8192, n)),
            _ports(rng, n),
            22,
            TCP,
        )
        self.parts.append(pattern(rng, fs, SESSION))
        monitors = foreign(rng, 3, ADMINS)
        for monitor in monitors:
            hosts = v4(CUSTOMERS + rng.integers(0, 8192, 5))
            self._every(v4(np.full(5, monitor)), hosts, (295, 305), 22, TCP, LOGIN)

    def p2p(self) -> None:
        rng, n = self.rng, self.n("p2p")
        per = rng.integers(3, 16, max(1, n // 9))
        peers = foreign(rng, 100_000, PEERS)
        source = np.repeat(peers[rng.integers(0, len(peers), len(per))], per)
        start = np.repeat(_times(rng, len(per), self.t0, self.span_s), per) + rng.integers(0, 60 * US, len(source))
        targets = v4(BROADBAND + rng.integers(0, 4096, len(source)))
        answered = rng.random(len(source)) < 0.75
        for exchange, mask in ((UDP_PAIR, answered), (UDP_ONE, ~answered)):
            rows = np.flatnonzero(mask)
            fs = flowset(
                start[rows], v4(source[rows]), targets.take(rows), _ports(rng, len(rows)), _ports(rng, len(rows)), UDP
            )
            self.parts.append(pattern(rng, fs, exchange))

    def stray(self) -> None:
        rng, n = self.rng, self.n("stray")
        sources = foreign(rng, n, WEB_CLIENTS)
        refused = rng.random(n) < 0.5
        for exchange, mask in ((REFUSED, refused), (SYN_ONLY, ~refused)):
            rows = np.flatnonzero(mask)
            fs = flowset(
                _times(rng, len(rows), self.t0, self.span_s),
                v4(sources[rows]),
                v4(CUSTOMERS + rng.integers(0, 8192, len(rows))),
                _ports(rng, len(rows)),
                rng.choice([80, 443, 8080, 22], len(rows)),
                TCP,
            )
            self.parts.append(pattern(rng, fs, exchange))

    def icmp(self) -> None:
        rng, n = self.rng, self.n("icmp")
        monitors = foreign(rng, 200, ADMINS)
        fs = flowset(
            _times(rng, n, self.t0, self.span_s),
            v4(monitors[rng.integers(0, 200, n)]),
            v4(WEB_SERVERS + rng.integers(0, 99, n)),
            rng.integers(1, 65535, n),
            0,
            ICMP,
        )
        self.parts.append(pattern(rng, fs, ECHO))


def benign(rng: np.random.Generator, flows: int, span_s: float, t0: int) -> Packets:
    return Benign(rng, flows, span_s, t0).build()
