"""Stages' sums per day of session_facts' runs, kept in tables of their own so that a new day
reads its own runs and the stored sums of earlier days, not all of them again.

A day's state is valid while session_facts has not rewritten the day since the state was
written (day_writes records both); a day without a valid state is rebuilt from its runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.sql_files import load_sql

# Every day a Date can hold, for a state over all history.
ALL_DAYS = (date(1970, 1, 1), date(2149, 6, 6))


def stale_state_days(
    session: StoreSession, states: Sequence[str], since: date = ALL_DAYS[0],
    until: date = ALL_DAYS[1],
) -> list[date]:
    """The days of [since, until) whose `states` tables lack a write since session_facts'
    last write of the day (or lack one at all)."""
    return [day for (day,) in session.rows(
        load_sql(__file__, "stale_day_states"),
        {"states": list(states), "since": since, "until": until},
    )]
