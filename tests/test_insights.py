"""Insights: Pareto frontier of models, winning prompt patterns, and cell-level analytics.

Hand-made runs where the right answer is obvious, then a small demo load whose planted
cheaper model and winning phrase must be found again.
"""

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from analyse import at, day
from dagster import AssetsDefinition, DagsterInstance, materialize
from pinned_dates import DEMO_END, PINNED_NOW, migrate_test_databases
from runs import Row, Run, llm, write_runs

from rvbbit_assets.assets.cell_analytics import cell_analytics, cell_breakdown
from rvbbit_assets.assets.pareto_frontier import MIN_TAKES_PER_MODEL, pareto_frontier
from rvbbit_assets.assets.prompt_patterns import MIN_LIFT, prompt_patterns
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.demo import generate_demo
from rvbbit_assets.store import ClickHouseStore, StoreSession

TAKES = MIN_TAKES_PER_MODEL  # take sets per species: exactly the minimum sample

# Pareto species: per take set, one take of each model with a fixed cost and score.
#   m-cheap  0.01  0.80   frontier (cheapest at its quality)
#   m-twin   0.01  0.80   frontier: equal to m-cheap, so neither dominates the other
#   m-mid    0.02  0.70   dominated by m-cheap (cheaper and better)
#   m-best   0.04  0.82   frontier (best quality), but m-cheap is nearly as good for 75% less
PARETO_MODELS = {"m-cheap": (0.01, 0.80), "m-twin": (0.01, 0.80), "m-mid": (0.02, 0.70),
                 "m-best": (0.04, 0.82)}
# Who wins each take set: m-best half of the time, m-cheap and m-twin a quarter each.
WINNER_CYCLE = ("m-best", "m-cheap", "m-best", "m-twin")


def _lineage_row(run: Run, cell: str, species: str, take: int, model: str, won: bool,
                 score: float | None, cost: float, prompt: str = "Do it.",
                 generation: int = 0) -> tuple:
    return (run.session_id, run.cascade_id, cell, f"t{take}", species, take, generation,
            prompt, hashlib.sha256(prompt.encode()).hexdigest()[:16], won, score, cost, model,
            run.created_at)


LINEAGE_COLUMNS = ("session_id", "cascade_id", "cell_name", "trace_id", "species_hash",
                   "take_index", "generation", "full_prompt_text", "prompt_hash", "is_winner",
                   "evaluator_score", "cost", "model", "created_at")


def write_lineage(session: StoreSession, rows: Sequence[tuple]) -> None:
    session.insert_rows("prompt_lineage", rows, LINEAGE_COLUMNS,
                        database=session.source_database)


def take_set_run(session_id: str, created_at: datetime, species: str,
                 models: dict[str, tuple[float, float]], winner: str | None,
                 cascade: str = "pc", cell: str = "choose") -> tuple[Run, list[tuple]]:
    """A run whose one cell ran one take per model; its log rows and lineage rows."""
    rows = [Row(node_type="cell", role="system", at=0.5, cell_name=cell, species_hash=species)]
    lineage = []
    run = Run(session_id, cascade, created_at, rows)
    for take, (model, (cost, score)) in enumerate(models.items()):
        rows.append(llm(cost, at=1.0 + take / 10, model=model, cell_name=cell,
                        species_hash=species, take_index=take, is_winner=model == winner))
        lineage.append(_lineage_row(run, cell, species, take, model, model == winner, score,
                                    cost))
    return run, lineage


def pareto_runs() -> tuple[list[Run], list[tuple]]:
    runs, lineage = [], []
    for i in range(TAKES):
        run, rows = take_set_run(f"p{i:02d}", at(0, 8, i), "sp_pareto", PARETO_MODELS,
                                 WINNER_CYCLE[i % len(WINNER_CYCLE)])
        runs.append(run)
        lineage += rows
    # A take set still being evaluated (no winner yet): its takes are not losses.
    run, rows = take_set_run("p-undecided", at(0, 9), "sp_pareto", PARETO_MODELS, None)
    runs.append(run)
    lineage += rows
    # One lucky model with far too few takes: cheaper and better than everyone.
    for i in range(3):
        run, rows = take_set_run(f"lucky{i}", at(0, 10, i), "sp_pareto",
                                 {"m-lucky": (0.001, 0.99)}, "m-lucky")
        runs.append(run)
        lineage += rows
    # A species where no model reaches the minimum sample.
    for i in range(TAKES - 1):
        run, rows = take_set_run(f"small{i:02d}", at(0, 11, i), "sp_small",
                                 {"s-a": (0.01, 0.9), "s-b": (0.05, 0.5)}, "s-a")
        runs.append(run)
        lineage += rows
    return runs, lineage


