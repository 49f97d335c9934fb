"""The comparison's bookkeeping, pure so tests can feed it: each round's figures per
engine, what was wrong, skipped or broken, and the one table of medians it prints."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

# The table's rows: (figure, label); {size} is the workload's size.
ROWS = [
    ("fan-out", "fan-out, {size:,} activities"),
    ("sequence", "sequence, {size:,} activities"),
    ("events", "{size:,} events into one instance"),
    ("starts", "{size:,} starts (accepted)"),
    ("starts-completed", "{size:,} starts (started and completed)"),
]
# A figure's workload (the size option it runs at).
WORKLOAD_OF = {"starts-completed": "starts"}
DEVHOST = "devhost"


@dataclass
class Results:
    """Everything one sitting measured, in the order engines were declared."""

    engines: list[str]
    rates: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    wrong: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def add(self, engine: str, figure: str, rate: float) -> None:
        self.rates[(engine, figure)].append(rate)

    def mark_wrong(self, engine: str, workload: str, why: str) -> None:
        self.wrong[(engine, workload)] = why

    def failed(self) -> bool:
        """A wrong answer or an engine that broke fails the run; a skipped engine does not
        (it is reported, with its reason)."""
        return bool(self.wrong or self.broken)

    def median(self, engine: str, figure: str) -> float | None:
        rates = self.rates.get((engine, figure))
        return statistics.median(rates) if rates else None

    def cell(self, engine: str, figure: str) -> str:
        if engine in self.skipped:
            return "skipped"
        if (engine, WORKLOAD_OF.get(figure, figure)) in self.wrong:
            return "WRONG"
        value = self.median(engine, figure)
        if value is None:
            return "error" if engine in self.broken else "-"
        return f"{value:,.0f}/s"

    def ratio(self, figure: str) -> str:
        """devhost's median over the fastest other engine's, and which one that is."""
        mine = self.median(DEVHOST, figure)
        others = [
            (value, engine)
            for engine in self.engines
            if engine != DEVHOST
            and (engine, WORKLOAD_OF.get(figure, figure)) not in self.wrong
            and (value := self.median(engine, figure)) is not None
        ]
        if mine is None or not others or (DEVHOST, WORKLOAD_OF.get(figure, figure)) in self.wrong:
            return "-"
        best, engine = max(others)
        return f"{mine / best:.2f}× {engine}"

    def table(self, sizes: dict[str, int]) -> str:
        header = ["workload", *self.engines, "ratio (devhost / fastest other)"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for figure, label in ROWS:
            size = sizes.get(WORKLOAD_OF.get(figure, figure), 0)
            if size <= 0:
                continue
            cells = [self.cell(engine, figure) for engine in self.engines]
            row = [label.format(size=size), *cells, self.ratio(figure)]
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)

    def notes(self) -> list[str]:
        """Why a cell is not a figure: skipped engines, wrong answers, broken engines."""
        notes = [f"{engine} skipped: {why}" for engine, why in self.skipped.items()]
        notes += [
            f"{engine} {workload} WRONG: {why}" for (engine, workload), why in self.wrong.items()
        ]
        notes += [f"{engine} broke: {why}" for engine, why in self.broken.items()]
        return notes
