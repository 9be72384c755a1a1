"""A check's verdict for each day of a run over a range of days, recorded per partition.

Dagster records the `AssetCheckResult` of a run over a range of days with no partition, and
its UI reads a partitioned check's status per partition: after such a run every day of the
check read "skipped" ("Asset checks 0 / 3 Passed") although the check passed. So a check over
a range yields one evaluation per day instead, each aimed at that day's latest
materialization, plus the output that lets a blocking check hold back what comes after it.

Every check here is a condition on each day's rows (the baseline spot check on its sample's
runs), so no day of a passing range fails: each day gets the range's verdict, and the range
costs one query as before. A failing range is halved until the failing days are found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetRecordsFilter,
    DagsterInstance,
)

# The type of AssetCheckEvaluation's target_materialization_data, which Dagster does not export.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as TargetMaterialization,
)

from rvbbit_assets.checks.finding import Finding
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import StoreSession

Verdicts = list[tuple[DayRange, Finding]]


def day_verdicts(
    session: StoreSession, days: DayRange, find: Callable[[StoreSession, DayRange], Finding]
) -> Verdicts:
    """(days, finding) pairs covering `days`: the range's finding when it passes, else the
    findings of its halves, down to single failing days."""
    finding = find(session, days)
    if finding.passed or days.first == days.last:
        return [(days, finding)]
    middle = days.first + timedelta(days=(days.last - days.first).days // 2)
    halves = [*day_verdicts(session, DayRange(days.first, middle), find),
              *day_verdicts(session, DayRange(middle + timedelta(days=1), days.last), find)]
    if all(half.passed for _, half in halves):
        # What failed spans days (a run analysed on another day of the range): no day alone
        # shows it, so every day of the range carries the range's failure.
        return [(days, finding)]
    return halves


def latest_materializations(
    instance: DagsterInstance, key: AssetCheckKey, partitions: Sequence[str]
) -> dict[str, TargetMaterialization]:
    """The latest materialization of each partition of the checked asset, newest first."""
    found: dict[str, TargetMaterialization] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key.asset_key, asset_partitions=list(partitions)),
            limit=max(len(partitions), 1), cursor=cursor,
        )
        for record in page.records:
            if record.partition_key is not None:
                found.setdefault(record.partition_key, TargetMaterialization(
                    storage_id=record.storage_id, run_id=record.run_id,
                    timestamp=record.timestamp))
        if len(found) >= len(partitions) or not page.has_more:
            return found
        cursor = page.cursor


def day_evaluations(
    instance: DagsterInstance, key: AssetCheckKey, partitions: Sequence[str], verdicts: Verdicts
) -> Iterator[AssetCheckEvaluation]:
    """One blocking evaluation per partition (a day's key is its date), from the verdict of the
    days that contain it."""
    targets = latest_materializations(instance, key, partitions)
    for partition in partitions:
        day = date.fromisoformat(partition)
        checked, finding = next((d, f) for d, f in verdicts if d.first <= day <= d.last)
        yield AssetCheckEvaluation(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=finding.passed,
            metadata=finding.result_metadata(checked),
            target_materialization_data=targets.get(partition),
            severity=AssetCheckSeverity.ERROR,
            description=finding.description,
            blocking=True,
            partition=partition,
        )

