"""Data-quality checks: they pass on the pipeline's output, catch injected faults, and block."""

import pytest
from analyse import analyse, at, day
from dagster import AssetSelection, DagsterInstance, materialize
from runs import Run, llm, write_runs

from rvbbit_assets.assets.alerts import alerts
from rvbbit_assets.assets.anomaly_scores import anomaly_scores, build_anomaly_scores
from rvbbit_assets.assets.baselines import baselines, build_baselines
from rvbbit_assets.assets.cascade_analytics import build_cascade_analytics, cascade_analytics
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.priced_runs import priced_runs
from rvbbit_assets.assets.regression_flags import regression_flags
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.checks.per_run_checks import (
    find_baselines_using_later_runs,
    find_inconsistent_flags,
    find_non_finite,
    find_unanalysed_or_duplicated,
)
from rvbbit_assets.cli.run_logging import RunLogging, execute_assets
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, DayRange

pytestmark = pytest.mark.store_open_for_the_test

# The stages the checks guard, without the models others own (a NaN would stop those first).
STAGES = [session_facts, input_clusters, priced_runs, baselines, anomaly_scores, regression_flags,
          cascade_analytics, alerts]
DAYS = DayRange(day(0), day(1))


def _runs():
    costs = [1.0, 2.0, 4.0, 1.5, 3.0, 2.5]
    runs = [Run(f"a{i}", "a", at(0, 8 + i), [llm(cost)]) for i, cost in enumerate(costs)]
    runs += [Run(f"b{i}", "b", at(1, 8 + i), [llm(cost * 2)]) for i, cost in enumerate(costs)]
    runs += [Run(f"a-late{i}", "a", at(1, 8 + i), [llm(cost)]) for i, cost in enumerate(costs)]
    runs.append(Run("a-spike", "a", at(1, 20), [llm(40.0)]))
    return runs


@pytest.fixture(scope="module")
def analysed(module_store):
    with module_store.session("test data") as session:
        write_runs(session, _runs())
    analyse(module_store, DAYS.first, DAYS.last)
    return module_store


def _run_with_checks(store, days):
    return materialize(
        [*STAGES, *pipeline_checks],
        resources={"store": store},
        instance=DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: days.first.isoformat(), RANGE_END_TAG: days.last.isoformat()},
        raise_on_error=False,
    )


def _evaluations(result):
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def test_checks_pass_on_the_pipeline_output(analysed):
    result = _run_with_checks(analysed, DAYS)
    assert result.success
    evaluations = _evaluations(result)
    assert set(evaluations) == {
        (key.asset_key.to_user_string(), key.name)
        for check in pipeline_checks for key in check.check_keys
    }
    failed = {key: e.description for key, e in evaluations.items() if not e.passed}
    assert failed == {}
    once = evaluations[("cascade_analytics", "every_finished_run_analysed_once")]
    assert once.metadata["finished_runs"].value == 19
    assert once.metadata["days"].value == str(DAYS)
    spot = evaluations[("baselines", "baselines_use_only_earlier_runs")]
    assert spot.metadata["compared_runs"].value == 19


def test_checks_alone_recheck_stored_days(analysed):
    result = materialize(
        [*STAGES, *pipeline_checks],
        selection=AssetSelection.checks(*pipeline_checks),
        resources={"store": analysed},
        instance=DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: DAYS.first.isoformat(), RANGE_END_TAG: DAYS.last.isoformat()},
    )
    assert result.success and not result.get_asset_materialization_events()
    evaluations = _evaluations(result)
    assert len(evaluations) == 6 and all(e.passed for e in evaluations.values())
    assert {e.metadata["days"].value for e in evaluations.values()} == {str(DAYS)}


@pytest.fixture
def tampered(analysed):
    """Run a statement against the analytics tables, then rebuild what it broke."""
    statements = []

    def tamper(sql, params=None):
        statements.append(sql)
        with analysed.session("test tamper") as session:
            session.command(sql + " SETTINGS mutations_sync = 2" if "UPDATE" in sql else sql,
                            params)

    yield tamper
    if statements:
        with analysed.session("test restore") as session:
            for build in (build_baselines, build_anomaly_scores, build_cascade_analytics):
                build(session, DAYS)


def _find(store, finder, *args):
    with store.session("test check") as session:
        return finder(session, DAYS, *args)


