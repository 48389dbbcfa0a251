"""The JSON-lines kernels: one pass over a table's packed columns, one line a row.

_jsonl.py packs the columns (integers, timestamps, strings, lists of either, all-null
columns) into a few flat arrays; this kernel writes every row's object in column order,
byte for byte what ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))`` gives.
It allocates nothing (the caller sizes ``out``), so the build compiles it without
reference counting.

``flow_rows_jsonl`` writes the same lines straight from the fast engine's ended-flow rows,
for a collect run whose records go to JSON lines as they are: no Arrow table is built.
"""

from __future__ import annotations

import numpy as np

from collectors._fastkernels import kernel
from collectors._fastlayout import (
    F_HLEN,
    F_IPV,
    F_IVLAN,
    F_LAST,
    F_MPLS0,
    F_NMPLS,
    F_OPKTS,
    F_OPORT,
    F_PROTO,
    F_RPORT,
    F_START,
    F_VLAN,
)

# column kinds
J_INT, J_TIME, J_STR, J_INT_LIST, J_STR_LIST, J_NULL = 0, 1, 2, 3, 4, 5
# the first two entries of flow_rows_jsonl's texts
TEXT_NULL, TEXT_TAP = 0, 1

_US_PER_DAY = 86_400_000_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()
# the short escapes json writes: \b \t \n \f \r (0 where a control character has none)
_SHORT = np.zeros(32, dtype=np.uint8)
for _code, _letter in ((8, "b"), (9, "t"), (10, "n"), (12, "f"), (13, "r")):
    _SHORT[_code] = ord(_letter)


_INT64_MIN = np.int64(-(2**63))
_INT64_MIN_TEXT = np.frombuffer(b"-9223372036854775808", dtype=np.uint8).copy()


@kernel
def _put_int(out, o, v):  # type: ignore[no-untyped-def]
    if v < 0:
        if v == _INT64_MIN:  # its negation does not fit
            for k in range(_INT64_MIN_TEXT.shape[0]):
                out[o + k] = _INT64_MIN_TEXT[k]
            return o + _INT64_MIN_TEXT.shape[0]
        out[o] = 45  # '-'
        o += 1
        v = -v
    digits = 1
    t = v
    while t >= 10:
        t //= 10
        digits += 1
    end = o + digits
    for k in range(digits):
        out[end - 1 - k] = 48 + v % 10
        v //= 10
    return end


@kernel
def _put_fixed(out, o, v, width):  # type: ignore[no-untyped-def]
    for k in range(width):
        out[o + width - 1 - k] = 48 + v % 10
        v //= 10
    return o + width


