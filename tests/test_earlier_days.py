"""Later days compare with earlier ones, so a day is analysed only once every earlier day
with runs has been: a run over later days alone is refused, naming them, and the CLI and the
sensor start their runs at such a day instead."""

import pytest
from analyse import analyse, at, day, table
from dagster import DagsterInstance, build_sensor_context, materialize
from runs import Run, llm, write_runs

from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.cli.materialize import materialize_days
from rvbbit_assets.orchestration.day_range import RANGE_START_TAG, utc_now
from rvbbit_assets.sensors.new_cascade_sessions import evaluate_tick

pytestmark = pytest.mark.store_open_for_the_test


def _write(store, runs):
    with store.session("test data") as session:
        write_runs(session, runs)


def test_a_day_after_unanalysed_days_is_refused_and_the_cli_starts_at_them(store):
    _write(store, [Run(f"r{d}", "c", at(d), [llm(0.01 * (d + 1))]) for d in range(3)])

    result = materialize(per_run_assets, resources={"store": store},
                         partition_key=day(2).isoformat(),
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures  # each stage reading earlier days refuses, naming them
    for failure in failures:
        message = failure.step_failure_data.user_failure_data.description
        assert (f"2 earlier days with runs were not analysed yet (first {day(0)}, "
                f"last {day(1)}") in message
        assert f"Materialize {day(0)}..{day(2)} as one backfill" in message
    assert table(store, "priced_runs").empty  # refused before anything was computed

    outcome = materialize_days(day(2), day(2), store=store, instance=DagsterInstance.ephemeral(),
                               refresh_downstream=False)
    assert outcome.success, outcome.summary()
    assert outcome.days.first == day(0)
    assert (f"Started at {day(0)}, not {day(2)}: 2 earlier days had runs never analysed"
            in outcome.summary())
    assert sorted(table(store, "cascade_analytics")["session_id"]) == ["r0", "r1", "r2"]


def test_the_sensor_starts_its_request_at_an_earlier_day_never_analysed(store, monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_SETTLE_SECONDS", "0")
    _write(store, [Run("a", "c", at(3), [llm(0.1)])])
    instance = DagsterInstance.ephemeral()

    def tick(cursor):
        context = build_sensor_context(instance=instance, cursor=cursor,
                                       resources={"store": store})
        return evaluate_tick(context, store, utc_now())

    cursor = tick(None).cursor
    analyse(store, day(3))
    # A run of day 1 that never finished (day 1 has no other runs), then a new run of day 3.
    _write(store, [Run("unfinished", "c", at(1), [llm(0.1)], completion=None),
                   Run("b", "c", at(3, 12), [llm(0.2)])])
    (request,) = tick(cursor).run_requests
    assert request.tags[RANGE_START_TAG] == day(1).isoformat()