def test_duplicate_and_missing_runs_are_caught(analysed, tampered):
    assert _find(analysed, find_unanalysed_or_duplicated).passed
    tampered("INSERT INTO ${analytics}.cascade_analytics"
             " SELECT * FROM ${analytics}.cascade_analytics WHERE session_id = 'b2'")
    tampered("DELETE FROM ${analytics}.cascade_analytics WHERE session_id = 'a3'")
    finding = _find(analysed, find_unanalysed_or_duplicated)
    assert not finding.passed
    assert finding.failures == [
        ("finished runs missing from cascade_analytics", 1, ["a3"]),
        ("session ids with more than one cascade_analytics row", 1, ["b2"]),
    ]
    assert "1 finished runs missing from cascade_analytics (e.g. 'a3')" in finding.description
    metadata = finding.result(DAYS).metadata
    assert metadata["failed: session_ids_with_more_than_one_cascade_analytics_row"].value == 1
    assert metadata["sample: finished_runs_missing_from_cascade_analytics"].value == ["a3"]


def test_nan_and_infinite_scores_are_caught(analysed, tampered):
    assert _find(analysed, find_non_finite, "anomaly_scores").passed
    assert _find(analysed, find_non_finite, "cascade_analytics").passed
    tampered("ALTER TABLE ${analytics}.anomaly_scores UPDATE cost_z_score = nan"
             " WHERE session_id = 'b1'")
    tampered("ALTER TABLE ${analytics}.cascade_analytics UPDATE cost_per_message = inf"
             " WHERE session_id = 'a2'")
    finding = _find(analysed, find_non_finite, "anomaly_scores")
    assert finding.failures == [("rows with a NaN or infinite cost_z_score", 1, ["b1"])]
    finding = _find(analysed, find_non_finite, "cascade_analytics")
    assert finding.failures == [("rows with a NaN or infinite cost_per_message", 1, ["a2"])]


def test_flags_inconsistent_with_scores_are_caught(analysed, tampered):
    assert _find(analysed, find_inconsistent_flags, "anomaly_scores").passed
    assert _find(analysed, find_inconsistent_flags, "cascade_analytics").passed
    tampered("ALTER TABLE ${analytics}.anomaly_scores UPDATE is_cost_outlier = true"
             " WHERE session_id = 'b0'")
    tampered("ALTER TABLE ${analytics}.cascade_analytics UPDATE is_regression = true"
             " WHERE session_id = 'a1'")
    finding = _find(analysed, find_inconsistent_flags, "anomaly_scores")
    assert finding.failures == [
        ("rows where is_cost_outlier disagrees with |cost_z_score| > 2", 1, ["b0"])]
    finding = _find(analysed, find_inconsistent_flags, "cascade_analytics")
    assert [f[0] for f in finding.failures] == [
        "rows where is_regression disagrees with cost +20% or duration +30%",
        "rows where regression_severity disagrees with is_regression",
    ]


def test_baselines_counting_later_runs_are_caught(analysed, tampered):
    finding = _find(analysed, find_baselines_using_later_runs)
    assert finding.passed and finding.metadata["compared_runs"] == 19
    # As if the baseline of a-late3 had also counted the run after it in its cluster.
    tampered("ALTER TABLE ${analytics}.baselines UPDATE cluster_run_count = cluster_run_count"
             " + 1, global_run_count = global_run_count + 1 WHERE session_id = 'a-late3'")
    finding = _find(analysed, find_baselines_using_later_runs)
    assert [f[:3] for f in finding.failures] == [
        ("sampled runs whose cluster_run_count is not the count of earlier runs", 1,
         ["a-late3"]),
        ("sampled runs whose global_run_count is not the count of earlier runs", 1,
         ["a-late3"]),
    ]
    assert finding.metadata["example"] == {
        "session_id": "a-late3", "stored_cluster_run_count": 10, "earlier_runs_in_cluster": 9}


def test_a_failing_check_blocks_downstream_assets(analysed):
    # Two finite but enormous costs sum to an infinite run cost (non-finite source costs are
    # already read as unknown) and a NaN z-score: anomaly_scores' check fails, so
    # cascade_analytics (and alerts after it) are not materialized in that run.
    nan_day = DayRange(day(2), day(2))
    with analysed.session("test data") as session:
        write_runs(session, [
            Run("n1", "n", at(2, 8), [llm(1.0)]),
            Run("n2", "n", at(2, 9), [llm(3.0)]),
            Run("n3", "n", at(2, 10), [llm(1e308), llm(1e308)]),
        ])
    result = _run_with_checks(analysed, nan_day)
    assert not result.success
    # The check's step failed; cascade_analytics and alerts never started.
    assert [e.step_key for e in result.get_step_failure_events()] == [
        "anomaly_scores_no_nan_or_infinite_scores"]
    started = {e.step_key for e in result.all_events if e.is_step_start}
    assert {"anomaly_scores", "anomaly_scores_no_nan_or_infinite_scores"} <= started
    assert not {"cascade_analytics", "alerts"} & started
    materialized = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert {"session_facts", "baselines", "anomaly_scores"} <= materialized
    assert "cascade_analytics" not in materialized and "alerts" not in materialized
    failed = {key: e for key, e in _evaluations(result).items() if not e.passed}
    assert set(failed) == {("anomaly_scores", "no_nan_or_infinite_scores")}
    evaluation = failed[("anomaly_scores", "no_nan_or_infinite_scores")]
    assert evaluation.metadata["failed: rows_with_a_NaN_or_infinite_cost_z_score"].value == 1
    assert evaluation.metadata["sample: rows_with_a_NaN_or_infinite_cost_z_score"].value == [
        "n3"]
    with analysed.session("test read") as session:
        assert session.scalar("SELECT count() FROM ${analytics}.cascade_analytics"
                              " WHERE session_id = 'n3'") == 0