PHRASE = "Let's think step by step."


def phrase_prompts(species: str, winners_with: int, winners: int, losers_with: int,
                   losers: int) -> list[tuple]:
    """Base prompts of one species; a neutral phrase is in every other prompt."""
    run = Run(f"prompts-{species}", "pp", at(0, 12))
    rows = []
    for outcome, with_phrase, total in ((True, winners_with, winners),
                                        (False, losers_with, losers)):
        for i in range(total):
            parts = ["Summarize the report below."]
            parts += [PHRASE] if i < with_phrase else []
            parts += ["Use bullet points."] if i % 2 else []
            rows.append(_lineage_row(run, "summarize", species, i, "m", outcome, None, 0.01,
                                     " ".join(parts) + "\n\nInput:\nquarterly numbers"))
    return rows


def prompt_lineage_rows() -> list[tuple]:
    rows = phrase_prompts("sp_phrase", 30, 40, 6, 40)  # 75% vs 15%: lift 0.60
    # Mutated prompts (generation 1) inherit phrases: they must not count as losers.
    rows += [
        _lineage_row(Run("mutants", "pp", at(0, 12)), "summarize", "sp_phrase", i, "m", False,
                     None, 0.01, PHRASE + " State the output format.", generation=1)
        for i in range(40)
    ]
    rows += phrase_prompts("sp_few", 10, 10, 0, 10)  # a perfect phrase, too few prompts
    rows += phrase_prompts("sp_noise", 8, 20, 4, 20)  # lift 0.20, but z = 1.4 (chance)
    return rows


# Cell analytics: cascade "cz" with cells fetch (constant) and write (grows).
#   run    day  fetch cost  write cost  write duration
#   c1     0    1.0         3.0         2 s
#   c2     0    1.0         5.0         4 s
#   c3     1    1.0         10.0        9 s
def cell_run(session_id: str, created_at: datetime, write_cost: float,
             write_seconds: float) -> Run:
    return Run(session_id, "cz", created_at, [
        Row(node_type="cell", role="system", at=1.0, cell_name="fetch", species_hash="sp_fetch"),
        llm(1.0, at=2.0, cell_name="fetch", species_hash="sp_fetch"),
        Row(node_type="cell", role="system", at=3.0, cell_name="write", species_hash="sp_write"),
        llm(write_cost, at=3.0 + write_seconds, cell_name="write", species_hash="sp_write"),
    ])


CELL_RUNS = [cell_run("c1", at(0, 10), 3.0, 2.0), cell_run("c2", at(0, 11), 5.0, 4.0),
             cell_run("c3", at(1, 10), 10.0, 9.0)]


