"""The demo generator on a real embedded store: deterministic rows, shaped like RVBBIT's,
with the planted ground truth findable in them."""

from __future__ import annotations

import json
import os
import statistics
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pinned_dates import DEMO_END, PINNED_NOW, migrate_test_databases

from rvbbit_assets.demo import DemoSummary, default_ground_truth_path, generate_demo
from rvbbit_assets.demo.catalog import INPUT_PRICE, MODEL_NAMES, OUTPUT_PRICE
from rvbbit_assets.store import ClickHouseStore, StoreSession

pytestmark = pytest.mark.store_open_for_the_test

DAYS, PER_DAY, SEED = 7, 150, 11
END = DEMO_END  # with PINNED_NOW as the generator's clock: the same rows on any day
COMPLETIONS = ("cascade_completed", "cascade_error")


def _generate(store: ClickHouseStore, path: Path, seed: int = SEED) -> tuple[DemoSummary, dict]:
    with store.session("test demo") as session:
        summary = generate_demo(session, DAYS, PER_DAY, seed, end_date=END, ground_truth_path=path,
                                now=PINNED_NOW)
    return summary, json.loads(path.read_text())


@pytest.fixture
def demo(store: ClickHouseStore, tmp_path: Path) -> tuple[ClickHouseStore, DemoSummary, dict]:
    summary, truth = _generate(store, tmp_path / "truth.json")
    return store, summary, truth


