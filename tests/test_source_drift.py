"""Source schema drift: RVBBIT's tables lose or retype a column, or gain new ones.

A drifted column must stop `materialize`, the sensor's tick, `serve` and any run at the
start with a message naming it; extra columns must change nothing.
"""

import os
import subprocess
import sys

import pytest
from analyse import analyse, at, day, row
from dagster import DagsterInstance, build_sensor_context, materialize
from runs import Run, llm, write_runs

from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.cli import commands as cli
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.sensors.new_cascade_sessions import new_cascade_sessions
from rvbbit_assets.store.source_schema import (
    SourceSchemaError,
    check_source_schema,
    expected_source_columns,
)

DRIFT = [
    # What an RVBBIT upgrade could do: drop a column, change a type, drop a table.
    "ALTER TABLE ${source}.unified_logs DROP COLUMN model",
    "ALTER TABLE ${source}.unified_logs MODIFY COLUMN tokens_in Nullable(String)",
    "DROP TABLE ${source}.prompt_lineage SYNC",
]
NAMED = ("unified_logs.model is missing", "unified_logs.tokens_in is Nullable(String), "
         "expected Nullable(Int32)", "prompt_lineage is missing")


@pytest.fixture
def drifted(store):
    with store.session("test data") as session:
        write_runs(session, [Run("r1", "c", at(0), [llm(0.1)])])
        for statement in DRIFT:
            session.command(statement)
    return store


@pytest.fixture
def store_env(monkeypatch):
    def use(store):
        monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
        monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)
    return use


def test_the_expected_columns_are_the_source_migration(store):
    with store.session("test read") as session:
        check_source_schema(session)  # a freshly migrated source passes
    assert set(expected_source_columns()) == {"unified_logs", "cascade_sessions",
                                              "prompt_lineage"}
    assert expected_source_columns()["cascade_sessions"]["created_at"] == "DateTime"


def test_materialize_stops_at_once_naming_every_drifted_column(drifted, store_env, capsys):
    store_env(drifted)
    assert cli.main(["materialize", "--start", day(0).isoformat()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rvbbit-analytics: RVBBIT's source tables")
    for text in NAMED:
        assert text in err
    assert "Traceback" not in err
    with drifted.session("test read") as session:  # nothing was analysed
        assert session.scalar("SELECT count() FROM ${analytics}.session_facts") == 0


def test_sensor_tick_fails_naming_the_column(drifted):
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"store": drifted})
        with pytest.raises(Exception) as caught:
            new_cascade_sessions(context)
    chain, error = [], caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__
    assert any(isinstance(e, SourceSchemaError) for e in chain)
    assert "unified_logs.model is missing" in str(chain[-1])


def test_a_run_launched_from_the_ui_stops_at_its_first_step(drifted):
    result = materialize(
        per_run_assets, resources={"store": drifted}, instance=DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: day(0).isoformat(), RANGE_END_TAG: day(0).isoformat()},
        raise_on_error=False,
    )
    assert not result.success
    failures = {e.step_key: e for e in result.get_step_failure_events()}
    # The first step reading the source; the rest (input_clusters too) wait on it.
    assert set(failures) == {"session_facts"}
    for failure in failures.values():
        assert "unified_logs.model is missing" in str(failure.event_specific_data.error)
    assert not result.get_asset_materialization_events()


def test_serve_refuses_to_start(drifted):
    env = {**os.environ, "RVBBIT_SOURCE_DATABASE": drifted.source_database,
           "RVBBIT_ANALYTICS_DATABASE": drifted.analytics_database}
    # A subprocess, so that a serve that wrongly started is stopped by the timeout.
    done = subprocess.run(
        [sys.executable, "-m", "rvbbit_assets.cli", "serve", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "unified_logs.tokens_in is Nullable(String)" in done.stderr
    assert "Traceback" not in done.stderr


def test_extra_source_columns_are_fine(store):
    with store.session("test data") as session:
        write_runs(session, [Run("r1", "c", at(0), [llm(0.25)])])
        for table in ("unified_logs", "cascade_sessions", "prompt_lineage"):
            session.command(
                f"ALTER TABLE ${{source}}.{table} ADD COLUMN lars_extra Nullable(String)")
        session.command("ALTER TABLE ${source}.unified_logs ADD COLUMN `cost 2` Float64 FIRST")
        check_source_schema(session)
    analyse(store, day(0))
    assert row(store, "cascade_analytics", "r1")["total_cost"] == pytest.approx(0.25)
