"""How far a sync has got: counts, and a percentage that only grows from 0 to 100.

The reference's full sync runs locations, nodes, allocations, nests and eggs,
servers, users, then subusers from 85 % (its CHANGELOG: "Progress tracking
updated to 85% for subuser sync step"). Each step here has its share of 100 in
that order (WEIGHTS); a sync of fewer steps shares 100 among the steps it runs.
Within a step every list it reads (one per node for allocations, per nest for
eggs) counts equally, and a list advances by the items taken against the total
its first page announced (Pterodactyl's `meta.pagination.total`). Steps run
concurrently, so the percentage is the weighted sum of what each has done;
it is kept below 100 until the sync has completed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Shares of 100 in the reference's order: subusers start at 85 (5+10+15+5+10+25+15).
WEIGHTS = {
    "locations": 5,
    "nodes": 10,
    "allocations": 15,
    "nests": 5,
    "eggs": 10,
    "servers": 25,
    "users": 15,
    "subusers": 15,
}
RUNNING_CAP = 99.9  # a running sync never reads as finished


@dataclass
class ListProgress:
    total: int | None = None  # from the list's first page; None until it arrived
    taken: int = 0

    @property
    def fraction(self) -> float:
        if self.total is None:
            return 0.0
        return min(1.0, self.taken / self.total) if self.total else 1.0


@dataclass
class StepProgress:
    lists: int | None = None  # how many lists the step reads, once its parents are known
    by_list: dict[str, ListProgress] = field(default_factory=dict)
    finished: bool = False

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        if not self.lists:
            return 0.0
        return min(1.0, sum(p.fraction for p in self.by_list.values()) / self.lists)


@dataclass
class Progress:
    step: str = ""
    total: int = 0
    synced: int = 0
    failed: int = 0
    written: int = 0  # rows actually inserted or changed
    counts: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    last_event_at: float = 0.0
    saved_at: float = 0.0
    shares: dict[str, float] = field(default_factory=dict)  # step -> share of 100
    steps: dict[str, StepProgress] = field(default_factory=dict)
    reported: float = 0.0  # the highest percentage said so far
    completed: bool = False
    notes: dict[str, str] = field(default_factory=dict)  # more for the log's metadata

    @classmethod
    def of(cls, step_names: list[str]) -> Progress:
        weight = sum(WEIGHTS[name] for name in step_names) or 1
        return cls(
            shares={name: 100.0 * WEIGHTS[name] / weight for name in step_names},
            steps={name: StepProgress() for name in step_names},
        )

    def plan(self, step: str, lists: int) -> None:
        self.steps[step].lists = lists

    def take(
        self, step: str, list_key: str, first: bool, page_total: int | None, items: int
    ) -> None:
        """A page of `items`; a list's first page gives its total (None: unpaged)."""
        lp = self.steps[step].by_list.setdefault(list_key, ListProgress())
        if first:
            lp.total = items if page_total is None else page_total
        lp.taken += items
        self.synced += items
        self.counts[step] = self.counts.get(step, 0) + items

    def finish(self, step: str) -> None:
        self.steps[step].finished = True

    def complete(self) -> None:
        self.completed = True

    @property
    def percentage(self) -> float:
        if self.completed:
            return 100.0
        done = sum(self.shares[name] * s.fraction for name, s in self.steps.items())
        self.reported = max(self.reported, min(RUNNING_CAP, done))
        return round(self.reported, 1)
