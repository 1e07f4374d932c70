"""What a fault's phase asked for, what came of it, and the lines the suite prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    """One fault's phase: each asked unit of work by its marker, and its effects."""

    fault: str
    asked: list[str] = field(default_factory=list)
    effects: Counter[str] = field(default_factory=Counter)  # marker → times it took effect
    failed: set[str] = field(default_factory=set)  # markers the system reported as failed
    # Asks never accepted: no answer while the gateway was down, so the caller knows it
    # has no work to wait for (shown in `where=`, not counted as failed work).
    refused: int = 0
    refusals: list[str] = field(default_factory=list)  # what the caller was told, for the log
    recovery_s: float = 0.0

    @property
    def lost(self) -> int:
        return sum(1 for m in self.asked if self.effects[m] == 0 and m not in self.failed)

    @property
    def duplicated(self) -> int:
        return sum(self.effects[m] - 1 for m in self.asked if self.effects[m] > 1)

    def settled(self) -> bool:
        """Every asked unit took effect or was reported failed."""
        return all(self.effects[m] > 0 or m in self.failed for m in self.asked)

    def line(self) -> str:
        took = sum(1 for m in self.asked if self.effects[m] > 0)
        line = (
            f"fault: {self.fault} sent={len(self.asked)} effects={took} lost={self.lost} "
            f"duplicated={self.duplicated} failed={len(self.failed)} "
            f"recovery_s={self.recovery_s:.1f}"
        )
        return f"{line} where={self.where()}" if self.where() else line

    def where(self) -> str:
        """Which kinds of work were hit: `hook:dup1,mail:lost2`."""
        hit: Counter[str] = Counter()
        for m in self.asked:
            kind = m.split(":", 1)[0]
            if self.effects[m] > 1:
                hit[f"{kind}:dup"] += self.effects[m] - 1
            elif self.effects[m] == 0:
                hit[f"{kind}:{'failed' if m in self.failed else 'lost'}"] += 1
        if self.refused:
            hit["refused"] = self.refused
        return ",".join(f"{k}{v}" for k, v in sorted(hit.items()))


def totals(tallies: list[Tally]) -> tuple[int, int, int]:
    return (
        sum(t.lost for t in tallies),
        sum(t.duplicated for t in tallies),
        sum(len(t.failed) for t in tallies),
    )


def summary(tallies: list[Tally]) -> str:
    lost, duplicated, failed = totals(tallies)
    return f"lost_total: {lost}\nduplicated_total: {duplicated}\nfailed_work_total: {failed}"
