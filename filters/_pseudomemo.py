"""Pseudonym text remembered across batches: a tap sees the same subscribers all day.

Every pseudonymizer of the gate maps an address to the same text every time under one key,
so the gate asks it only about addresses it has not seen under that key, and builds the
output column from remembered text: one hash-table pass over the targeted rows
(``memo_find``), the pseudonymizer on the new addresses alone, one copy of the bytes
(``gather_text``). The result is the column the pseudonymizer itself would give with the
targeted rows replaced, byte for byte; rows that are not targeted keep their own text
(and their nulls).

Fail closed: a targeted value that is no address stops the batch with the
pseudonymizer's own error, and if the pseudonymizer fails, the memo forgets everything so
no address is ever left without its pseudonym. Bounded: past ``limit`` addresses it
starts again empty (512k addresses are about 30 MiB).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from filters._fastgate import gather_text, memo_find
from filters._pseudonymizer import Pseudonymizer
from filters._textaddr import string_buffers
from policies import GateViolation, ParsedAddresses

_Bool = npt.NDArray[np.bool_]
_INT32_MAX = (1 << 31) - 1


class PseudonymMemo:
    """Address -> pseudonym text under one pseudonymizer (one key)."""

    def __init__(self, pseudonymizer: Pseudonymizer, limit: int = 1 << 19) -> None:
        self.pseudonymizer = pseudonymizer
        self.limit = limit
        self._count = 0
        self._slots = np.empty(0, np.int32)  # allocated on first use: 2 x limit, a power of two
        self._version = np.empty(0, np.uint8)
        self._hi = np.empty(0, np.uint64)
        self._lo = np.empty(0, np.uint64)
        self._text_offsets = np.zeros(0, np.int64)  # entry i's text: _text[offsets[i]:offsets[i + 1]]
        self._text = np.empty(0, np.uint8)

    def __len__(self) -> int:
        return self._count

    def replace(self, values: pa.Array, parsed: ParsedAddresses, targets: _Bool) -> pa.Array:
        """``values`` (string) with the ``targets`` rows replaced by the pseudonyms of ``parsed``."""
        n_targets = int(targets.sum())
        if (parsed.version[targets] == 0).any():
            raise GateViolation(f"{self.pseudonymizer.method}: a value is not an IP address; the batch does not pass")
        if not pa.types.is_string(values.type) or n_targets > self.limit:  # outside what the memo is built for
            replaced = self.pseudonymizer.pseudonymize_parsed(parsed.select(targets))
            return pc.replace_with_mask(values, pa.array(targets), replaced)
        if self._count + n_targets > self.limit or not len(self._slots):
            self._reset()
        entry = np.empty(len(values), np.int32)
        before = self._count
        target_bytes = targets.view(np.uint8)
        try:
            self._count = memo_find(
                self._slots, self._version, self._hi, self._lo, before,
                parsed.version, parsed.v6_hi | parsed.v4, parsed.v6_lo, target_bytes, entry,
            )  # fmt: skip
            if self._count > before:
                self._learn(before, self._count)
        except BaseException:
            self._reset()  # entries without text must never be found
            raise
        offsets, data = string_buffers(values)
        known = np.maximum(entry, 0)
        remembered = self._text_offsets[known + 1] - self._text_offsets[known]
        lengths = np.where(entry >= 0, remembered, np.diff(offsets))
        out_offsets = np.zeros(len(values) + 1, np.int64)
        np.cumsum(lengths, out=out_offsets[1:])
        if out_offsets[-1] > _INT32_MAX:
            raise GateViolation("a batch's pseudonymized addresses exceed 2 GiB of text; hand the gate smaller batches")
        out32 = out_offsets.astype(np.int32)
        out = np.empty(int(out_offsets[-1]), np.uint8)
        gather_text(entry, self._text_offsets, self._text, offsets, data, out32, out)
        validity = values.buffers()[0] if values.null_count else None
        if validity is not None and values.offset:
            validity = pa.py_buffer(np.packbits(values.is_valid().to_numpy(zero_copy_only=False), bitorder="little"))
        return pa.StringArray.from_buffers(len(values), pa.py_buffer(out32), pa.py_buffer(out), validity,
                                           values.null_count)  # fmt: skip

    def _learn(self, start: int, stop: int) -> None:
        """Ask the pseudonymizer about the addresses entered from ``start`` to ``stop``."""
        version = self._version[start:stop]
        hi, lo = self._hi[start:stop], self._lo[start:stop]
        is4, is6 = version == 4, version == 6
        fresh = ParsedAddresses(version, np.where(is4, hi, 0).astype(np.uint32), np.where(is6, hi, 0),
                                np.where(is6, lo, 0).astype(np.uint64))  # fmt: skip
        # the new addresses are distinct and valid: a pseudonymizer that can skip finding
        # repeats is asked so (all of the gate's can)
        each = getattr(self.pseudonymizer, "pseudonymize_each", self.pseudonymizer.pseudonymize_parsed)
        text = each(fresh)
        if len(text) != stop - start or text.null_count:  # a broken pseudonymizer must not shift or drop rows
            raise GateViolation(f"{self.pseudonymizer.method}: {len(text)} pseudonyms for {stop - start} addresses")
        text = text.cast(pa.string())
        offsets, data = string_buffers(text)
        base = int(self._text_offsets[start])
        self._text_offsets[start + 1 : stop + 1] = base + (offsets[1:].astype(np.int64) - offsets[0])
        end = int(self._text_offsets[stop])
        if end > len(self._text):  # grow by doubling: appends stay cheap
            grown = np.empty(max(end, 2 * len(self._text), 1 << 16), np.uint8)
            grown[:base] = self._text[:base]
            self._text = grown
        self._text[base:end] = data[offsets[0] : offsets[-1]]

    def _reset(self) -> None:
        size = 1 << max(int(2 * self.limit - 1).bit_length(), 4)
        if len(self._slots) != size:
            self._slots = np.empty(size, np.int32)
            self._version = np.zeros(self.limit, np.uint8)
            self._hi = np.zeros(self.limit, np.uint64)
            self._lo = np.zeros(self.limit, np.uint64)
            self._text_offsets = np.zeros(self.limit + 1, np.int64)
        self._slots.fill(-1)
        self._count = 0
