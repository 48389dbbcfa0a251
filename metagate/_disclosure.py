"""Small-count suppression for the transparency report: no count under k, and none worked out.

The rule, as the report states it:

1. A count of data (packets, flows, records, field values, STIX objects) from 1 to k - 1 is
   printed ``<k``. Zero is printed as 0: it says nothing about anyone.
2. Figures that add up are declared as relations (``total = part + part + ...``), e.g. the
   flows collected are the sum of every run's and also kept plus dropped. A relation with a
   hidden member must hide at least one more, and if its total is printed, one of them must
   be a count that is not small (printed ``withheld``): with one hidden member a reader gets
   it back by subtraction, and with only ``<k`` members beside a printed total their known
   sum can pin them down (two of them adding up to 2k - 2 are both k - 1). The member
   withheld is the smallest of at least 2k - 2 if there is one (then every ``<k`` of the sum
   keeps its whole range of 1 to k - 1), else the smallest above zero; this is repeated
   until every relation holds.
3. Counts of acts, one ledger entry each (gate runs, retention passes, approvals, review
   events, share and pull runs), are printed as they are: they are about the operator's work,
   not about subscribers, and oversight needs them exact.

Limit: rule 2 is checked one relation at a time. When the only count left to withhold is
under 2k - 2, a reader still narrows a ``<k`` (a withheld w of at least k beside a hidden a
that add up to s gives a <= s - k); and ranges combined across several relations are not
audited (that needs linear programming over the tables). The report's tables are kept few
and flat so that such combinations are rare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from policies import ConfigError

JsonFigure = int | str  # an exact count, "<k" or "withheld"


class Shown(StrEnum):
    EXACT = "exact"
    SMALL = "small"  # 1 .. k-1
    WITHHELD = "withheld"  # printed neither, so that a small one cannot be worked out


@dataclass
class Disclosure:
    """Exact figures by name, the relations between them, and what may be printed of each."""

    k: int
    values: dict[str, int] = field(default_factory=dict)
    exempt: set[str] = field(default_factory=set)
    relations: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    _state: dict[str, Shown] | None = None

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ConfigError(f"k must be at least 2, got {self.k}", field="k")

    def count(self, name: str, value: int, *, act: bool = False) -> str:
        """Declare a figure (``act``: a count of ledger entries, never suppressed); its name."""
        if name in self.values and self.values[name] != value:
            raise ValueError(f"figure {name} declared twice with different values")
        self.values[name] = value
        if act:
            self.exempt.add(name)
        self._state = None
        return name

    def relate(self, total: str, parts: Iterable[str]) -> None:
        """Declare ``total = sum(parts)`` (checked: the figures must add up)."""
        members = tuple(parts)
        if sum(self.values[p] for p in members) != self.values[total]:
            raise ValueError(f"{total} is not the sum of {', '.join(members)}")
        self.relations.append((total, members))
        self._state = None

    def state(self) -> dict[str, Shown]:
        if self._state is None:
            self._state = _solve(self.values, self.exempt, self.relations, self.k)
        return self._state

    def figure(self, name: str) -> JsonFigure:
        """What the report prints for a figure: its count, ``<k`` or ``withheld``."""
        shown = self.state()[name]
        if shown is Shown.EXACT:
            return self.values[name]
        return f"<{self.k}" if shown is Shown.SMALL else "withheld"

    def hidden(self) -> list[str]:
        return sorted(name for name, shown in self.state().items() if shown is not Shown.EXACT)


def _solve(
    values: Mapping[str, int], exempt: set[str], relations: Sequence[tuple[str, tuple[str, ...]]], k: int
) -> dict[str, Shown]:
    state = {
        name: Shown.SMALL if 0 < value < k and name not in exempt else Shown.EXACT for name, value in values.items()
    }
    changed = True
    while changed:  # each pass withholds one more figure or stops: bounded by the number of figures
        changed = False
        for total, parts in relations:
            members = (total, *parts)
            hidden = [m for m in members if state[m] is not Shown.EXACT]
            if not _exposed(hidden, state[total] is Shown.EXACT, state):
                continue
            # a count of at least 2k - 2 leaves every <k of the sum its whole range; then the
            # smallest, parts before the total, then by name: the same report every time
            candidates = sorted(
                (m for m in members if state[m] is Shown.EXACT and values[m] > 0 and m not in exempt),
                key=lambda m: (values[m] < 2 * k - 2, values[m], m == total, m),
            )
            if not candidates:
                raise ValueError(f"cannot protect {hidden[0]}: every other figure of its sum is exempt or zero")
            state[candidates[0]] = Shown.WITHHELD
            changed = True
    return state


def _exposed(hidden: list[str], total_printed: bool, state: Mapping[str, Shown]) -> bool:
    """Whether a sum gives its hidden members away: one alone, or only <k ones beside a printed total."""
    if len(hidden) == 1:
        return True
    return bool(hidden) and total_printed and not any(state[m] is Shown.WITHHELD for m in hidden)
