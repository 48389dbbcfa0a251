"""The canary strings of tests/data/canary/ and a check that none of them survives.

tests/data/make_canary_pcaps.py plants each canary of ``canaries.txt`` in one place where
content of communications hides. Whatever metagate writes from those captures (a stripped
capture, flow records, a gated batch, a STIX bundle, a report, a log) must hold none of
them, in any form content is commonly re-encoded to: as it is, in another letter case, as
hex, base64 (standard or URL-safe, at any alignment, of the string or its lower case) or
UTF-16. ::

    from tests.canaries import assert_no_canary
    assert_no_canary(out.read_bytes(), str(out))
"""

from __future__ import annotations

import base64
from pathlib import Path

CANARY_DIR = Path(__file__).resolve().parent / "data" / "canary"
CANARY_FILE = CANARY_DIR / "canaries.txt"


def _load() -> tuple[bytes, ...]:
    lines = [line.strip() for line in CANARY_FILE.read_bytes().splitlines()]
    canaries = tuple(line for line in lines if line)
    assert len(set(canaries)) == len(canaries), f"{CANARY_FILE}: a canary is listed twice"
    for canary in canaries:
        assert canary.startswith(b"CANARY-") and len(canary) >= 12 and canary.isascii(), canary
    return canaries


CANARIES: tuple[bytes, ...] = _load()


def _base64_cores(text: bytes) -> list[bytes]:
    """The base64 characters that depend on ``text`` alone, wherever it starts in the encoded data.

    The encoding of a string embedded in others depends on its offset modulo 3; the full
    3-byte groups that lie inside it encode the same way at that offset, whatever surrounds it.
    """
    cores = []
    for skip in range(3):
        whole = (len(text) - skip) // 3 * 3
        cores.append(base64.b64encode(text[skip : skip + whole]))
    return cores


def encodings(canary: bytes) -> list[tuple[str, bytes, bool]]:
    """(name, pattern, case-sensitive) for every form of ``canary`` that is searched for."""
    forms: list[tuple[str, bytes, bool]] = [
        ("case-folded", canary.lower(), False),
        ("hex", canary.hex().encode(), False),
        ("utf-16-le", canary.lower().decode().encode("utf-16-le"), False),
        ("utf-16-be", canary.lower().decode().encode("utf-16-be"), False),
    ]
    for source, text in (("", canary), (" of lower case", canary.lower())):
        for core in _base64_cores(text):
            forms.append((f"base64{source}", core, True))
            forms.append((f"base64url{source}", core.replace(b"+", b"-").replace(b"/", b"_"), True))
    return forms


_FORMS: tuple[tuple[bytes, str, bytes, bool], ...] = tuple(
    (canary, name, pattern, sensitive) for canary in CANARIES for name, pattern, sensitive in encodings(canary)
)


def find_canaries(data: bytes) -> list[tuple[bytes, str]]:
    """Each (canary, encoding) found in ``data``; one entry per canary, its first form found."""
    folded = data.lower()
    found: dict[bytes, str] = {}
    for canary, name, pattern, sensitive in _FORMS:
        if canary not in found and pattern in (data if sensitive else folded):
            found[canary] = name
    return list(found.items())


def assert_no_canary(data: bytes, where: str) -> None:
    """Fail, listing each canary found and its encoding, if ``data`` holds any canary."""
    found = find_canaries(data)
    if found:
        listed = ", ".join(f"{canary.decode()} ({name})" for canary, name in found)
        raise AssertionError(f"content leaked into {where}: {listed}")