def _rows(store: ClickHouseStore, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
    with store.session("test read") as session:
        return session.rows(sql, params)


def _table_contents(session: StoreSession) -> dict[str, list[tuple]]:
    orders = {
        "cascade_sessions": "session_id",
        "unified_logs": "session_id, timestamp, message_id",
        "prompt_lineage": "lineage_id",
    }
    return {
        table: session.rows(f"SELECT * FROM ${{source}}.{table} ORDER BY {order}")
        for table, order in orders.items()
    }


def test_same_seed_gives_identical_rows(store: ClickHouseStore, tmp_path: Path) -> None:
    _, first_truth = _generate(store, tmp_path / "a.json")
    twin = ClickHouseStore(
        source_database=f"{store.source_database}_twin",
        analytics_database=f"{store.analytics_database}_twin",
    )
    try:
        with twin.session("test twin setup") as session:
            migrate_test_databases(session)
        _, second_truth = _generate(twin, tmp_path / "b.json")
        with store.session("read first") as session:
            first = _table_contents(session)
        with twin.session("read second") as session:
            second = _table_contents(session)
    finally:
        with twin.session("test twin teardown") as session:
            session.command("DROP DATABASE IF EXISTS ${source} SYNC")
            session.command("DROP DATABASE IF EXISTS ${analytics} SYNC")
    assert all(first[table] for table in first)
    for table in first:
        assert first[table] == second[table], table
    assert first_truth == second_truth


def test_another_seed_gives_other_rows(store: ClickHouseStore, tmp_path: Path) -> None:
    _, first = _generate(store, tmp_path / "a.json", seed=1)
    with store.session("reset") as session:
        for table in ("cascade_sessions", "unified_logs", "prompt_lineage"):
            session.command(f"TRUNCATE TABLE ${{source}}.{table}")
    _, second = _generate(store, tmp_path / "b.json", seed=2)
    assert first["regression"]["species_hash"] != second["regression"]["species_hash"]
    assert first["unfinished"] != second["unfinished"]


def test_summary_matches_the_tables(demo: tuple) -> None:
    store, summary, truth = demo
    (runs, days, first, last), = _rows(
        store,
        "SELECT count(), uniqExact(toDate(created_at)), min(toDate(created_at)), "
        "max(toDate(created_at)) FROM ${source}.cascade_sessions",
    )
    (log_rows,), = _rows(store, "SELECT count() FROM ${source}.unified_logs")
    (lineage_rows,), = _rows(store, "SELECT count() FROM ${source}.prompt_lineage")
    assert (summary.runs, summary.log_rows, summary.lineage_rows) == (runs, log_rows, lineage_rows)
    assert truth["counts"]["runs"] == runs
    assert (summary.days, summary.first_day, summary.last_day) == (DAYS, first, last)
    assert (first, last) == (END - timedelta(days=DAYS - 1), END)
    assert days == DAYS
    assert 6 <= log_rows / runs <= 8.5


def test_weekdays_carry_more_load_than_weekends(demo: tuple) -> None:
    store, _, _ = demo
    per_day = _rows(
        store,
        "SELECT toDayOfWeek(created_at) >= 6, count() / uniqExact(toDate(created_at)) "
        "FROM ${source}.cascade_sessions WHERE depth = 0 GROUP BY 1",
    )
    weekday, weekend = sorted(per_day)  # sorted by "is weekend": False first
    assert weekday[1] > 1.5 * weekend[1]


def test_finished_runs_end_with_one_completion_row(demo: tuple) -> None:
    store, _, truth = demo
    unfinished = set(truth["unfinished"]["running"]) | set(truth["unfinished"]["abandoned"])
    runs = _rows(
        store,
        "SELECT session_id, countIf(node_type IN {c:Array(String)}), "
        "argMax(node_type, timestamp), max(timestamp), "
        "countIf(node_type = 'cascade') FROM ${source}.unified_logs GROUP BY session_id",
        {"c": list(COMPLETIONS)},
    )
    assert len(runs) == truth["counts"]["runs"]
    horizon = datetime.fromisoformat(truth["horizon"]).replace(tzinfo=None)
    for session_id, completions, last_node, last_at, starts in runs:
        assert starts == 1
        if session_id in unfinished:
            assert completions == 0
        else:
            assert (completions, last_node in COMPLETIONS) == (1, True), session_id
        if session_id in truth["unfinished"]["running"]:
            assert horizon - last_at < timedelta(hours=6)
        if session_id in truth["unfinished"]["abandoned"]:
            assert horizon - last_at > timedelta(days=1)
    assert truth["unfinished"]["running"] and truth["unfinished"]["abandoned"]


def test_every_finished_take_set_has_exactly_one_winner(demo: tuple) -> None:
    store, _, truth = demo
    unfinished = truth["unfinished"]["running"] + truth["unfinished"]["abandoned"]
    winners = _rows(
        store,
        "SELECT countIf(is_winner) AS w FROM ${source}.unified_logs "
        "WHERE take_index IS NOT NULL AND session_id NOT IN {u:Array(String)} "
        "GROUP BY session_id, cell_name",
        {"u": unfinished},
    )
    assert winners and {w for (w,) in winners} == {1}
    lineage = _rows(
        store,
        "SELECT countIf(is_winner) FROM ${source}.prompt_lineage "
        "WHERE session_id NOT IN {u:Array(String)} GROUP BY session_id, cell_name",
        {"u": unfinished},
    )
    assert {w for (w,) in lineage} == {1}


def test_every_planted_spike_shows_its_cause_against_runs_of_the_same_input(demo: tuple) -> None:
    store, _, truth = demo
    spikes = truth["cost_spikes"]["sessions"]
    assert {s["cause"] for s in spikes} == set(truth["cost_spikes"]["kinds"])
    runs = {
        session_id: (cascade_id, input_data, tokens_in, tokens_out, models, cells)
        for session_id, cascade_id, input_data, tokens_in, tokens_out, models, cells
        in _rows(
            store,
            "SELECT s.session_id, s.cascade_id, s.input_data, sum(l.tokens_in), "
            "sum(l.tokens_out), groupUniqArray(l.model), groupArray(l.cell_name) "
            "FROM ${source}.cascade_sessions AS s "
            "JOIN ${source}.unified_logs AS l ON l.session_id = s.session_id "
            "WHERE s.depth = 0 AND l.role = 'assistant' "
            "GROUP BY s.session_id, s.cascade_id, s.input_data",
        )
    }
    spiked = {s["session_id"] for s in spikes}
    peers: dict[tuple[str, str], list[tuple]] = {}
    for session_id, (cascade_id, input_data, *facts) in runs.items():
        if session_id not in spiked:
            peers.setdefault((cascade_id, input_data), []).append(facts)
    compared = 0
    for spike in spikes:
        cascade_id, input_data, tokens_in, tokens_out, models, cells = runs[spike["session_id"]]
        same_input = peers.get((cascade_id, input_data), [])
        cause, size = spike["cause"], spike["size"]
        if cause == "model_price":
            # Every call went to the premium model, which no ordinary run of any cascade uses.
            assert models == [size]
            assert all(size not in facts[2] for group in peers.values() for facts in group)
            compared += 1
        elif same_input:
            compared += 1
            # Prompts vary little between runs of an input, answers by a factor of several.
            if cause == "input_tokens":
                ratio = tokens_in / statistics.median(p[0] for p in same_input)
                assert 0.6 * size < ratio < 1.5 * size, (spike, ratio)
            elif cause == "output_tokens":
                ratio = tokens_out / statistics.median(p[1] for p in same_input)
                assert 0.3 * size < ratio < 3 * size, (spike, ratio)
            else:
                usual = statistics.median(p[3].count(spike["cell_name"]) for p in same_input)
                assert cells.count(spike["cell_name"]) >= usual + size - 1, spike
    assert compared >= 0.8 * len(spikes)


def test_regression_species_answers_grow_by_the_factor_from_its_start_day(demo: tuple) -> None:
    store, _, truth = demo
    planted = truth["regression"]
    assert planted["through"] == "output_tokens"
    per_run = _rows(
        store,
        "SELECT toDate(min(timestamp)) >= {start:Date}, avg(tokens_out), sum(cost) "
        "FROM ${source}.unified_logs "
        "WHERE species_hash = {species:String} AND node_type = 'agent' GROUP BY session_id",
        {"start": date.fromisoformat(planted["start_day"]), "species": planted["species_hash"]},
    )
    after = [(tokens, cost) for is_after, tokens, cost in per_run if is_after]
    before = [(tokens, cost) for is_after, tokens, cost in per_run if not is_after]
    assert (len(before), len(after)) == (planted["runs_before"], planted["runs_after"])
    tokens_ratio = (statistics.median(t for t, _ in after)
                    / statistics.median(t for t, _ in before))
    assert tokens_ratio == pytest.approx(planted["factor"], rel=0.2)
    cost_ratio = statistics.mean(c for _, c in after) / statistics.mean(c for _, c in before)
    assert cost_ratio == pytest.approx(planted["observed_ratio"])


def test_cheaper_model_is_as_good_for_less(demo: tuple) -> None:
    store, _, truth = demo
    planted = truth["cheaper_model"]
    stats = {
        model: (cost, score, wins)
        for model, cost, score, wins in _rows(
            store,
            "SELECT model, avg(cost), avg(evaluator_score), avg(is_winner) "
            "FROM ${source}.prompt_lineage "
            "WHERE cascade_id = {c:String} AND cell_name = {cell:String} "
            "GROUP BY model",
            {"c": planted["cascade_id"], "cell": planted["cell_name"]},
        )
    }
    cheap, baseline = stats[planted["cheaper_model"]], stats[planted["baseline_model"]]
    assert cheap[0] / baseline[0] == pytest.approx(planted["price_ratio"], abs=0.08)
    assert abs(cheap[1] - baseline[1]) < 0.03
    assert abs(cheap[2] - baseline[2]) < 0.12
    assert planted["price_ratio"] <= 0.6


def test_winning_phrase_appears_in_winners_far_more(demo: tuple) -> None:
    store, _, truth = demo
    planted = truth["winning_phrase"]
    frequencies = dict(
        _rows(
            store,
            "SELECT is_winner, avg(position(full_prompt_text, {phrase:String}) > 0) "
            "FROM ${source}.prompt_lineage WHERE species_hash = {species:String} "
            "AND generation = 0 GROUP BY is_winner",
            {"phrase": planted["phrase"], "species": planted["species_hash"]},
        )
    )
    assert frequencies[True] == pytest.approx(planted["winner_frequency"])
    assert frequencies[False] == pytest.approx(planted["loser_frequency"])
    assert frequencies[True] > frequencies[False] + 0.25


def test_late_costs_were_filled_in_place_by_one_mutation(demo: tuple) -> None:
    store, _, truth = demo
    late = truth["late_cost"]
    assert late["rows_filled"] > 0 and late["sample_filled_message_ids"]
    mutations = _rows(
        store,
        "SELECT command, is_done FROM system.mutations "
        "WHERE database = {db:String} AND table = 'unified_logs'",
        {"db": store.source_database},
    )
    assert len(mutations) == 1 and "UPDATE cost" in mutations[0][0] and mutations[0][1]
    (still_null,), = _rows(
        store,
        "SELECT count() FROM ${source}.unified_logs WHERE node_type = 'agent' AND cost IS NULL",
    )
    assert still_null == late["rows_still_pending"]
    filled = _rows(
        store,
        "SELECT model, tokens_in, tokens_out, cost FROM ${source}.unified_logs "
        "WHERE toString(message_id) IN {ids:Array(String)}",
        {"ids": late["sample_filled_message_ids"]},
    )
    assert len(filled) == len(late["sample_filled_message_ids"])
    for model, tokens_in, tokens_out, cost in filled:
        code = MODEL_NAMES.index(model)
        price = (tokens_in * INPUT_PRICE[code] + tokens_out * OUTPUT_PRICE[code]) / 1_000_000
        assert cost == pytest.approx(price)


def test_odd_inputs_and_quoted_ids_are_stored_verbatim(demo: tuple) -> None:
    store, _, truth = demo
    odd = truth["oddities"]
    stored = dict(_rows(store, "SELECT session_id, input_data FROM ${source}.cascade_sessions"))
    for run in odd["malformed_or_odd_inputs"]:
        assert stored[run["session_id"]] == run["input_data"]
    assert {r["input_data"] for r in odd["malformed_or_odd_inputs"]} >= {"", "not json"}
    quoted = odd["session_ids_with_quote"]
    assert quoted and all("'" in s and s in stored for s in quoted)


def test_sub_cascades_are_child_sessions_one_level_down(demo: tuple) -> None:
    store, _, truth = demo
    children = _rows(
        store,
        "SELECT c.session_id, c.parent_session_id, c.depth, c.caller_id, p.caller_id, "
        "p.session_id FROM ${source}.cascade_sessions AS c "
        "LEFT JOIN ${source}.cascade_sessions AS p ON p.session_id = c.parent_session_id "
        "WHERE c.parent_session_id != ''",
    )
    assert len(children) == truth["counts"]["child_runs"] > 0
    for child, parent, depth, caller, parent_caller, found in children:
        assert (child, depth, caller, found) == (f"{parent}_sub1", 1, parent_caller, parent)
    (unlinked,), = _rows(
        store,
        "SELECT count() FROM ${source}.unified_logs WHERE depth = 1 "
        "AND (parent_session_id IS NULL OR session_id != concat(parent_session_id, '_sub1'))",
    )
    assert unlinked == 0


def test_origins_and_callers_look_like_rvbbit(demo: tuple) -> None:
    store, _, _ = demo
    rows = _rows(
        store,
        "SELECT JSONExtractString(invocation_metadata_json, 'origin') AS origin, "
        "countIf(NOT startsWith(caller_id, concat(origin, '-'))), count() "
        "FROM ${source}.cascade_sessions GROUP BY origin",
    )
    assert {origin for origin, _, _ in rows} == {"sql", "cli", "ui"}
    assert all(wrong == 0 for _, wrong, _ in rows)


def test_future_end_date_and_missing_tables_are_refused(
    store: ClickHouseStore, tmp_path: Path
) -> None:
    tomorrow = PINNED_NOW.date() + timedelta(days=1)
    bare = ClickHouseStore(
        source_database=f"{store.source_database}_bare", analytics_database=store.analytics_database
    )
    with store.session("test refusal") as session, pytest.raises(ValueError, match="future"):
        generate_demo(session, 3, 10, 1, end_date=tomorrow, ground_truth_path=tmp_path / "x",
                      now=PINNED_NOW)
    with store.session("test refusal") as session, pytest.raises(ValueError, match="TTL"):
        generate_demo(session, 2, 10, 1, end_date=PINNED_NOW.date() - timedelta(days=360),
                      ground_truth_path=tmp_path / "x", now=PINNED_NOW)
    with bare.session("test refusal") as session, pytest.raises(RuntimeError, match="init"):
        generate_demo(session, 3, 10, 1, end_date=END, ground_truth_path=tmp_path / "x",
                      now=PINNED_NOW)


def test_a_tiny_load_works_too(store: ClickHouseStore, tmp_path: Path) -> None:
    with store.session("test tiny") as session:
        summary = generate_demo(session, 2, 1, 5, end_date=END, ground_truth_path=tmp_path / "t",
                                now=PINNED_NOW)
    (runs,), = _rows(store, "SELECT count() FROM ${source}.cascade_sessions")
    assert summary.runs == runs >= 1


def test_a_load_ending_minutes_into_today_reports_every_day_written(
    store: ClickHouseStore, tmp_path: Path
) -> None:
    reported = []
    with store.session("test demo") as session:
        generate_demo(session, 2, 5, SEED, ground_truth_path=tmp_path / "truth.json",
                      now=PINNED_NOW.replace(hour=0, minute=1),
                      progress=lambda done, days: reported.append((done, days)))
    assert reported[-1] == (2, 2)


def test_ground_truth_defaults_beside_the_embedded_store() -> None:
    store_dir = Path(os.environ["RVBBIT_CLICKHOUSE_URL"].removeprefix("chdb://"))
    assert default_ground_truth_path() == store_dir.parent / "demo_ground_truth.json"
