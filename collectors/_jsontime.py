"""UTC timestamps as ISO 8601 text, formatted with numpy arithmetic.

Arrow's ``strftime`` goes through the time-zone database for every value and costs more
than decoding the packets of the flows it formats. Microsecond timestamps in years 0000 to
9999 (every timestamp a capture can hold) are formatted here from their integers, with the
days turned into a civil date by the proleptic Gregorian rules; the text is the same as
``strftime("%Y-%m-%dT%H:%M:%SZ")`` gives, fraction included.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_US_PER_DAY = 86_400_000_000
_DAYS_0000_TO_1970 = 719_468  # days from 0000-03-01 to 1970-01-01, in the civil_from_days era count
_MIN_US = -62_167_219_200_000_000  # 0000-01-01T00:00:00Z
_MAX_US = 253_402_300_800_000_000  # 10000-01-01T00:00:00Z, excluded
_TEMPLATE = np.frombuffer(b"0000-00-00T00:00:00.000000Z", dtype=np.uint8)
_PAIRS = np.array([[48 + n // 10, 48 + n % 10] for n in range(100)], dtype=np.uint8)  # "00" to "99"
WIDTH = len(_TEMPLATE)


def formattable(column: pa.Array) -> bool:
    """Whether ``iso_texts`` can format this column (microseconds, UTC, years 0000 to 9999)."""
    kind = column.type
    if not (pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz in ("UTC", "+00:00", "Z")):
        return False
    values = _micros(column)
    valid = values[valid_mask(column)]
    return bool(valid.size == 0 or (valid.min() >= _MIN_US and valid.max() < _MAX_US))


def iso_texts(column: pa.Array) -> np.ndarray:
    """A (n, 27) uint8 matrix: each row the ISO text of one value (nulls give a meaningless row)."""
    micros = _micros(column).copy()
    micros[~valid_mask(column)] = 0
    days, in_day = np.divmod(micros, _US_PER_DAY)
    year, month, day = _civil_from_days(days)
    seconds, fraction = np.divmod(in_day, 1_000_000)
    hour, rest = np.divmod(seconds, 3600)
    minute, second = np.divmod(rest, 60)
    out = np.empty((len(micros), WIDTH), dtype=np.uint8)
    out[:] = _TEMPLATE
    century, year_in_century = np.divmod(year, 100)
    fraction_high, fraction_low = np.divmod(fraction, 10_000)
    fraction_mid, fraction_low = np.divmod(fraction_low, 100)
    pairs = (century, year_in_century, month, day, hour, minute, second, fraction_high, fraction_mid, fraction_low)
    for start, number in zip((0, 2, 5, 8, 11, 14, 17, 20, 22, 24), pairs, strict=True):
        out[:, start : start + 2] = _PAIRS[number]
    return out


def _micros(column: pa.Array) -> np.ndarray:
    return np.frombuffer(column.buffers()[1], dtype=np.int64)[column.offset : column.offset + len(column)]


def valid_mask(column: pa.Array) -> np.ndarray:
    """True where ``column`` holds a value, read from its validity bitmap (no compute kernel)."""
    n = len(column)
    if column.null_count == 0:
        return np.ones(n, dtype=bool)
    if pa.types.is_null(column.type):
        return np.zeros(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(column.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[column.offset : column.offset + n].astype(bool)


def _civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of days since 1970-01-01 (eras of 400 years, years starting in March)."""
    z = days + _DAYS_0000_TO_1970
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day
