"""What `cer annotate` reports: each input's result and the run's summary table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cer_desktop.annotate.inputs import InputItem

__all__ = ["AnnotateSummary", "InputResult"]


@dataclass
class InputResult:
    """What became of one input; `message` says why when it did not simply finish."""

    item: InputItem
    status: str  # "done" | "skipped" | "failed" | "interrupted"
    frames: int = 0
    faces_rows: int = 0
    seconds: float = 0.0
    message: str = ""
    folder: Path | None = None
    unreachable: str = ""  # the server stopped answering during this input: why


@dataclass
class AnnotateSummary:
    """Every input's result; `table()` is what `cer annotate` prints at the end."""

    results: list[InputResult] = field(default_factory=list)
    interrupted: str = ""  # the signal that stopped the run, if any
    not_started: int = 0

    @property
    def failed(self) -> list[InputResult]:
        return [r for r in self.results if r.status == "failed"]

    def table(self) -> str:
        lines = []
        for r in self.results:
            detail = r.message or f"{r.frames} frames, {r.faces_rows} face rows, {r.seconds:.1f} s"
            lines.append(f"  {r.status:<8} {r.item.path}  ->  {detail}")
        done = sum(r.status == "done" for r in self.results)
        skipped = sum(r.status == "skipped" for r in self.results)
        lines.append(
            f"{done} annotated, {skipped} already done, {len(self.failed)} failed "
            f"(of {len(self.results)} inputs)"
        )
        if self.failed:
            names = ", ".join(r.item.name for r in self.failed)
            lines.append(f"failed, annotated again by the next run of this command: {names}")
        if self.interrupted:
            lines.append(
                f"stopped by {self.interrupted}: {self.not_started} inputs not started;"
                " run the same command again to go on"
            )
        return "\n".join(lines)
