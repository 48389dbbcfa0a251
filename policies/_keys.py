"""Pseudonymization keys: loaded from where a policy points, chosen by the flow's time.

A policy holds key references only (a file or an environment variable, with a key id), never
key material, so a policy can be shown to an auditor and kept in version control. A key is
64 hexadecimal digits (32 bytes: Crypto-PAn's size; HMAC takes the same). Keys rotate by
adding a reference with a later ``valid_from``: a flow is pseudonymized with the key in force
at its start, so the same input always gives the same output, whenever it is gated.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from policies._errors import PolicyError
from policies._models import KeyRef

KEY_BYTES = 32
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Key:
    id: str
    material: bytes
    valid_from_us: int

    def __repr__(self) -> str:  # never show key material, not even in a traceback
        return f"Key(id={self.id!r})"


@dataclass(frozen=True)
class KeyRing:
    """The keys of one policy, oldest first."""

    keys: tuple[Key, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.id for k in self.keys)

    def index_at(self, times_us: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """For each time, the index of the key in force; -1 before the first key."""
        starts = np.array([k.valid_from_us for k in self.keys], dtype=np.int64)
        return np.searchsorted(starts, times_us, side="right") - 1


def load_keys(refs: tuple[KeyRef, ...], *, base: Path | None = None, source: str | None = None) -> KeyRing:
    """Read every referenced key; a missing or malformed one is an error naming its reference."""
    keys = [_load(ref, base, source) for ref in refs]
    keys.sort(key=lambda k: k.valid_from_us)
    starts = [k.valid_from_us for k in keys]
    if len(set(starts)) != len(starts):
        raise PolicyError("two keys take effect at the same time", path=source, field="keys")
    return KeyRing(tuple(keys))


def _load(ref: KeyRef, base: Path | None, source: str | None) -> Key:
    where = f"keys.{ref.id}"
    if ref.env is not None:
        text = os.environ.get(ref.env)
        if text is None:
            raise PolicyError(f"key {ref.id}: environment variable {ref.env} is not set", path=source, field=where)
        origin = f"environment variable {ref.env}"
    else:
        assert ref.file is not None
        path = Path(ref.file)
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(
                f"key {ref.id}: cannot read {path} ({type(exc).__name__})", path=source, field=where
            ) from exc
        origin = str(path)
    text = text.strip()
    if not _HEX.match(text):
        raise PolicyError(f"key {ref.id}: {origin} does not hold 64 hexadecimal digits", path=source, field=where)
    material = bytes.fromhex(text)
    if len(set(material)) < 4:
        raise PolicyError(f"key {ref.id}: {origin} holds a degenerate key", path=source, field=where)
    valid_from_us = int(ref.valid_from.timestamp()) * 1_000_000 + ref.valid_from.microsecond
    return Key(ref.id, material, valid_from_us)
