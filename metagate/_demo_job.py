"""The main job of ``metagate demo``: collect, gate, detect, package, approve, share, then prove it.

Runs ``metagate run --local-partner --auto-approve`` on the embedded sample plus a short
capture of two attacks made here with scapy (a horizontal scan of the subscribers' ssh and
a password guesser on one of them), all in a folder that is thrown away: a ledger key made
for the run, medallion on loopback as the partner. The auto-approval is said loudly, as it
is in the ledger: a real site has people approve.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from exchange._local_partner import LocalPartner

SCANNER = "198.51.100.23"  # outside the demo carrier's space: the scan and the guessing come from abroad
_START = 1_700_000_000.0  # 2023-11-14T22:13:20Z, within the demo approval


def write_attacks(path: Path) -> None:
    """40 unanswered SYNs to subscribers' ssh, then 30 short ssh sessions to one of them."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    packets = []
    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    for i in range(40):
        packet = ether / IP(src=SCANNER, dst=f"10.0.7.{i + 1}") / TCP(sport=41000 + i, dport=22, flags="S")
        packet.time = _START + i * 2
        packets.append(packet)
    for i in range(30):
        client, server = (SCANNER, 42000 + i), ("10.0.7.9", 22)
        t = _START + 100 + i * 6
        for flags, (src, sport), (dst, dport), dt in (
            ("S", client, server, 0.0), ("SA", server, client, 0.01), ("A", client, server, 0.02),
            ("FA", client, server, 1.0), ("FA", server, client, 1.01), ("A", client, server, 1.02),
        ):
            packet = ether / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags)
            packet.time = t + dt
            packets.append(packet)
    wrpcap(str(path), packets)


def run_main_job(capture: Path, folder: Path, console: Console) -> int:
    """The whole chain in ``folder``; what the partner received and whether the ledger verifies."""
    from exchange import ExchangeConfig
    from exchange._local_partner import LocalPartner
    from metagate._audit import LedgerPlace
    from metagate._cli_exchange_setup import open_queue
    from metagate._run import local_partner_config, run_pipeline
    from policies import load_policy, load_public_key, public_key_id, verify_ledger

    attacks = folder / "attacks.pcap"
    write_attacks(attacks)
    place = LedgerPlace.resolve(folder / "ledger.sqlite", folder / "ledger.key")
    place.init()
    policy = load_policy(folder / "demo-policy.yaml")
    partner = LocalPartner(folder / "partner").start()
    taxii = {"api_root": partner.api_root, "outbound_collection": partner.collection("outbound")}
    config = ExchangeConfig.model_validate(
        {"partner": "demo-partner", "producer": {"name": "Demo Carrier SOC"}, "taxii": taxii}
    )
    os.environ.setdefault("METAGATE_ACTOR", "demo")
    try:
        config = local_partner_config(config, partner)
        with open_queue(folder / "exchange.sqlite", place) as queue:
            result = run_pipeline(
                [str(capture), str(attacks)], policy, config, queue, place, folder / "work",
                auto_approve=True, share=True, say=lambda line: _plain(console, line),
            )
        received = partner_objects(partner)
    finally:
        partner.stop()
    console.print(f"[bold]the partner[/bold] (medallion on 127.0.0.1) now holds {len(received)} object(s):")
    for obj in received:
        what = obj.get("pattern") or obj.get("name") or obj.get("sighting_of_ref", "")
        _plain(console, f"  {obj['type']:<18} {what}")
    key = load_public_key(place.public_key)
    verdict = verify_ledger(place.ledger, {public_key_id(key): key})
    console.print(
        f"[bold]the audit ledger[/bold]: {verdict.entries} signed entries, "
        + ("verified: ok" if verdict.ok else f"FAILED: {len(verdict.problems)} problem(s)")
    )
    shared = result.share.delivered if result.share is not None else 0
    return 0 if verdict.ok and result.findings and shared else 1


def _plain(console: Console, line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def partner_objects(partner: LocalPartner) -> list[dict[str, object]]:
    """Every object in the partner's collection, read back over TAXII."""
    import requests

    url = f"{partner.api_root}collections/{partner.collection('outbound')}/objects/"
    answer = requests.get(
        url,
        params={"limit": "1000"},
        headers={"Accept": "application/taxii+json;version=2.1"},
        auth=(partner.user, partner.password),
        timeout=10,
    )
    answer.raise_for_status()
    objects: list[dict[str, object]] = json.loads(answer.text).get("objects", [])
    return objects
