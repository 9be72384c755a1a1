"""The design document's approach, for comparison: one session at a time, a handful of
queries each (as `analyze_cascade_execution` does), reading baselines from cascade_analytics.
Parameters are bound here too; only the shape of the work is the design's."""

from __future__ import annotations

import time
from datetime import datetime

from rvbbit_assets.analysis.input_complexity import compute_input_complexity
from rvbbit_assets.store import StoreSession

SESSION_QUERY = """
SELECT cascade_id, created_at, input_data, parent_session_id, depth, caller_id
FROM ${source}.cascade_sessions WHERE session_id = {sid:String} LIMIT 1
"""
TOTALS_QUERY = """
SELECT sum(ifNull(cost, 0)), dateDiff('millisecond', min(timestamp), max(timestamp)),
       sum(ifNull(tokens_in, 0)), sum(ifNull(tokens_out, 0)), count(),
       uniqExact(cell_name), countIf(position(node_type, 'error') > 0)
FROM ${source}.unified_logs WHERE session_id = {sid:String}
"""
SPECIES_QUERY = """
SELECT species_hash FROM ${source}.unified_logs
WHERE session_id = {sid:String} AND species_hash IS NOT NULL
  AND species_hash NOT IN ('', 'unknown_species')
GROUP BY species_hash ORDER BY count() DESC LIMIT 1
"""
GLOBAL_QUERY = """
SELECT avg(total_cost), avg(total_duration_ms), avg(total_tokens_in + total_tokens_out), count()
FROM ${analytics}.cascade_analytics WHERE cascade_id = {cascade:String}
"""
CLUSTER_QUERY = """
SELECT avg(total_cost), stddevPop(total_cost), avg(total_duration_ms),
       stddevPop(total_duration_ms), avg(total_tokens_in + total_tokens_out),
       stddevPop(total_tokens_in + total_tokens_out), count()
FROM ${analytics}.cascade_analytics
WHERE cascade_id = {cascade:String} AND input_category = {category:String}
"""
SPECIES_BASELINE_QUERY = """
SELECT avg(total_cost), avg(total_duration_ms), count()
FROM ${analytics}.cascade_analytics WHERE species_hash_primary = {species:String}
"""
REGRESSION_QUERY = """
SELECT total_cost, total_duration_ms, created_at FROM ${analytics}.cascade_analytics
WHERE species_hash_primary = {species:String} AND session_id != {sid:String}
ORDER BY created_at DESC LIMIT 20
"""
MODELS_QUERY = """
SELECT model, count() FROM ${source}.unified_logs
WHERE session_id = {sid:String} AND role = 'assistant' AND model IS NOT NULL
GROUP BY model ORDER BY count() DESC
"""


def analyse_one_session(session: StoreSession, session_id: str) -> None:
    sid = {"sid": session_id}
    cascade_id, created_at, input_data, *_ = session.rows(SESSION_QUERY, sid)[0]
    session.rows(TOTALS_QUERY, sid)
    complexity = compute_input_complexity(input_data)
    species = session.rows(SPECIES_QUERY, sid)
    session.rows(GLOBAL_QUERY, {"cascade": cascade_id})
    session.rows(CLUSTER_QUERY, {"cascade": cascade_id, "category": complexity.category})
    if species:
        session.rows(SPECIES_BASELINE_QUERY, {"species": species[0][0]})
        session.rows(REGRESSION_QUERY, {"species": species[0][0], **sid})
    session.rows(MODELS_QUERY, sid)
    session.insert_rows(
        "per_session_bench", [(session_id, cascade_id, created_at, datetime.now())],
        ["session_id", "cascade_id", "created_at", "analyzed_at"],
    )


def seconds_per_session(session: StoreSession, session_ids: list[str]) -> float:
    session.command(
        "CREATE TABLE IF NOT EXISTS ${analytics}.per_session_bench (session_id String,"
        " cascade_id String, created_at DateTime, analyzed_at DateTime)"
        " ENGINE = MergeTree ORDER BY session_id"
    )
    started = time.perf_counter()
    for session_id in session_ids:
        analyse_one_session(session, session_id)
    elapsed = time.perf_counter() - started
    session.command("DROP TABLE ${analytics}.per_session_bench")
    return elapsed / len(session_ids)
