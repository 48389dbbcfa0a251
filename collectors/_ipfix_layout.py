"""A template compiled once into a record layout, and whole data sets decoded through it.

A template of fixed-length fields becomes a numpy structured dtype (big-endian fields at
their offsets, the unread ones left out), so a data set's records are decoded together by
one ``frombuffer``: no Python loop per record. Elements of an odd width (3, 5, 6, 7 bytes,
RFC 7011's reduced-size encoding) are assembled from byte columns, still a whole set at a
time. A template with a variable-length field has no fixed record size: its records are
walked one by one (the slower path, which no common exporter needs for flow records).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collectors._ipfix_elements import VARIABLE, Kind, fits, lookup

Columns = dict[str, npt.NDArray[np.uint64]]
_NTP_TO_UNIX = 2_208_988_800


@dataclass(frozen=True)
class Field:
    """One template field: element id, enterprise number (0 for IANA's), length."""

    element: int
    pen: int
    length: int


@dataclass(frozen=True, eq=False)
class Layout:
    """How records of one template are read; ``record_len`` 0 when a field is variable."""

    fields: tuple[Field, ...]
    record_len: int
    min_len: int
    dtype: np.dtype[np.void] | None
    wide: tuple[tuple[str, Kind, int], ...]  # slots read through dtype: name, kind, width
    odd: tuple[tuple[str, int, int], ...]  # slot, offset, length of odd-width unsigned fields
    slots: frozenset[str]
    misfits: int  # known elements with a length they cannot have; skipped

    @property
    def variable(self) -> bool:
        return self.record_len == 0

    def count(self, size: int) -> int:
        """Records in a data set body of ``size`` bytes (the rest is padding)."""
        return size // self.record_len if self.record_len else 0


def compile_layout(fields: tuple[Field, ...]) -> Layout:
    """The layout of a template; the first occurrence of a slot wins."""
    names: list[str] = []
    formats: list[str] = []
    offsets: list[int] = []
    wide: list[tuple[str, Kind, int]] = []
    odd: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    misfits = 0
    offset, variable, min_len = 0, False, 0
    for f in fields:
        min_len += 1 if f.length == VARIABLE else f.length
        known = lookup(f.element, f.pen)
        if f.length == VARIABLE:
            variable = True
            continue
        if known is not None and not variable:
            slot, kind = known
            if not fits(kind, f.length):
                misfits += 1
            elif slot not in seen:
                seen.add(slot)
                if kind is Kind.IPV6:
                    names += [slot + "_hi", slot + "_lo"]
                    formats += [">u8", ">u8"]
                    offsets += [offset, offset + 8]
                    wide.append((slot, kind, 16))
                elif f.length in (1, 2, 4, 8):
                    names.append(slot)
                    formats.append(f">u{f.length}")
                    offsets.append(offset)
                    wide.append((slot, kind, f.length))
                else:
                    odd.append((slot, offset, f.length))
        offset += f.length
    if variable:
        slots = frozenset(s for f in fields if (k := lookup(f.element, f.pen)) and fits(k[1], f.length) for s in [k[0]])
        return Layout(fields, 0, min_len, None, (), (), slots, misfits)
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": max(offset, 1)})
    return Layout(fields, offset, min_len, dtype, tuple(wide), tuple(odd), frozenset(seen), misfits)


def decode_fixed(layout: Layout, body: bytes, count: int) -> Columns:
    """``count`` records of a fixed layout from ``body`` (their bytes back to back)."""
    assert layout.dtype is not None
    records = np.frombuffer(body, dtype=layout.dtype, count=count)
    out: Columns = {}
    for slot, kind, _ in layout.wide:
        if kind is Kind.IPV6:
            out[slot + "_hi"] = records[slot + "_hi"].astype(np.uint64)
            out[slot + "_lo"] = records[slot + "_lo"].astype(np.uint64)
        elif kind is Kind.NTP:
            out[slot] = ntp_to_us(records[slot].astype(np.uint64))
        else:
            out[slot] = records[slot].astype(np.uint64)
    if layout.odd:
        grid = np.frombuffer(body, dtype=np.uint8, count=count * layout.record_len).reshape(count, layout.record_len)
        for slot, offset, length in layout.odd:
            value = np.zeros(count, dtype=np.uint64)
            for k in range(length):
                value = (value << np.uint64(8)) | grid[:, offset + k].astype(np.uint64)
            out[slot] = value
    return out


def ntp_to_us(ntp: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """NTP 64-bit timestamps (RFC 7011 6.1.9/6.1.10) as microseconds since 1970."""
    seconds = (ntp >> np.uint64(32)).astype(np.int64) - _NTP_TO_UNIX
    fraction = (ntp & np.uint64(0xFFFFFFFF)) * np.uint64(1_000_000) >> np.uint64(32)
    return (seconds * 1_000_000 + fraction.astype(np.int64)).astype(np.uint64)


def decode_variable(layout: Layout, body: bytes) -> tuple[Columns, int]:
    """Records of a template with variable-length fields, one at a time; (columns, count).

    Stops at the first record that does not fit (the rest is padding or damage).
    """
    kinds = dict(_kinds(layout))
    keys = [k for slot in sorted(layout.slots) for k in _keys(slot, kinds[slot])]
    values: dict[str, list[int]] = {key: [] for key in keys}
    wanted = [(lookup(f.element, f.pen), f.length) for f in layout.fields]
    pos, end, count = 0, len(body), 0
    while end - pos >= layout.min_len:
        row: dict[str, int] = {}
        ok = True
        for known, declared in wanted:
            length = declared
            if declared == VARIABLE:
                if pos >= end:
                    ok = False
                    break
                length, pos = body[pos], pos + 1
                if length == 255:
                    if pos + 2 > end:
                        ok = False
                        break
                    length, pos = int.from_bytes(body[pos : pos + 2], "big"), pos + 2
            if pos + length > end:
                ok = False
                break
            if known is not None and fits(known[1], length):
                slot, kind = known
                raw = body[pos : pos + length]
                if kind is Kind.IPV6 and slot + "_hi" not in row:
                    row[slot + "_hi"] = int.from_bytes(raw[:8], "big")
                    row[slot + "_lo"] = int.from_bytes(raw[8:], "big")
                elif kind is not Kind.IPV6 and slot not in row:
                    row[slot] = int.from_bytes(raw, "big")
            pos += length
        if not ok:
            break
        count += 1
        for key in keys:
            values[key].append(row.get(key, 0))
    out = {key: np.array(column, dtype=np.uint64) for key, column in values.items()}
    for slot, kind in kinds.items():
        if kind is Kind.NTP and slot in out:
            out[slot] = ntp_to_us(out[slot])
    return out, count


def _keys(slot: str, kind: Kind) -> tuple[str, ...]:
    return (slot + "_hi", slot + "_lo") if kind is Kind.IPV6 else (slot,)


def _kinds(layout: Layout) -> list[tuple[str, Kind]]:
    return [k for f in layout.fields if (k := lookup(f.element, f.pen)) is not None and k[0] in layout.slots]
