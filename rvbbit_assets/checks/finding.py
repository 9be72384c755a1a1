"""The outcome of a data-quality check: what it checked, and each kind of failure with its
count and a sample of session ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetCheckResult

from rvbbit_assets.orchestration.day_range import DayRange


@dataclass
class Finding:
    """The outcome of one check: failures are (what, count, sample session ids)."""

    checked: str
    failures: list[tuple[str, int, list[str]]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def fail(self, what: str, count: int, sample: Sequence[str] = ()) -> None:
        if count:
            self.failures.append((what, int(count), list(sample)))

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def description(self) -> str:
        if self.passed:
            return f"passed: {self.checked}"
        return "FAILED: " + "; ".join(
            f"{count} {what}" + (f" (e.g. {', '.join(map(repr, sample[:3]))})" if sample else "")
            for what, count, sample in self.failures
        )

    def result_metadata(self, days: DayRange) -> dict[str, Any]:
        """The days checked, the check's own figures, and each failure's count and sample."""
        metadata: dict[str, Any] = {"days": str(days), **self.metadata}
        for what, count, sample in self.failures:
            key = what.replace(" ", "_").replace("|", "").replace(">", "gt")
            metadata[f"failed: {key}"] = count
            if sample:
                metadata[f"sample: {key}"] = sample
        return metadata

    def result(self, days: DayRange) -> AssetCheckResult:
        return AssetCheckResult(
            passed=self.passed, description=self.description,
            metadata=self.result_metadata(days),
        )