# --- what the instance records for a run over several days ------------------------------------


def _day_statuses(instance, check_key):
    """The latest execution of the check per partition, as the instance stores it (what the
    UI's per-partition check status is built from): {partition: (status, is_current)}."""
    return {info.partition_key: (info.latest_execution_status.value, info.is_current)
            for info in instance.event_log_storage.get_asset_check_partition_info([check_key])}


def _checks_alone(store, instance, days):
    return materialize(
        [*STAGES, *pipeline_checks], selection=AssetSelection.checks(*pipeline_checks),
        resources={"store": store}, instance=instance, raise_on_error=False,
        tags={RANGE_START_TAG: days.first.isoformat(), RANGE_END_TAG: days.last.isoformat()},
    )


def test_a_range_run_records_every_days_check_result(analysed):
    instance = DagsterInstance.ephemeral()
    result = execute_assets(  # as `materialize` and `make run` run it
        [*STAGES, *pipeline_checks], analysed, instance, RunLogging.console("WARNING"),
        tags={RANGE_START_TAG: DAYS.first.isoformat(), RANGE_END_TAG: DAYS.last.isoformat()},
    )
    assert result.success
    days = [d.isoformat() for d in DAYS.days]
    check_keys = [key for check in pipeline_checks for key in check.check_keys]
    assert len(check_keys) == 6
    for key in check_keys:
        # Each day passed, against the materialization this run made of it (not "planned",
        # which the UI shows as skipped once the run is over).
        assert _day_statuses(instance, key) == {day: ("SUCCEEDED", True) for day in days}, key
    evaluations = [e for e in result.get_asset_check_evaluations()
                   if e.check_name == "every_finished_run_analysed_once"]
    assert sorted(e.partition for e in evaluations) == days
    assert {e.metadata["finished_runs"].value for e in evaluations} == {19}  # the range's
    assert {e.metadata["days"].value for e in evaluations} == {str(DAYS)}
    assert all(e.blocking and e.target_materialization_data.run_id == result.run_id
               for e in evaluations)


def test_a_failing_range_check_fails_only_the_days_with_the_fault(analysed, tampered):
    tampered("ALTER TABLE ${analytics}.anomaly_scores UPDATE cost_z_score = nan"
             " WHERE session_id = 'b1'")  # a run of day 1
    instance = DagsterInstance.ephemeral()
    result = _checks_alone(analysed, instance, DAYS)
    assert not result.success  # a blocking check failed
    key = next(k for check in pipeline_checks for k in check.check_keys
               if k.name == "no_nan_or_infinite_scores")
    assert _day_statuses(instance, key) == {
        day(0).isoformat(): ("SUCCEEDED", True), day(1).isoformat(): ("FAILED", True)}
    failed, = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert (failed.check_name, failed.partition) == ("no_nan_or_infinite_scores",
                                                     day(1).isoformat())
    assert failed.metadata["days"].value == str(day(1))
    assert failed.metadata["sample: rows_with_a_NaN_or_infinite_cost_z_score"].value == ["b1"]


def test_a_run_analysed_on_another_day_of_the_range_fails_both_days(analysed, tampered):
    # a3 ran on day 0; its cascade_analytics row is moved to day 1, inside the checked range.
    tampered("INSERT INTO ${analytics}.cascade_analytics SELECT * REPLACE"
             " (created_at + INTERVAL 1 DAY AS created_at)"
             " FROM ${analytics}.cascade_analytics WHERE session_id = 'a3'")
    tampered("DELETE FROM ${analytics}.cascade_analytics WHERE session_id = 'a3'"
             " AND created_at < {day1:DateTime}", {"day1": at(1, 0)})
    assert _find(analysed, find_unanalysed_or_duplicated).failures == [
        ("finished runs missing from cascade_analytics", 1, ["a3"]),
        ("cascade_analytics rows without a finished run", 1, ["a3"]),
    ]
    instance = DagsterInstance.ephemeral()
    assert not _checks_alone(analysed, instance, DAYS).success
    key = next(k for check in pipeline_checks for k in check.check_keys
               if k.name == "every_finished_run_analysed_once")
    assert _day_statuses(instance, key) == {
        day(0).isoformat(): ("FAILED", True), day(1).isoformat(): ("FAILED", True)}
