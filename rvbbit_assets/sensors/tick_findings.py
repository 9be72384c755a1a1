"""What one sensor tick finds to analyse, and why, from cheap questions to the store.

- Runs that logged a completion row in log parts written since the last tick (settled).
- Runs that went silent longer than the abandon timeout without completing.
- Recent days whose source rows changed after analysis (late costs, late rows): between
  reconciliations, of the runs with rows in log parts not seen at the last tick (rows change
  only by writing new parts: inserts, merges, mutations), so a quiet tick reads no rows.
- Every RVBBIT_SENSOR_RECONCILE_SECONDS (300), and on the first tick: every finished run
  without a cascade_analytics row, whatever happened to the run that should have made it,
  and every recent run against its analysis.
- Days whose stages were computed before an earlier day's facts were rewritten (a rerun of
  that day from the UI or the CLI): they read a stale history.

The first two compare each run found with its analysis, so a merge of old log parts, which
rewrites old rows into a new part, is not new work.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache

from dagster import AssetsDefinition

from rvbbit_assets.assets.per_run import HISTORY_TABLES
from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.assets.session_facts import abandoned_after
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.sensors.log_watermark import (
    LogPart,
    current_watermark,
    list_log_parts,
    settled_new_parts,
)
from rvbbit_assets.sensors.run_outcomes import Analysed
from rvbbit_assets.sensors.sensor_cursor import SensorCursor
from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.sql_files import load_sql, render_sql_template

RECENT_CANDIDATES = (
    "SELECT session_id FROM ${analytics}.session_facts WHERE created_at >= {since:DateTime}"
)
RECENT_IN_PARTS = (
    f"{RECENT_CANDIDATES} AND session_id IN"
    " (SELECT session_id FROM ${source}.unified_logs WHERE _part IN {parts:Array(String)})"
)


@dataclass(frozen=True)
class TickFindings:
    days: dict[date, str]  # day -> why it is requested
    cursor: SensorCursor
    # Rewritten source rows, which do not move the watermarks, for the run key.
    changes: dict[str, str] = field(default_factory=dict)
    # Findings of the checks that can find the same thing again after a run analysed it
    # ("unanalysed 2026-11-30" -> (day, why, evidence)), and which of them ran.
    evidenced: dict[str, tuple[date, str, str]] = field(default_factory=dict)
    looked_at: frozenset[str] = frozenset()


def _table(stage: AssetsDefinition) -> str:
    return stage.specs_by_key[stage.key].metadata["table"].split(".")[-1]


@cache
def history_reads() -> tuple[list[str], list[str]]:
    """(stage tables, history tables): each per-run stage with each history table upstream
    of it in the asset graph (cell_analytics reads session_facts, not input_clusters)."""
    by_key = {a.key: a for a in per_run_assets}
    parents = {key: {d.asset_key for d in a.specs_by_key[key].deps} & by_key.keys() - {key}
               for key, a in by_key.items()}
    readers, read = [], []
    for key, stage in by_key.items():
        upstream, todo = set(), list(parents[key])
        while todo:
            parent = todo.pop()
            if parent not in upstream:
                upstream.add(parent)
                todo += parents[parent]
        for history in sorted(_table(by_key[k]) for k in upstream):
            if history in HISTORY_TABLES and _table(stage) not in HISTORY_TABLES:
                readers.append(_table(stage))
                read.append(history)
    return readers, read


def runs(count: int, what: str) -> str:
    """`1 run finished`, `3 runs finished`."""
    return f"{count} {'run' if count == 1 else 'runs'} {what}"


def _add(days: dict[date, str], day: date, why: str) -> None:
    if day not in days:
        days[day] = why
    elif why not in days[day]:
        days[day] += f"; {why}"


def about_candidates(candidates_sql: str, query: str) -> str:
    """`query` (a named .sql template) over the runs `candidates_sql` selects and their days."""
    return (f"WITH candidates AS ({candidates_sql}),\n"
            f"candidate_days AS ({load_sql(__file__, 'candidate_days')})\n"
            f"{render_sql_template(__file__, query)}")


def analysis_gaps(
    session: StoreSession, candidates_sql: str, params: dict, days: DayRange
) -> list[tuple[date, int, int, str]]:
    """(day, unanalysed, changed, evidence) of the candidate runs, within `days`. The runs of
    new log parts are often none of the candidates (rows of runs still going, runs not
    analysed yet), and the comparison reads whole tables by session id even then: a quick
    look for one candidate comes first."""
    params = {**params, "since": days.first, "until": days.last}
    if not session.rows(f"{candidates_sql}\nLIMIT 1", params):
        return []
    return session.rows(about_candidates(candidates_sql, "logs_against_analysis"), params)


def _new_log_rows(
    session: StoreSession, cursor: SensorCursor, parts: list[LogPart], now: datetime,
    span: DayRange,
) -> tuple[dict[date, str], SensorCursor]:
    found: dict[date, str] = {}
    settle = timedelta(seconds=session.settings.sensor_settle_seconds)
    completed = settled_new_parts(parts, cursor.completed, now - settle)
    if completed.names:
        params = {"parts": completed.names}
        for day, unanalysed, changed, _ in analysis_gaps(
            session, load_sql(__file__, "completed_in_parts"), params, span
        ):
            _add(found, day, runs(unanalysed, "finished") if unanalysed
                 else runs(changed, "logged new rows after analysis"))
    abandoned_before = now - abandoned_after(session.settings)
    abandoned = settled_new_parts(parts, cursor.abandoned, abandoned_before)
    if abandoned.names:
        params = {"parts": abandoned.names, "abandoned_before": abandoned_before}
        for day, unanalysed, _, _ in analysis_gaps(
            session, load_sql(__file__, "abandoned_in_parts"), params, span
        ):
            if unanalysed:
                _add(found, day, runs(unanalysed, "abandoned"))
    return found, replace(cursor, completed=completed.watermark, abandoned=abandoned.watermark)


def recent_gaps(
    session: StoreSession, seen: list[str] | None, parts: list[LogPart], recent: DayRange
) -> list[tuple[date, int, int, str]]:
    """`analysis_gaps` of the recent runs: all of them (`seen` None), or those with rows in
    parts not `seen` (none: no query)."""
    if seen is None:
        return analysis_gaps(session, RECENT_CANDIDATES, {}, recent)
    known = set(seen)
    unseen = [p.name for p in parts if p.name not in known]
    return analysis_gaps(session, RECENT_IN_PARTS, {"parts": unseen}, recent) if unseen else []


def requestable(
    findings: TickFindings, requested: dict[str, list], analysed: Analysed | None, now: float
) -> tuple[dict[date, str], dict[str, list], list[str]]:
    """The days to request: every finding, but evidence requested before and found again
    unchanged after a successful run covering its day is left out (the run could not change
    it: a hot loop would not either), with a note. Also the new record of what was requested:
    the evidence of the kinds looked at this tick replaced by what was found."""
    days = dict(findings.days)
    record = {k: v for k, v in requested.items() if k.split(" ")[0] not in findings.looked_at}
    notes = []
    for key, (day, why, evidence) in sorted(findings.evidenced.items()):
        before = requested.get(key)
        if before is None or before[0] != evidence:
            before = [evidence, now]
        record[key] = before
        if analysed is not None and analysed.ended_at > before[1] and analysed.covers(day):
            notes.append(f"{day}: {why}, unchanged since a successful run analysed it: not "
                         "requested again until that changes")
        else:
            _add(days, day, why)
    return days, record, notes


def find_days_to_analyse(
    session: StoreSession, cursor: SensorCursor | None, now: datetime
) -> TickFindings:
    settings = session.settings
    span = DayRange(settings.partitions_start, now.date())
    found: dict[date, str] = {}
    changes: dict[str, str] = {}
    parts = list_log_parts(session)
    if cursor is None:  # first tick: everything logged so far is reconciled instead
        everything = current_watermark(parts)
        cursor = SensorCursor(completed=everything, abandoned=everything)
    else:
        found, cursor = _new_log_rows(session, cursor, parts, now, span)
    reconciling = cursor.reconciled_at is None or (
        now.timestamp() - cursor.reconciled_at >= settings.sensor_reconcile_seconds
    )
    since = now.date() - timedelta(days=settings.sensor_recent_days - 1)
    recent = DayRange(max(span.first, since), now.date())
    seen = None if reconciling else cursor.recent_parts
    for day, _, changed, evidence in recent_gaps(session, seen, parts, recent):
        if changed:
            _add(found, day, f"source rows changed after analysis: {evidence}")
            changes[day.isoformat()] = evidence
    cursor = replace(cursor, recent_parts=sorted(p.name for p in parts))
    evidenced: dict[str, tuple[date, str, str]] = {}
    looked_at = {"stale"}
    if reconciling:
        params = {"since": span.start, "until": span.end,
                  "abandoned_before": now - abandoned_after(session.settings)}
        reconciliation = about_candidates(
            load_sql(__file__, "finished_without_analytics"), "unanalysed_days")
        for day, count in session.rows(reconciliation, params):
            evidenced[f"unanalysed {day}"] = (
                day, runs(count, "finished without analytics"), str(count))
        looked_at.add("unanalysed")
        cursor = replace(cursor, reconciled_at=now.timestamp())
    readers, read = history_reads()
    for day, rewritten, history_at in session.rows(
        load_sql(__file__, "stale_days"), {"since": span.first, "readers": readers, "read": read}
    ):
        if day <= span.last:
            evidenced[f"stale {day}"] = (
                day, f"analysed before the facts of {rewritten} were rewritten", history_at)
    return TickFindings(found, cursor, changes, evidenced, frozenset(looked_at))
