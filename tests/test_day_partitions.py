"""Replacing days of an analytics table: exactly the staged days change, all or nothing."""

from datetime import date, datetime, timedelta

import pandas as pd

from rvbbit_assets.day_partitions import DayRange, replace_days_with_frame


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