@kernel
def _put_time(out, o, micros):  # type: ignore[no-untyped-def]
    """``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` (quoted) of microseconds since 1970 (years 0 to 9999)."""
    days = micros // _US_PER_DAY
    in_day = micros - days * _US_PER_DAY
    z = days + 719_468  # civil from days, eras of 400 years starting in March
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    seconds = in_day // 1_000_000
    out[o] = 34
    o = _put_fixed(out, o + 1, year, 4)
    out[o] = 45
    o = _put_fixed(out, o + 1, month, 2)
    out[o] = 45
    o = _put_fixed(out, o + 1, day, 2)
    out[o] = 84  # 'T'
    o = _put_fixed(out, o + 1, seconds // 3600, 2)
    out[o] = 58
    o = _put_fixed(out, o + 1, (seconds // 60) % 60, 2)
    out[o] = 58
    o = _put_fixed(out, o + 1, seconds % 60, 2)
    out[o] = 46
    o = _put_fixed(out, o + 1, in_day % 1_000_000, 6)
    out[o] = 90  # 'Z'
    out[o + 1] = 34
    return o + 2


@kernel
def _put_str(out, o, data, start, end):  # type: ignore[no-untyped-def]
    """A UTF-8 string quoted and escaped as json does (non-ASCII kept as it is)."""
    out[o] = 34
    o += 1
    for p in range(start, end):
        ch = data[p]
        if ch == 34 or ch == 92:
            out[o] = 92
            out[o + 1] = ch
            o += 2
        elif ch < 32:
            out[o] = 92
            if _SHORT[ch]:
                out[o + 1] = _SHORT[ch]
                o += 2
            else:
                out[o + 1] = 117  # \u00XX
                out[o + 2] = 48
                out[o + 3] = 48
                out[o + 4] = _HEX[ch >> 4]
                out[o + 5] = _HEX[ch & 15]
                o += 6
        else:
            out[o] = ch
            o += 1
    out[o] = 34
    return o + 1


@kernel
def _put_entry(out, o, data, offsets, k):  # type: ignore[no-untyped-def]
    """Entry ``k`` of a table of texts (``data[offsets[k]:offsets[k + 1]]``), as it is."""
    for p in range(offsets[k], offsets[k + 1]):
        out[o] = data[p]
        o += 1
    return o


@kernel
def _put_null(out, o):  # type: ignore[no-untyped-def]
    out[o] = 110
    out[o + 1] = 117
    out[o + 2] = 108
    out[o + 3] = 108
    return o + 4


@kernel
def jsonl_rows(kinds, slots, keys, keys_off, valid, ints, str_off, str_data, list_off, list_ints, out):  # type: ignore[no-untyped-def]
    """Every row of the packed columns as a JSON object and a newline into ``out``; returns the length.

    Column ``c`` has kind ``kinds[c]`` and its key text ``keys[keys_off[c]:keys_off[c + 1]]``
    (``{"name":`` or ``,"name":``); ``valid[c, r]`` is 0 for a null. Its values: integers
    and timestamps in ``ints[slots[c], r]``; strings as entry ``slots[c] + r`` of the string
    table (``str_off`` into ``str_data``); lists as ``list_off[slots[c], r : r + 2]``, a
    range of ``list_ints`` (integer lists) or of string-table entries (string lists).
    """
    n = valid.shape[1]
    ncols = kinds.shape[0]
    o = 0
    for r in range(n):
        for c in range(ncols):
            o = _put_entry(out, o, keys, keys_off, c)
            kind = kinds[c]
            s = slots[c]
            if kind == J_NULL or valid[c, r] == 0:
                o = _put_null(out, o)
            elif kind == J_INT:
                o = _put_int(out, o, ints[s, r])
            elif kind == J_TIME:
                o = _put_time(out, o, ints[s, r])
            elif kind == J_STR:
                o = _put_str(out, o, str_data, str_off[s + r], str_off[s + r + 1])
            else:
                out[o] = 91  # '['
                o += 1
                for e in range(list_off[s, r], list_off[s, r + 1]):
                    if e > list_off[s, r]:
                        out[o] = 44
                        o += 1
                    if kind == J_INT_LIST:
                        o = _put_int(out, o, list_ints[e])
                    else:
                        o = _put_str(out, o, str_data, str_off[e], str_off[e + 1])
                out[o] = 93
                o += 1
        out[o] = 125  # '}'
        out[o + 1] = 10
        o += 2
    return o


@kernel
def _put_quoted(out, o, data, start, end):  # type: ignore[no-untyped-def]
    """Bytes that need no escaping (addresses, Community IDs, history letters), quoted."""
    out[o] = 34
    o += 1
    for p in range(start, end):
        out[o] = data[p]
        o += 1
    out[o] = 34
    return o + 1


@kernel
def _put_or_null(out, o, v):  # type: ignore[no-untyped-def]
    if v < 0:
        return _put_null(out, o)
    return _put_int(out, o, v)


@kernel
def flow_rows_jsonl(rows, hist, addr, addr_off, ids, par_ids, par_off, texts, texts_off, row_texts, keys, keys_off,  # type: ignore[no-untyped-def]
                    out):
    """The fast engine's ended-flow rows as FlowRecord JSON lines into ``out``; returns the length.

    The same bytes as packing the rows' FLOW_SCHEMA table for :func:`jsonl_rows`, without
    building the table. Keys come in FLOW_SCHEMA order (``keys_off`` has 28 entries).
    Addresses, Community IDs and parent ids come from ``format_flows``; ``texts`` holds JSON
    values already encoded (``null`` first, the tap id second, then ``"SF"``...), and
    ``row_texts[r]`` picks a row's conn_state, tunnel and end_reason among them.
    """
    n = rows.shape[0]
    o = 0
    for r in range(n):
        o = _put_entry(out, o, keys, keys_off, 0)
        o = _put_quoted(out, o, ids, 30 * r, 30 * r + 30)
        o = _put_entry(out, o, keys, keys_off, 1)
        o = _put_time(out, o, rows[r, F_START])
        o = _put_entry(out, o, keys, keys_off, 2)
        o = _put_time(out, o, rows[r, F_LAST])
        o = _put_entry(out, o, keys, keys_off, 3)
        o = _put_int(out, o, rows[r, F_IPV])
        o = _put_entry(out, o, keys, keys_off, 4)
        o = _put_int(out, o, rows[r, F_PROTO])
        o = _put_entry(out, o, keys, keys_off, 5)
        o = _put_quoted(out, o, addr, addr_off[r], addr_off[r + 1])
        o = _put_entry(out, o, keys, keys_off, 6)
        o = _put_int(out, o, rows[r, F_OPORT])
        o = _put_entry(out, o, keys, keys_off, 7)
        o = _put_quoted(out, o, addr, addr_off[n + r], addr_off[n + r + 1])
        o = _put_entry(out, o, keys, keys_off, 8)
        o = _put_int(out, o, rows[r, F_RPORT])
        for k in range(6):  # packets, IP bytes and TCP flags, each both ways: the schema's order and the rows'
            o = _put_entry(out, o, keys, keys_off, 9 + k)
            o = _put_int(out, o, rows[r, F_OPKTS + k])
        o = _put_entry(out, o, keys, keys_off, 15)
        out[o] = 34  # the history: letters, nothing to escape
        o += 1
        for p in range(rows[r, F_HLEN]):
            out[o] = hist[r, p]
            o += 1
        out[o] = 34
        o += 1
        o = _put_entry(out, o, keys, keys_off, 16)
        o = _put_entry(out, o, texts, texts_off, row_texts[r, 0])
        o = _put_entry(out, o, keys, keys_off, 17)
        o = _put_or_null(out, o, rows[r, F_VLAN])
        o = _put_entry(out, o, keys, keys_off, 18)
        o = _put_or_null(out, o, rows[r, F_IVLAN])
        o = _put_entry(out, o, keys, keys_off, 19)
        out[o] = 91  # '['
        o += 1
        for k in range(rows[r, F_NMPLS]):
            if k:
                out[o] = 44
                o += 1
            o = _put_int(out, o, rows[r, F_MPLS0 + k])
        out[o] = 93
        o += 1
        o = _put_entry(out, o, keys, keys_off, 20)
        o = _put_entry(out, o, texts, texts_off, row_texts[r, 1])
        o = _put_entry(out, o, keys, keys_off, 21)
        out[o] = 91
        o += 1
        for e in range(par_off[r], par_off[r + 1]):
            if e > par_off[r]:
                out[o] = 44
                o += 1
            o = _put_quoted(out, o, par_ids, 30 * e, 30 * e + 30)
        out[o] = 93
        o += 1
        o = _put_entry(out, o, keys, keys_off, 22)
        o = _put_entry(out, o, texts, texts_off, row_texts[r, 2])
        o = _put_entry(out, o, keys, keys_off, 23)
        o = _put_entry(out, o, texts, texts_off, TEXT_TAP)
        for c in range(24, 27):  # the application names: only the tshark engine fills them
            o = _put_entry(out, o, keys, keys_off, c)
            o = _put_entry(out, o, texts, texts_off, TEXT_NULL)
        out[o] = 125  # '}'
        out[o + 1] = 10
        o += 2
    return o
