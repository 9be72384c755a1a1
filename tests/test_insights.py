"""Insights: Pareto frontier of models, winning prompt patterns, and cell-level analytics.

Hand-made runs where the right answer is obvious, then a small demo load whose planted
cheaper model and winning phrase must be found again.
"""

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
from runs import Row, Run, lineage_row, llm, write_lineage, write_runs

from rvbbit_assets.analysis.pareto import MIN_TAKES_PER_MODEL
from rvbbit_assets.assets.cell_analytics import cell_analytics
from rvbbit_assets.assets.pareto_frontier import pareto_frontier
from rvbbit_assets.assets.prompt_patterns import MIN_LIFT, prompt_patterns
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.demo import generate_demo
from rvbbit_assets.serving.reads.cells import cell_breakdown
from rvbbit_assets.store import ClickHouseStore

pytestmark = pytest.mark.store_open_for_the_test

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
        lineage.append(lineage_row(run, cell, species, take, model, model == winner, score,
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
            rows.append(lineage_row(run, "summarize", species, i, "m", outcome, None, 0.01,
                                     " ".join(parts) + "\n\nInput:\nquarterly numbers"))
    return rows


def prompt_lineage_rows() -> list[tuple]:
    rows = phrase_prompts("sp_phrase", 30, 40, 6, 40)  # 75% vs 15%: lift 0.60
    # Mutated prompts (generation 1) inherit phrases: they must not count as losers.
    rows += [
        lineage_row(Run("mutants", "pp", at(0, 12)), "summarize", "sp_phrase", i, "m", False,
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
    # Among the models with enough takes; the design's frontier is m-lucky's alone.
    assert {m: bool(r["is_pareto_among_significant"]) for m, r in models.items()} == {
        "m-cheap": True, "m-twin": True, "m-mid": False, "m-best": True, "m-lucky": False}
    assert {m for m, r in models.items() if r["is_pareto"]} == {"m-lucky"}
    mid = models["m-mid"]
    assert mid["avg_cost"] == pytest.approx(0.02)
    assert mid["avg_quality"] == pytest.approx(0.70)
    assert mid["quality_metric"] == "evaluator_score"
    assert mid["models_compared"] == 5


def test_equal_models_are_both_on_the_frontier_and_ties_break_by_name(insights) -> None:
    store, _, _ = insights
    models = frontier(store, "sp_pareto")
    for twin in ("m-cheap", "m-twin"):
        assert models[twin]["is_pareto_among_significant"]
        # Nothing significant is cheaper: the lucky model is advised, flagged not significant.
        assert models[twin]["recommended_model"] == "m-lucky"
        assert not models[twin]["significant"]
    # m-cheap and m-twin are equally cheap: the name decides which one is advised.
    assert models["m-best"]["recommended_model"] == "m-cheap"
    assert models["m-best"]["significant"]


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


def test_too_few_takes_are_compared_and_flagged_not_significant(insights) -> None:
    store, metadata, _ = insights
    lucky = frontier(store, "sp_pareto")["m-lucky"]
    assert (lucky["take_count"], bool(lucky["is_pareto"]), bool(lucky["significant"])) == (
        3, True, False)
    small = frontier(store, "sp_small")  # 19 takes each: one short
    assert {m: (r["take_count"], bool(r["is_pareto"])) for m, r in small.items()} == {
        "s-a": (TAKES - 1, True), "s-b": (TAKES - 1, False)}
    assert small["s-b"]["recommended_model"] == "s-a" and not small["s-b"]["significant"]
    assert metadata["dagster/row_count"] == 7
    # m-best and m-mid (to m-cheap) are significant; the twins (to m-lucky) and s-b are not.
    assert (metadata["recommendations"], metadata["significant_recommendations"]) == (5, 2)
    # Significant advice first.
    shown = metadata["top_recommendations"]
    assert shown.index("Consider m-cheap") < shown.index("Consider m-lucky")


def test_planted_phrase_tops_with_its_lift(insights) -> None:
    store, _, metadata = insights
    patterns = read(store, "SELECT * FROM ${analytics}.prompt_patterns"
                           " WHERE species_hash = 'sp_phrase' ORDER BY pattern_rank")
    # The design's trigrams; those starting or ending with a stop word ("let s think",
    # "think step by") are fragments. The neutral phrase and the template have no lift.
    assert patterns["ngram"].tolist() == ["step by step"]
    top = patterns.iloc[0]
    assert (top["winner_count"], top["loser_count"]) == (30, 6)
    assert (top["winner_prompts"], top["loser_prompts"]) == (40, 40)
    assert top["winner_freq"] == pytest.approx(0.75)
    assert top["loser_freq"] == pytest.approx(0.15)
    assert top["lift"] == pytest.approx(0.60) and top["lift"] > MIN_LIFT
    assert top["ngram_words"] == 3 and top["significant"]
    assert top["recommendation"] == "Try adding 'step by step' to your prompt"
    assert metadata["significant_patterns"] == 1
    assert "step by step" in metadata["top_patterns"]


def test_few_prompts_or_a_chance_lift_are_returned_not_significant(insights) -> None:
    store, _, metadata = insights
    found = read(store, "SELECT species_hash, ngram, winner_prompts, loser_prompts, lift,"
                        " significant, pattern_rank FROM ${analytics}.prompt_patterns"
                        " WHERE species_hash != 'sp_phrase' ORDER BY species_hash")
    assert found.drop(columns="lift").values.tolist() == [
        ["sp_few", "step by step", 10, 10, False, 1],  # a perfect phrase, too few prompts
        ["sp_noise", "step by step", 20, 20, False, 1],  # lift 0.20, but z = 1.4 (chance)
    ]
    assert found["lift"].tolist() == pytest.approx([1.0, 0.2])
    # The significant pattern comes first, before higher lifts.
    shown = metadata["top_patterns"]
    assert shown.index("sp_phrase") < shown.index("sp_few") < shown.index("sp_noise")
    # sp_phrase, sp_few, sp_noise, sp_pareto and sp_small ("Do it." throughout) have both
    # outcomes.
    assert metadata["species_compared"] == 5
    assert metadata["dagster/row_count"] == 3


def test_each_prompt_text_is_tokenized_once_and_reruns_give_the_same_patterns(insights) -> None:
    store, _, _ = insights
    query = "SELECT * FROM ${analytics}.prompt_patterns ORDER BY species_hash, ngram"
    before = read(store, query)
    run_asset(store, prompt_patterns)
    pd.testing.assert_frame_equal(before, read(store, query))
    memo = read(store, "SELECT count() AS rows, uniqExact(prompt_hash) AS texts"
                       " FROM ${analytics}.prompt_ngrams")
    texts = read(store, "SELECT uniqExact(full_prompt_text) AS n FROM ${source}.prompt_lineage"
                        " WHERE generation = 0 AND species_hash NOT IN ('', 'unknown_species')")
    assert memo["rows"][0] == memo["texts"][0] == texts["n"][0] > 0
    # Two runs at once may both tokenize a text: a memo row twice counts once.
    with store.session("test: every text tokenized twice") as session:
        session.command("INSERT INTO ${analytics}.prompt_ngrams"
                        " SELECT * FROM ${analytics}.prompt_ngrams")
    run_asset(store, prompt_patterns)
    pd.testing.assert_frame_equal(before, read(store, query))


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


def test_six_winners_and_six_losers_give_the_designs_pattern(store: ClickHouseStore) -> None:
    with store.session("test data") as session:
        write_lineage(session, phrase_prompts("sp_six", 5, 6, 1, 6))
    metadata = run_asset(store, prompt_patterns)
    rows = read(store, "SELECT * FROM ${analytics}.prompt_patterns").to_dict("records")
    assert len(rows) == 1 and metadata["dagster/row_count"] == 1
    (pattern,) = rows
    assert (pattern["species_hash"], pattern["cascade_id"], pattern["cell_name"]) == (
        "sp_six", "pp", "summarize")
    assert (pattern["ngram"], pattern["ngram_words"], pattern["pattern_rank"]) == (
        "step by step", 3, 1)
    assert (pattern["winner_count"], pattern["loser_count"]) == (5, 1)
    assert (pattern["winner_prompts"], pattern["loser_prompts"]) == (6, 6)
    assert (pattern["winner_freq"], pattern["loser_freq"]) == pytest.approx((5 / 6, 1 / 6))
    assert pattern["lift"] == pytest.approx(2 / 3)
    # pooled share 1/2: z = (2/3) / sqrt(1/4 * (1/6 + 1/6))
    assert pattern["z_score"] == pytest.approx((2 / 3) / math.sqrt(0.25 / 3))
    assert not pattern["significant"]  # 6 prompts of each outcome, z = 2.3
    assert pattern["recommendation"] == "Try adding 'step by step' to your prompt"
    assert metadata["significant_patterns"] == 0


def test_two_models_with_five_takes_each_are_compared(store: ClickHouseStore) -> None:
    models = {"f-cheap": (0.01, 0.80), "f-dear": (0.05, 0.82)}
    winners = ("f-cheap", "f-dear", "f-cheap", "f-dear", "f-dear")  # 40% and 60%
    runs, lineage = [], []
    for i, winner in enumerate(winners):
        run, rows = take_set_run(f"f{i}", at(0, 8, i), "sp_five", models, winner)
        runs.append(run)
        lineage += rows
    with store.session("test data") as session:
        write_runs(session, runs)
        write_lineage(session, lineage)
    metadata = run_asset(store, pareto_frontier)
    rows = frontier(store, "sp_five")
    assert set(rows) == {"f-cheap", "f-dear"} and metadata["dagster/row_count"] == 2
    cheap, dear = rows["f-cheap"], rows["f-dear"]
    assert [(r["take_count"], r["run_count"], r["models_compared"]) for r in (cheap, dear)] == [
        (5, 5, 2), (5, 5, 2)]
    assert (cheap["quality_metric"], cheap["avg_quality"], dear["avg_quality"]) == (
        "evaluator_score", pytest.approx(0.80), pytest.approx(0.82))
    assert (cheap["win_rate"], dear["win_rate"]) == pytest.approx((0.4, 0.6))
    # Each is on the design's frontier: one is cheaper, the other better.
    assert bool(cheap["is_pareto"]) and bool(dear["is_pareto"])
    assert not cheap["significant"] and not dear["significant"]  # 5 takes, not 20
    assert not cheap["is_pareto_among_significant"]
    assert cheap["recommendation"] == ""
    assert dear["recommended_model"] == "f-cheap"
    assert dear["cost_saving"] == pytest.approx(0.8)
    assert dear["recommendation"] == (
        "Consider f-cheap: wins 40% (vs 60%), scores 0.80 vs 0.82, costs 80% less than f-dear")
    assert (metadata["recommendations"], metadata["significant_recommendations"]) == (1, 0)



def test_evaluator_scores_are_those_of_logged_takes(store: ClickHouseStore) -> None:
    """A take's lineage rows are averaged into its score; a lineage row of a take that was
    never logged, or of another cell, scores nothing and makes no take."""
    models = {"l-cheap": (0.01, 0.60), "l-dear": (0.04, 0.90)}
    runs, lineage = [], []
    for i in range(4):
        run, rows = take_set_run(f"l{i}", at(0, 8, i), "sp_lineage", models, "l-dear")
        runs.append(run)
        lineage += rows
    first = runs[0]
    lineage += [
        lineage_row(first, "choose", "sp_lineage", 0, "l-cheap", False, 0.20, 0.01),  # 2nd row
        lineage_row(first, "choose", "sp_lineage", 5, "l-ghost", True, 0.99, 0.001),  # no log
        lineage_row(first, "other", "sp_lineage", 1, "l-dear", True, 0.10, 0.04),  # other cell
    ]
    with store.session("test data") as session:
        write_runs(session, runs)
        write_lineage(session, lineage)
    run_asset(store, pareto_frontier)
    rows = frontier(store, "sp_lineage")
    assert set(rows) == {"l-cheap", "l-dear"}
    cheap, dear = rows["l-cheap"], rows["l-dear"]
    assert (cheap["take_count"], cheap["scored_takes"]) == (4, 4)
    # The first run's cheap take: (0.60 + 0.20) / 2, then three takes of 0.60.
    assert cheap["avg_evaluator_score"] == pytest.approx((0.40 + 3 * 0.60) / 4)
    assert (dear["scored_takes"], dear["avg_evaluator_score"]) == (4, pytest.approx(0.90))
    assert cheap["avg_cost"] == pytest.approx(0.01) and dear["win_rate"] == 1.0

@pytest.fixture(scope="module")
def cells(insights) -> ClickHouseStore:
    store, _, _ = insights
    # Day by day, as the sensor runs them: day 1 reads day 0's facts as its history.
    run_assets(store, [session_facts, cell_analytics], day(0).isoformat())
    later = run_assets(store, [session_facts, cell_analytics], day(1).isoformat())
    assert later["cell_analytics"]["dagster/row_count"] == 2
    assert "| c3 " in later["cell_analytics"]["top_cells_by_cost_z"]  # write, z = 6
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


def test_an_earlier_day_stale_in_the_table_is_read_from_the_logs(cells) -> None:
    """Day 1 compares with day 0's cells as stored in cell_analytics, unless session_facts
    rewrote day 0 after cell_analytics last did: then day 0's cells come from the logs."""
    query = ("SELECT * FROM ${analytics}.cell_analytics WHERE created_at >= {start:DateTime}"
             " ORDER BY session_id, cell_name")
    day_one = {"start": at(1, 0)}
    before = read(cells, query, day_one)
    with cells.session("test: lose day 0's cells") as session:
        session.command("ALTER TABLE ${analytics}.cell_analytics DROP PARTITION ID {p:String}",
                        {"p": day(0).strftime("%Y%m%d")})
    run_asset(cells, session_facts, day(0).isoformat())
    run_asset(cells, cell_analytics, day(1).isoformat())
    pd.testing.assert_frame_equal(before, read(cells, query, day_one))
    assert cell(cells, "c3", "write")["species_run_count"] == 2  # c1 and c2, from the logs
    run_asset(cells, cell_analytics, day(0).isoformat())


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
    assert len(baseline)
    assert cheaper.loc[cheaper["significant"].astype(bool), "is_pareto_among_significant"
                       ].astype(bool).all()
    # The species with the most takes has the clearest evidence.
    top = baseline.sort_values("take_count", ascending=False).iloc[0]
    assert top["significant"]
    assert top["recommended_model"] == planted["cheaper_model"]
    assert top["cost_saving"] == pytest.approx(1 - planted["price_ratio"], abs=0.05)
    assert top["recommendation"].startswith(f"Consider {planted['cheaper_model']}: wins ")
    assert top["recommendation"].endswith(f"less than {planted['baseline_model']}")
    # Wherever the baseline model gets significant advice, it is the planted cheaper model.
    significant = baseline[baseline["significant"].astype(bool)]
    assert set(significant["recommended_model"].dropna()) == {planted["cheaper_model"]}
    assert f"Consider {planted['cheaper_model']}" in metadata["top_recommendations"]


def test_demo_winning_phrase_tops_the_patterns(demo) -> None:
    store, truth, _, metadata = demo
    planted = truth["winning_phrase"]
    patterns = read(store, "SELECT * FROM ${analytics}.prompt_patterns"
                           " ORDER BY significant DESC, lift DESC")
    top = patterns.iloc[0]
    # The planted phrase is "think step by step": its trigram "step by step".
    assert (top["species_hash"], top["ngram"]) == (planted["species_hash"], "step by step")
    assert top["ngram"] in planted["phrase"] and top["significant"]
    assert top["winner_freq"] == pytest.approx(planted["winner_frequency"])
    assert top["loser_freq"] == pytest.approx(planted["loser_frequency"])
    assert top["lift"] == pytest.approx(planted["winner_frequency"] - planted["loser_frequency"])
    assert "step by step" in metadata["top_patterns"]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
