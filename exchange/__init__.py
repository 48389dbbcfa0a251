"""Findings to STIX 2.1 under the partner agreement, reviewed, and exchanged over TAXII 2.1.

::

    Finding ──Packager──> Indicator / Sighting (+ Identity, TLP 2.0 markings), each validated
        ──Queue──> pending ──approve (1..3 people)──> approved ──Sharer──> published ──revoke──> revoked
    partner's collection ──Puller──> validated, kept with its TLP ──> indicators file ──> detectors
    our TAXII server: the partner pulls what is published for it, posts sightings (validated, kept)

Nothing leaves without the agreement allowing it and a person approving it; every decision
names its clause, every review event is in the audit ledger; the outbox is durable, so what
was approved reaches the partner exactly once. docs/exchange.md tells the whole story.
"""

from exchange._agreement import AgreementView, PartnerPseudonyms
from exchange._audit import AUTO_APPROVER, Audit, LedgerAudit, MemoryAudit
from exchange._config import ExchangeConfig, Inbound, Producer, TaxiiSettings, load_exchange_config
from exchange._decision import Decision, Note, Outcome
from exchange._errors import PartnerError, ReviewError, StixInvalid
from exchange._ids import identity_id, indicator_id, sighting_id
from exchange._inbound import Inbound as InboundStore
from exchange._outbox import Outbox
from exchange._package import History, Packager, Version
from exchange._packaging import PackageRun, package_findings
from exchange._patterns import KINDS, PatternSpec, Side
from exchange._pull import Puller, PullReport
from exchange._queue import STATES, Item, Queue
from exchange._server_app import create_taxii_app
from exchange._server_config import ServerAccount, ServerCollection, ServerSettings, Serves, TlsFiles
from exchange._server_run import TaxiiServer, tls_context
from exchange._share import Sharer, ShareReport
from exchange._stix import StixObject
from exchange._taxii import TaxiiTransport
from exchange._tlp import MARKING_IDS, TLP_EXTENSION, level_of, marking_definition, parse_level
from exchange._transport import FailureKind, MemoryCollection, Page, StatusReport, Transport, TransportError
from exchange._validate import StixValidator, Verdict

__all__ = [
    "AUTO_APPROVER",
    "AgreementView",
    "Audit",
    "Decision",
    "ExchangeConfig",
    "FailureKind",
    "History",
    "Inbound",
    "InboundStore",
    "Item",
    "KINDS",
    "LedgerAudit",
    "MARKING_IDS",
    "MemoryAudit",
    "MemoryCollection",
    "Note",
    "Outbox",
    "Outcome",
    "PackageRun",
    "Packager",
    "Page",
    "PartnerError",
    "PartnerPseudonyms",
    "PatternSpec",
    "Producer",
    "PullReport",
    "Puller",
    "Queue",
    "ReviewError",
    "STATES",
    "ServerAccount",
    "ServerCollection",
    "ServerSettings",
    "Serves",
    "ShareReport",
    "Sharer",
    "Side",
    "StatusReport",
    "StixInvalid",
    "StixObject",
    "StixValidator",
    "TLP_EXTENSION",
    "TaxiiServer",
    "TaxiiSettings",
    "TaxiiTransport",
    "TlsFiles",
    "Transport",
    "TransportError",
    "Verdict",
    "Version",
    "create_taxii_app",
    "identity_id",
    "indicator_id",
    "level_of",
    "load_exchange_config",
    "marking_definition",
    "package_findings",
    "parse_level",
    "sighting_id",
    "tls_context",
]