def run_assets(store: ClickHouseStore, assets: Sequence[AssetsDefinition],
               partition_key: str | None = None) -> dict[str, dict]:
    """Materialize assets in one run; each one's last metadata, as plain values, by name."""
    result = materialize(assets, resources={"store": store}, partition_key=partition_key,
                         instance=DagsterInstance.ephemeral())
    assert result.success
    return {
        event.asset_key.to_user_string(): {
            k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def run_asset(store: ClickHouseStore, asset: AssetsDefinition,
              partition_key: str | None = None) -> dict:
    return run_assets(store, [asset], partition_key)[asset.key.to_user_string()]


def read(store: ClickHouseStore, sql: str, params: dict | None = None) -> pd.DataFrame:
    with store.session("test read") as session:
        return session.df(sql, params)


@pytest.fixture(scope="module")
def insights(module_store: ClickHouseStore) -> Iterator[tuple[ClickHouseStore, dict, dict]]:
    store = module_store
    runs, lineage = pareto_runs()
    with store.session("test data") as session:
        write_runs(session, runs + CELL_RUNS)
        write_lineage(session, lineage + prompt_lineage_rows())
    yield store, run_asset(store, pareto_frontier), run_asset(store, prompt_patterns)


def frontier(store: ClickHouseStore, species: str) -> dict[str, dict]:
    frame = read(store, "SELECT * FROM ${analytics}.pareto_frontier"
                        " WHERE species_hash = {s:String}", {"s": species})
    return {row["model"]: row for row in frame.to_dict("records")}


def test_dominated_model_is_not_on_the_frontier(insights) -> None:
    store, _, _ = insights
    models = frontier(store, "sp_pareto")
    assert {m: bool(r["is_pareto"]) for m, r in models.items()} == {
        "m-cheap": True, "m-twin": True, "m-mid": False, "m-best": True}
    mid = models["m-mid"]
    assert mid["avg_cost"] == pytest.approx(0.02)
    assert mid["avg_quality"] == pytest.approx(0.70)
    assert mid["quality_metric"] == "evaluator_score"
    assert mid["models_compared"] == 4


def test_equal_models_are_both_on_the_frontier_and_ties_break_by_name(insights) -> None:
    store, _, _ = insights
    models = frontier(store, "sp_pareto")
    for twin in ("m-cheap", "m-twin"):
        assert models[twin]["is_pareto"] and models[twin]["recommendation"] == ""
        assert _missing(models[twin]["recommended_model"])
    # m-cheap and m-twin are equally cheap: the name decides which one is advised.
    assert models["m-best"]["recommended_model"] == "m-cheap"


def test_recommendation_sentence(insights) -> None:
    store, _, _ = insights
    models = frontier(store, "sp_pareto")
    best = models["m-best"]
    assert (best["take_count"], best["run_count"]) == (TAKES, TAKES)  # undecided set left out
    assert best["win_rate"] == pytest.approx(0.5)
    assert best["cost_saving"] == pytest.approx(0.75)
    assert best["recommendation"] == (
        "Consider m-cheap: wins 25% (vs 50%), scores 0.80 vs 0.82, costs 75% less than m-best")
    assert models["m-mid"]["recommendation"] == (
        "Consider m-cheap: wins 25% (vs 0%), scores 0.80 vs 0.70, costs 50% less than m-mid")


def test_too_few_takes_are_not_compared(insights) -> None:
    store, metadata, _ = insights
    assert "m-lucky" not in frontier(store, "sp_pareto")
    assert frontier(store, "sp_small") == {}
    assert metadata["dagster/row_count"] == 4
    assert "Consider m-cheap" in metadata["top_recommendations"]


def test_planted_phrase_tops_with_its_lift(insights) -> None:
    store, _, metadata = insights
    patterns = read(store, "SELECT * FROM ${analytics}.prompt_patterns"
                           " WHERE species_hash = 'sp_phrase' ORDER BY pattern_rank")
    # Fragments with the same counts ('step by step', "let s think step") are folded into
    # the phrase; the neutral phrase and the template have no lift.
    assert patterns["ngram"].tolist() == ["think step by step"]
    top = patterns.iloc[0]
    assert (top["winner_count"], top["loser_count"]) == (30, 6)
    assert (top["winner_prompts"], top["loser_prompts"]) == (40, 40)
    assert top["winner_freq"] == pytest.approx(0.75)
    assert top["loser_freq"] == pytest.approx(0.15)
    assert top["lift"] == pytest.approx(0.60) and top["lift"] > MIN_LIFT
    assert top["recommendation"] == "Try adding 'think step by step' to your prompt"
    assert metadata["dagster/row_count"] == 1
    assert "think step by step" in metadata["top_patterns"]


def test_species_with_too_few_prompts_or_a_chance_lift_yield_nothing(insights) -> None:
    store, _, metadata = insights
    found = read(store, "SELECT DISTINCT species_hash FROM ${analytics}.prompt_patterns")
    assert found["species_hash"].tolist() == ["sp_phrase"]
    # sp_phrase, sp_noise and sp_pareto ("Do it." throughout); sp_few is too small.
    assert metadata["species_compared"] == 3


def test_empty_lineage_gives_an_empty_table_with_a_note(store: ClickHouseStore) -> None:
    # Nothing in the source at all: both assets materialize empty, with a note.
    nothing = run_assets(store, [pareto_frontier, prompt_patterns])
    assert [m["dagster/row_count"] for m in nothing.values()] == [0, 0]
    assert "nothing to compare yet" in nothing["pareto_frontier"]["note"]
    # Then takes logged, but no prompt_lineage: patterns empty, frontier on win rates.
    runs = [
        take_set_run(f"w{i:02d}", at(0, 8, i), "sp_wins",
                     {"w-a": (0.01, 0.0), "w-b": (0.02, 0.0)}, ("w-a", "w-b")[i % 2])[0]
        for i in range(TAKES)
    ]
    with store.session("test data") as session:
        write_runs(session, runs)
    metadata = run_asset(store, prompt_patterns)
    assert metadata["dagster/row_count"] == 0
    assert "prompt_lineage has no base prompts" in metadata["note"]
    assert read(store, "SELECT count() AS n FROM ${analytics}.prompt_patterns")["n"][0] == 0

    run_asset(store, pareto_frontier)
    models = frontier(store, "sp_wins")
    assert models["w-a"]["quality_metric"] == "win_rate"
    assert models["w-a"]["avg_quality"] == pytest.approx(0.5)
    assert _missing(models["w-a"]["avg_evaluator_score"])
    assert (bool(models["w-a"]["is_pareto"]), bool(models["w-b"]["is_pareto"])) == (True, False)
    assert models["w-b"]["recommendation"] == (
        "Consider w-a: wins 50% (vs 50%), costs 50% less than w-b")


@pytest.fixture(scope="module")
def cells(insights) -> ClickHouseStore:
    store, _, _ = insights
    # The later day first: its history (day 0) is analysed on the way, as for baselines, and
    # must not depend on which days of cell_analytics were written before.
    later = run_assets(store, [session_facts, cell_analytics], day(1).isoformat())
    assert later["cell_analytics"]["dagster/row_count"] == 2
    assert "| c3 " in later["cell_analytics"]["top_cells_by_cost_z"]  # write, z = 6
    run_assets(store, [session_facts, cell_analytics], day(0).isoformat())
    return store


def cell(store: ClickHouseStore, session_id: str, cell_name: str) -> dict:
    frame = read(store, "SELECT * FROM ${analytics}.cell_analytics"
                        " WHERE session_id = {s:String} AND cell_name = {c:String}",
                 {"s": session_id, "c": cell_name})
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_cell_z_scores_and_cost_shares(cells) -> None:
    write = cell(cells, "c3", "write")
    assert write["species_hash"] == "sp_write"
    assert write["species_run_count"] == 2
    assert (write["species_avg_cost"], write["species_stddev_cost"]) == pytest.approx((4, 1))
    assert write["cost_z_score"] == pytest.approx(6.0)  # (10 - 4) / 1
    assert write["duration_ms"] == pytest.approx(9000)
    assert write["species_avg_duration"] == pytest.approx(3000)
    assert write["duration_z_score"] == pytest.approx(6.0)  # (9000 - 3000) / 1000
    assert write["tokens_z_score"] == 0  # every write used 120 tokens: stddev 0
    assert write["cost_share"] == pytest.approx(10 / 11)
    fetch = cell(cells, "c3", "fetch")
    assert fetch["cost_z_score"] == 0 and fetch["species_stddev_cost"] == 0
    assert fetch["cost_share"] == pytest.approx(1 / 11)


def test_first_runs_have_no_history_and_same_day_runs_count(cells) -> None:
    first = cell(cells, "c1", "write")
    assert (first["species_run_count"], first["species_avg_cost"], first["cost_z_score"]) == (
        0, 0, 0)
    second = cell(cells, "c2", "write")  # same day as c1, one hour later
    assert (second["species_run_count"], second["species_avg_cost"]) == (1, 3.0)
    assert second["cost_z_score"] == 0  # one earlier run: stddev 0


def test_rerun_in_any_order_gives_the_same_rows(cells) -> None:
    query = "SELECT * FROM ${analytics}.cell_analytics ORDER BY session_id, cell_name"
    before = read(cells, query)
    run_asset(cells, cell_analytics, day(1).isoformat())
    pd.testing.assert_frame_equal(before, read(cells, query))


def test_cell_breakdown_for_the_api(cells) -> None:
    with cells.session("test api") as session:
        breakdown = cell_breakdown(session, "c3")
        assert cell_breakdown(session, "no-such-run") == []
    assert [c["cell_name"] for c in breakdown] == ["fetch", "write"]  # execution order
    write = breakdown[1]
    assert write["cost"] == pytest.approx(10.0)
    assert write["baseline"]["run_count"] == 2
    assert write["baseline"]["avg_cost"] == pytest.approx(4.0)
    assert write["z_scores"]["cost"] == pytest.approx(6.0)
    assert write["cost_share"] == pytest.approx(10 / 11)
    json.dumps(breakdown)  # ready for the API as it is


# A small demo load on pinned dates (pinned_dates.py): the same rows on any day.


@pytest.fixture(scope="module")
def demo(module_store: ClickHouseStore, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[ClickHouseStore, dict, dict, dict]]:
    store = ClickHouseStore(source_database=f"{module_store.source_database}_demo",
                            analytics_database=f"{module_store.analytics_database}_demo")
    truth_path: Path = tmp_path_factory.mktemp("demo") / "truth.json"
    try:
        with store.session("test demo") as session:
            migrate_test_databases(session)
            generate_demo(session, days=6, sessions_per_day=400, seed=3, end_date=DEMO_END,
                          ground_truth_path=truth_path, now=PINNED_NOW)
        frontier_metadata = run_asset(store, pareto_frontier)
        patterns_metadata = run_asset(store, prompt_patterns)
        yield store, json.loads(truth_path.read_text()), frontier_metadata, patterns_metadata
    finally:
        with store.session("test demo teardown") as session:
            session.command("DROP DATABASE IF EXISTS ${source} SYNC")
            session.command("DROP DATABASE IF EXISTS ${analytics} SYNC")


def test_demo_cheaper_model_is_recommended(demo) -> None:
    store, truth, metadata, _ = demo
    planted = truth["cheaper_model"]
    rows = read(store, "SELECT * FROM ${analytics}.pareto_frontier"
                       " WHERE cascade_id = {c:String} AND cell_name = {cell:String}",
                {"c": planted["cascade_id"], "cell": planted["cell_name"]})
    baseline = rows[rows["model"] == planted["baseline_model"]]
    cheaper = rows[rows["model"] == planted["cheaper_model"]]
    assert len(baseline) and cheaper["is_pareto"].astype(bool).all()
    # The species with the most takes has the clearest evidence.
    top = baseline.sort_values("take_count", ascending=False).iloc[0]
    assert top["recommended_model"] == planted["cheaper_model"]
    assert top["cost_saving"] == pytest.approx(1 - planted["price_ratio"], abs=0.05)
    assert top["recommendation"].startswith(f"Consider {planted['cheaper_model']}: wins ")
    assert top["recommendation"].endswith(f"less than {planted['baseline_model']}")
    # Wherever the baseline model gets advice, it is the planted cheaper model.
    assert set(baseline["recommended_model"].dropna()) == {planted["cheaper_model"]}
    assert f"Consider {planted['cheaper_model']}" in metadata["top_recommendations"]


def test_demo_winning_phrase_tops_the_patterns(demo) -> None:
    store, truth, _, metadata = demo
    planted = truth["winning_phrase"]
    patterns = read(store, "SELECT * FROM ${analytics}.prompt_patterns ORDER BY lift DESC")
    top = patterns.iloc[0]
    assert (top["species_hash"], top["ngram"]) == (planted["species_hash"], planted["phrase"])
    assert top["winner_freq"] == pytest.approx(planted["winner_frequency"])
    assert top["loser_freq"] == pytest.approx(planted["loser_frequency"])
    assert top["lift"] == pytest.approx(planted["winner_frequency"] - planted["loser_frequency"])
    assert planted["phrase"] in metadata["top_patterns"]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
