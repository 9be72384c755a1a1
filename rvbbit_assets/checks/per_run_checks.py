"""Data-quality checks on the per-run assets, for the days of the run that materializes them.

Each check is partitioned like its asset and blocking: when it fails, the downstream
assets of the same run are not materialized. Each reports what failed in its description
and metadata (counts, and up to 10 session ids of each kind of problem).

The logic lives in `find_*` functions over a StoreSession and a DayRange, so it can be
run (and tested) outside Dagster too.
"""

import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import date

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetsDefinition,
    Output,
    PreviewWarning,
    asset_check,
)

from rvbbit_assets.assets.anomaly_scores import anomaly_scores
from rvbbit_assets.assets.baselines import baselines
from rvbbit_assets.assets.cascade_analytics import cascade_analytics
from rvbbit_assets.assets.store_asset import retry_when_store_busy
from rvbbit_assets.checks.day_verdicts import Verdicts, day_evaluations, day_verdicts
from rvbbit_assets.checks.finding import Finding
from rvbbit_assets.config import setting
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, DayRange, utc_now
from rvbbit_assets.orchestration.partitions import daily_partitions
from rvbbit_assets.orchestration.run_exclusion import STORE_POOL
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import load_sql

BASELINE_SAMPLE_SIZE = 50
# cascade_analytics keeps scores as Float32: allow for the rounding around a threshold.
FLOAT32_TOLERANCE = 1e-4


# --- the checks' logic -------------------------------------------------------------------------


def find_unanalysed_or_duplicated(session: StoreSession, days: DayRange) -> Finding:
    """Every finished run of the days (session_facts) analysed exactly once."""
    (finished, analysed, missing, missing_sample, unexpected, unexpected_sample, duplicated,
     duplicated_sample, duplicated_facts, elsewhere, elsewhere_sample), = session.rows(
        load_sql(__file__, "analysed_once"), days.params()
    )
    finding = Finding(
        f"{finished or 0} finished runs, {analysed or 0} cascade_analytics rows",
        metadata={"finished_runs": int(finished or 0), "analysed_rows": int(analysed or 0)},
    )
    finding.fail("finished runs missing from cascade_analytics", missing, missing_sample)
    finding.fail("cascade_analytics rows without a finished run", unexpected, unexpected_sample)
    finding.fail("session ids with more than one cascade_analytics row", duplicated,
                 duplicated_sample)
    finding.fail("session ids with more than one session_facts row", duplicated_facts)
    finding.fail("runs also analysed on another day", elsewhere, elsewhere_sample)
    return finding


def _float_columns(session: StoreSession, table: str) -> list[str]:
    return [
        name
        for (name,) in session.rows(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}"
            " AND match(type, '^(Nullable\\\\()?Float(32|64)') ORDER BY position",
            {"db": session.analytics_database, "t": table},
        )
    ]


