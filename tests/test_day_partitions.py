"""Replacing days of an analytics table: exactly the staged days change, in any grouping."""

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from analyse import at, day
from runs import Run, llm, write_runs

from rvbbit_assets.assets import session_facts
from rvbbit_assets.assets.session_facts import build_session_facts
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store.table_writes import replace_days, replace_days_with_frame

pytestmark = pytest.mark.store_open_for_the_test


def _alerts(days: list[date], tag: str) -> pd.DataFrame:
    """One alert row per day (alerts is partitioned by day like every per-run table)."""
    created = [datetime.combine(d, datetime.min.time()) + timedelta(hours=9) for d in days]
    return pd.DataFrame({
        "session_id": [f"{tag}-{d.isoformat()}" for d in days],
        "alert_type": "cost_spike",
        "cascade_id": "c",
        "created_at": created,
        "run_finished_at": created,
        "severity": "major",
        "message": tag,
        "metric": 3.5,
        "detected_at": created,
    })


def _rows(session) -> list[tuple]:
    return session.rows("SELECT session_id FROM ${analytics}.alerts ORDER BY created_at")


def test_a_long_range_replaces_exactly_its_days(store):
    first = date(2025, 1, 1)
    every_day = [first + timedelta(days=i) for i in range(260)]
    with store.session("test") as session:
        replace_days_with_frame(session, "alerts", _alerts(every_day, "old"),
                                DayRange(every_day[0], every_day[-1]))
        # 250 days (more than one ALTER's worth), new rows on every third day only: the
        # others of the range must end up empty, the days around it untouched.
        span = DayRange(every_day[5], every_day[254])
        staged = span.days[::3]
        written = replace_days_with_frame(session, "alerts", _alerts(staged, "new"), span)
        assert written == len(staged)
        expected = (
            [f"old-{d.isoformat()}" for d in every_day[:5]]
            + [f"new-{d.isoformat()}" for d in staged]
            + [f"old-{d.isoformat()}" for d in every_day[255:]]
        )
        assert [row[0] for row in _rows(session)] == expected


def test_shares_of_a_query_write_each_row_once(store):
    # A stage may run its query once per share of the runs (regression_flags: per share of
    # the species): every share is staged, and the days swapped in once.
    days = DayRange(date(2025, 1, 1), date(2025, 1, 3))
    select = (
        "SELECT concat('run-', toString(number)) AS session_id, 'cost_spike' AS alert_type,"
        " 'c' AS cascade_id, {start:DateTime} + toIntervalHour(number) AS created_at,"
        " created_at AS run_finished_at, 'major' AS severity, '' AS message,"
        " '' AS detail, toFloat64(number) AS metric, created_at AS detected_at"
        " FROM numbers(60) WHERE number % {shares:UInt32} = {share:UInt32}"
    )
    with store.session("test") as session:
        written = replace_days(session, "alerts", select, {}, days,
                               shares=[{"shares": 3, "share": share} for share in range(3)])
        assert written == 60
        assert [row[0] for row in _rows(session)] == [f"run-{n}" for n in range(60)]


def test_session_facts_a_day_per_query_equal_one_query(store, monkeypatch):
    # Whole days per query bound session_facts' memory on big ranges; a run's facts
    # (children logged on other days included) must not depend on which days share a query.
    with store.session("test data") as session:
        write_runs(session, [
            Run("p1", "extract", at(0, 10), [llm(0.01, cell_name="a", species_hash="s",
                                                 take_index=0, is_winner=True)]),
            Run("p1_child", "helper", at(1, 9), [llm(0.5)], parent_session_id="p1", depth=1),
            Run("p2", "extract", at(1, 11), [llm(0.02, model="claude"), llm(None, at=2)]),
            Run("p3", "extract", at(2, 23, 59, 59), [llm(0.03)], completion="cascade_error"),
            Run("gone", "extract", at(2, 1), [llm(0.04)], completion=None),
        ])
        days = DayRange(day(0), day(2))
        build_session_facts(session, days)
        one_query = session.df("SELECT * FROM ${analytics}.session_facts ORDER BY session_id")
        assert len(one_query) == 5
        monkeypatch.setattr(session_facts, "RUNS_PER_QUERY", 1)
        build_session_facts(session, days)
        per_day = session.df("SELECT * FROM ${analytics}.session_facts ORDER BY session_id")
    pd.testing.assert_frame_equal(per_day, one_query)