def _counts_and_sample(
    session: StoreSession, table: str, named_conditions: Sequence[tuple[str, str]],
    days: DayRange,
) -> tuple[dict[str, int], list[str]]:
    """How many rows of the days meet each (name, SQL condition), and up to 10 ids of any."""
    if not named_conditions:
        return {}, []
    counts = ", ".join(f"countIf({condition})" for _, condition in named_conditions)
    any_condition = " OR ".join(f"({condition})" for _, condition in named_conditions)
    (*values, sample), = session.rows(
        f"SELECT {counts}, arraySlice(arraySort(groupArrayIf(session_id, {any_condition})), 1, 10)"
        f" FROM ${{analytics}}.`{table}`"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    return {name: int(v) for (name, _), v in zip(named_conditions, values, strict=True)}, sample


def find_non_finite(session: StoreSession, days: DayRange, table: str) -> Finding:
    """No NaN or infinite value in any floating-point column of the table's rows."""
    columns = _float_columns(session, table)
    counts, sample = _counts_and_sample(
        session, table,
        [(c, f"NOT ifNull(isFinite(`{c}`), true)") for c in columns], days,
    )
    finding = Finding(f"{len(columns)} floating-point columns of {table} are finite",
                      metadata={"columns_checked": columns})
    for column, count in counts.items():
        finding.fail(f"rows with a NaN or infinite {column}", count, sample)
    return finding


def _outside(flag: str, score: str, threshold: float, tolerance: float) -> str:
    """The flag disagrees with score > threshold, beyond the tolerance."""
    return (
        f"({flag} AND {score} < {threshold - tolerance!r})"
        f" OR (NOT {flag} AND {score} > {threshold + tolerance!r})"
    )


def _flag_rules(table: str) -> list[tuple[str, str]]:
    tolerance = FLOAT32_TOLERANCE if table == "cascade_analytics" else 0.0
    rules = [
        (f"is_{name}_outlier disagrees with |{name}_z_score| > 2",
         _outside(f"is_{name}_outlier", f"abs({name}_z_score)", 2.0, tolerance))
        for name in ("cost", "duration", "tokens")
    ]
    if table == "cascade_analytics":
        rules += [
            ("is_regression disagrees with cost +20% or duration +30%",
             f"is_regression != (vs_recent_avg_cost > 20 OR vs_recent_avg_duration > 30)"
             f" AND abs(vs_recent_avg_cost - 20) > {tolerance!r}"
             f" AND abs(vs_recent_avg_duration - 30) > {tolerance!r}"),
            ("regression_severity disagrees with is_regression",
             "(regression_severity = 'none') = is_regression"
             " OR regression_severity NOT IN ('none', 'minor', 'major', 'critical')"),
        ]
    return rules


def find_inconsistent_flags(session: StoreSession, days: DayRange, table: str) -> Finding:
    """Outlier flags agree with |z| > 2 (and, in cascade_analytics, regression flags)."""
    rules = _flag_rules(table)
    counts, sample = _counts_and_sample(session, table, rules, days)
    finding = Finding(f"{len(rules)} flag rules hold in {table}")
    for what, count in counts.items():
        finding.fail(f"rows where {what}", count, sample)
    return finding


def find_baselines_using_later_runs(
    session: StoreSession, days: DayRange, sample_size: int = BASELINE_SAMPLE_SIZE
) -> Finding:
    """Spot check: a sample's baselines match a recount over strictly earlier runs only."""
    rows = session.rows(
        load_sql(__file__, "baseline_spot_check"), {**days.params(), "sample_size": sample_size}
    )
    sampled = session.scalar(
        "SELECT least(count(), {n:UInt32}) FROM ${analytics}.baselines"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        {**days.params(), "n": sample_size},
    )
    finding = Finding(
        f"baselines of {len(rows)} sampled runs match a recount over earlier runs",
        metadata={"sampled_runs": int(sampled or 0), "compared_runs": len(rows)},
    )
    wrong_cluster = [r[0] for r in rows if r[3] != r[4]]
    wrong_global = [r[0] for r in rows if r[1] != r[2]]
    wrong_average = [
        r[0] for r in rows if abs(r[5] - r[6]) > 1e-9 * max(1.0, abs(r[6]))
    ]
    finding.fail("sampled runs whose cluster_run_count is not the count of earlier runs",
                 len(wrong_cluster), wrong_cluster[:10])
    finding.fail("sampled runs whose global_run_count is not the count of earlier runs",
                 len(wrong_global), wrong_global[:10])
    finding.fail("sampled runs whose cluster_avg_cost is not the average of earlier runs",
                 len(wrong_average), wrong_average[:10])
    finding.fail("sampled runs missing from session_facts or input_clusters",
                 int(sampled or 0) - len(rows))
    if wrong_cluster:
        first = next(r for r in rows if r[3] != r[4])
        finding.metadata["example"] = {
            "session_id": first[0], "stored_cluster_run_count": int(first[3]),
            "earlier_runs_in_cluster": int(first[4]),
        }
    return finding


# --- Dagster wiring ----------------------------------------------------------------------------


def check_days(context: AssetCheckExecutionContext) -> DayRange:
    """The days of the run: its partition (range), else its range tags, else every day."""
    if context.has_partition_key_range or context.has_partition_key:
        window = context.partition_time_window
        return DayRange.from_datetimes(window.start, window.end)
    tags = context.run.tags
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return DayRange(date.fromisoformat(tags[RANGE_START_TAG]),
                        date.fromisoformat(tags[RANGE_END_TAG]))
    return DayRange(setting("RVBBIT_PARTITIONS_START"), utc_now().date())


Finder = Callable[[StoreSession, DayRange], Finding]
CheckEvent = AssetCheckResult | AssetCheckEvaluation | Output


def _per_run_check(asset: AssetsDefinition, name: str, finder: Finder, description: str
                   ) -> AssetChecksDefinition:
    key = AssetCheckKey(asset.key, name)

    def evaluate(context: AssetCheckExecutionContext, store: ClickHouseStore
                 ) -> list[CheckEvent]:
        days = check_days(context)
        # A run over several days: a verdict per day (day_verdicts.py); else one result,
        # which Dagster records for the run's one partition (or for none).
        per_day = context.has_partition_key_range and not context.has_partition_key
        with store.session(f"check {key.to_user_string()} {days}") as session:
            verdicts: Verdicts = (day_verdicts(session, days, finder) if per_day
                                  else [(days, finder(session, days))])
        for checked, finding in verdicts:
            (context.log.info if finding.passed else context.log.error)(
                f"{key.to_user_string()} {checked}: {finding.description}"
            )
        if not per_day:
            return [verdicts[0][1].result(days)]
        return [*day_evaluations(context.instance, key, context.partition_keys, verdicts),
                Output(None)]

    evaluate_when_store_free = retry_when_store_busy(evaluate)

    def run_check(context: AssetCheckExecutionContext, store: ClickHouseStore
                  ) -> Iterator[CheckEvent]:
        yield from evaluate_when_store_free(context, store)

    run_check.__name__ = name
    with warnings.catch_warnings():
        # Partitioned asset checks are marked preview; they are what scopes a check to the
        # days of the run that materialized the asset.
        warnings.simplefilter("ignore", PreviewWarning)
        return asset_check(
            asset=asset,
            name=name,
            description=description,
            blocking=True,
            partitions_def=daily_partitions,
            pool=STORE_POOL,
        )(run_check)


pipeline_checks: list[AssetChecksDefinition] = [
    _per_run_check(
        cascade_analytics, "every_finished_run_analysed_once", find_unanalysed_or_duplicated,
        "Every finished run of the days (session_facts) has exactly one cascade_analytics "
        "row, and none is analysed on another day too.",
    ),
    _per_run_check(
        cascade_analytics, "no_nan_or_infinite_values",
        lambda session, days: find_non_finite(session, days, "cascade_analytics"),
        "No NaN or infinite value in any floating-point column of the days' rows.",
    ),
    _per_run_check(
        cascade_analytics, "flags_match_scores",
        lambda session, days: find_inconsistent_flags(session, days, "cascade_analytics"),
        "Outlier flags agree with |z| > 2 (to Float32 precision); is_regression with "
        "cost +20% or duration +30%; regression_severity with is_regression.",
    ),
    _per_run_check(
        anomaly_scores, "no_nan_or_infinite_scores",
        lambda session, days: find_non_finite(session, days, "anomaly_scores"),
        "No NaN or infinite z-score or efficiency value in the days' rows.",
    ),
    _per_run_check(
        anomaly_scores, "outlier_flags_match_z_scores",
        lambda session, days: find_inconsistent_flags(session, days, "anomaly_scores"),
        "is_*_outlier is exactly |*_z_score| > 2.",
    ),
    _per_run_check(
        baselines, "baselines_use_only_earlier_runs", find_baselines_using_later_runs,
        f"Spot check of up to {BASELINE_SAMPLE_SIZE} runs per run of the pipeline: the "
        "stored run counts and cluster average equal a recount from session_facts and "
        "input_clusters over runs strictly before each one.",
    ),
]
