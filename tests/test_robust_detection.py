"""The recommended detection on hand-made histories: flags that hold on real cost shapes and
name their cause, baselines that fall back when history is thin, point-in-time scores, and
significant regressions that a spike does not make."""

import math
import random

import pandas as pd
import pytest
from analyse import analyse, at, day, table
from runs import Row, Run, write_runs

from rvbbit_assets.assets import baselines, regression_flags
from rvbbit_assets.assets.alerts import build_alerts
from rvbbit_assets.assets.detection_settings import (
    BASELINE_CONSTANTS,
    REGRESSION_CONSTANTS,
    SCORE_CONSTANTS,
    DetectionSettings,
)
from rvbbit_assets.orchestration.day_range import DayRange

pytestmark = pytest.mark.store_open_for_the_test

# USD per token (input, output), as a provider bills them.
PRICES = {"cheap": (1e-7, 4e-7), "fallback": (1e-6, 4e-6), "premium": (1.5e-5, 6e-5)}
HISTORY_DAYS = 4  # days 0-3 are history; the runs under test are on day 4
TEST_DAY = HISTORY_DAYS
THRESHOLD = DetectionSettings().threshold


def call(cell: str, tokens_in: int, tokens_out: int, model: str = "cheap", at: float = 1.0) -> Row:
    """An LLM call billed at the model's price."""
    price_in, price_out = PRICES[model]
    return Row(model=model, cell_name=cell, tokens_in=tokens_in, tokens_out=tokens_out,
               cost=tokens_in * price_in + tokens_out * price_out, at=at)


def two_cells(rng: random.Random, fallback_rate: float = 0.0, input_scale: float = 1.0,
              output_scale: float = 1.0, extra_calls: int = 0, model: str | None = None,
              ) -> list[Row]:
    """A run of a two-cell cascade: a short classification, then a long answer."""
    def model_of() -> str:
        return model or ("fallback" if rng.random() < fallback_rate else "cheap")

    rows = [call("classify", round(300 * input_scale * rng.uniform(0.95, 1.05)),
                 round(20 * output_scale * rng.uniform(0.8, 1.2)), model_of(), at=1)]
    rows += [call("answer", round(900 * input_scale * rng.uniform(0.95, 1.05)),
                  round(400 * output_scale * rng.lognormvariate(0, 0.15)), model_of(), at=2 + i)
             for i in range(1 + extra_calls)]
    return rows


def with_species(runs: list[Run], species: str | None = None) -> list[Run]:
    """`runs`, every row of which logs `species` (by default "sp-" and the cascade's name)."""
    for run in runs:
        for row in run.rows:
            row.species_hash = species or f"sp-{run.cascade_id}"
    return runs


def _runs() -> list[Run]:
    rng = random.Random(3)
    runs: list[Run] = []
    hours = range(8, 20)
    # A cascade whose calls routinely fall back to a pricier model (a fifth of its runs cost
    # several times the rest) and whose answers are retried now and then. Same input always.
    for d in range(HISTORY_DAYS + 1):
        runs += [Run(f"bimodal-{d}-{h}", "bimodal", at(d, h), two_cells(rng, fallback_rate=0.1)
                     + ([call("answer", 900, 400, at=9)] if h % 6 == 0 else []))
                 for h in hours]
    # A steady cascade, then one run of each spike cause on the test day.
    for d in range(HISTORY_DAYS):
        runs += [Run(f"steady-{d}-{h}", "steady", at(d, h), two_cells(rng)) for h in hours]
    runs += [
        Run("spike-input", "steady", at(TEST_DAY, 9), two_cells(rng, input_scale=8)),
        Run("spike-output", "steady", at(TEST_DAY, 10), two_cells(rng, output_scale=8)),
        Run("spike-loop", "steady", at(TEST_DAY, 11), two_cells(rng, extra_calls=12)),
        Run("spike-premium", "steady", at(TEST_DAY, 12), two_cells(rng, model="premium")),
        Run("steady-ordinary", "steady", at(TEST_DAY, 13), two_cells(rng)),
    ]
    # Constant cost (MAD 0); then the usual run, and longer answers: 1.5x and 3.6x the cost.
    for d in range(HISTORY_DAYS):
        runs += [Run(f"const-{d}-{h}", "const", at(d, h), [call("only", 1000, 100)])
                 for h in hours]
    runs += [Run(name, "const", at(TEST_DAY, 9 + i), [call("only", 1000, tokens_out)])
             for i, (name, tokens_out) in enumerate((("const-same", 100), ("const-more", 275),
                                                     ("const-spike", 1000)))]
    # Other inputs each time, all about 1,000 characters: flat ones (category tiny) and
    # nested ones (category small, same size). Only two nested runs come before the last.
    for d in range(HISTORY_DAYS):
        runs += [Run(f"sizes-{d}-{h}", "sizes", at(d, h), two_cells(rng),
                     input_data=f'{{"text": "{h:02}{d}{"x" * 990}"}}') for h in hours]
    nested = '{"a": {"b": {"c": {"d": "%s"}}}}'
    runs += [Run(f"sizes-nested-{i}", "sizes", at(i, 7), two_cells(rng),
                 input_data=nested % (f"{i}" + "y" * 970)) for i in range(2)]
    runs.append(Run("sizes-nested-spike", "sizes", at(TEST_DAY, 7),
                    two_cells(rng, input_scale=8), input_data=nested % ("z" * 971)))
    # A cascade that starts on the test day: its fifth run is a spike.
    runs += [Run(f"new-{i}", "new", at(TEST_DAY, 8 + i), two_cells(rng)) for i in range(4)]
    runs.append(Run("new-spike", "new", at(TEST_DAY, 13), two_cells(rng, output_scale=8)))
    return runs


@pytest.fixture(scope="module")
def scored(module_store):
    with module_store.session("test data") as session:
        write_runs(session, _runs())
    analyse(module_store, day(0), day(TEST_DAY))
    return table(module_store, "cascade_analytics").set_index("session_id")


def test_a_routine_fallback_to_a_pricier_model_is_not_flagged(scored):
    bimodal = scored[scored["cascade_id"] == "bimodal"]
    on_test_day = bimodal[bimodal["created_at"].dt.date == day(TEST_DAY)]
    pricier = on_test_day[on_test_day["models_used"].map(lambda m: "fallback" in m)]
    assert len(pricier) >= 2, "the fixture should put fallbacks on the test day"
    assert not on_test_day["is_cost_anomaly"].any()
    # A fallback run is expected to cost what it costs: its models are the cascade's own.
    ratio = pricier["total_cost"] / pricier["expected_cost"]
    assert ratio.between(0.7, 1.4).all(), ratio.to_dict()


@pytest.mark.parametrize(("session_id", "driver"), [
    ("spike-input", "input_tokens"),
    ("spike-output", "output_tokens"),
    ("spike-loop", "extra_calls"),
    ("spike-premium", "model_price"),
])
def test_each_spike_is_flagged_with_what_caused_it(scored, session_id, driver):
    run = scored.loc[session_id]
    usual = scored.loc["steady-ordinary"]
    assert run["is_cost_anomaly"] and run["cost_robust_z"] > THRESHOLD
    assert run["cost_anomaly_driver"] == driver
    assert run["cost_anomaly_baseline"] == "input"
    # What the run was expected to cost is what an ordinary run of that day costs.
    assert run["expected_cost"] == pytest.approx(usual["total_cost"], rel=0.3)
    assert run["cost_anomaly_impact_usd"] == pytest.approx(
        run["total_cost"] - run["expected_cost"], rel=1e-9)
    words = {"input_tokens": "input tokens", "output_tokens": "output tokens",
             "extra_calls": "LLM calls", "model_price": "price of premium"}[driver]
    assert run["cost_anomaly_explanation"].startswith("Cost ")
    assert f"expected (+${run['cost_anomaly_impact_usd']:.4f}): {words}" in run[
        "cost_anomaly_explanation"]


def test_ordinary_runs_and_a_routine_retry_are_not_flagged(scored):
    test_day = scored[scored["created_at"].dt.date == day(TEST_DAY)]
    retried = [f"bimodal-{TEST_DAY}-{h}" for h in (12, 18)]
    for session_id in ["steady-ordinary", *retried]:
        run = scored.loc[session_id]
        assert not run["is_cost_anomaly"], session_id
        assert run["cost_anomaly_driver"] == "" and run["cost_anomaly_explanation"] == ""
    # A retry is routine in that cascade: the extra call is expected of the run.
    ordinary = test_day[test_day["cascade_id"] == "bimodal"].drop(retried)
    assert scored.loc[retried, "expected_cost"].min() > 1.3 * ordinary["expected_cost"].median()


def test_a_constant_history_scores_the_usual_value_zero_and_a_spike_finitely(scored):
    earlier_runs = HISTORY_DAYS * 12
    floor = SCORE_CONSTANTS["min_log_sigma"] * math.sqrt(1 + math.pi / 2 / earlier_runs)
    same, more, spike = (scored.loc[f"const-{name}"] for name in ("same", "more", "spike"))
    assert same["cost_anomaly_baseline"] == "input"
    assert same["cost_robust_z"] == pytest.approx(0, abs=1e-3)
    for run, ratio in ((more, 1.5), (spike, 5e-4 / 1.4e-4)):
        assert run["total_cost"] / same["total_cost"] == pytest.approx(ratio, rel=1e-6)
        assert run["cost_robust_z"] == pytest.approx(math.log(ratio) / floor, rel=1e-3)
    assert not more["is_cost_anomaly"]  # 1.5x: below the 2x a flag needs
    assert spike["is_cost_anomaly"] and spike["cost_anomaly_driver"] == "output_tokens"


def test_a_cluster_with_two_earlier_runs_falls_back_to_the_cascade(scored):
    run = scored.loc["sizes-nested-spike"]
    assert run["input_category"] != scored.loc["sizes-0-8"]["input_category"]
    assert run["cost_anomaly_baseline"] == "cascade"
    assert run["is_cost_anomaly"] and run["cost_anomaly_driver"] == "input_tokens"


def test_a_new_cascade_is_compared_with_its_earlier_runs_of_the_day(scored):
    first, spike = scored.loc["new-0"], scored.loc["new-spike"]
    assert first["cost_anomaly_baseline"] == "" and first["cost_robust_z"] == 0
    assert spike["cost_anomaly_baseline"] == "cascade"
    assert spike["is_cost_anomaly"] and spike["cost_anomaly_driver"] == "output_tokens"


def test_the_design_columns_keep_the_design_meaning(scored):
    # The design's flag is |z| > 2 against the cluster mean: the fallback mode trips it.
    bimodal = scored[scored["cascade_id"] == "bimodal"]
    assert (bimodal["is_cost_outlier"] == (bimodal["cost_z_score"].abs() > 2)).all()


def _shift_runs() -> list[Run]:
    """A species steady for 40 runs, then 1.8x dearer; a noisy one; one with a lone spike."""
    rng = random.Random(7)
    runs = []
    for i in range(70):
        scale = 1.8 if i >= 40 else 1.0
        runs.append(Run(f"shift-{i:02}", "shift", at(i // 7, 8 + i % 7),
                        [call("answer", 900, round(400 * scale * rng.lognormvariate(0, 0.1)))]))
        runs.append(Run(f"noise-{i:02}", "noise", at(i // 7, 8 + i % 7, 30),
                        [call("answer", 900, round(400 * rng.lognormvariate(0, 0.3)))]))
        runs.append(Run(f"lone-{i:02}", "lone", at(i // 7, 8 + i % 7, 40),
                        [call("answer", 900, round(400 * (10 if i == 50 else 1)
                                                   * rng.lognormvariate(0, 0.1)))]))
    with_species(runs)
    return runs


@pytest.fixture(scope="module")
def regressions(module_store):
    with module_store.session("test data") as session:
        write_runs(session, _shift_runs())
    analyse(module_store, day(0), day(9))
    return table(module_store, "regression_flags").set_index("session_id")


def test_a_clean_shift_is_a_significant_regression_soon_after_it_starts(regressions):
    shift = regressions.filter(like="shift-", axis=0).sort_index()
    flagged = shift["is_regression_significant"]
    assert not flagged.iloc[:40].any()
    first = flagged.iloc[40:].idxmax()
    assert flagged.iloc[40:].all() or int(first.split("-")[1]) <= 50
    assert flagged.loc[first:].all()  # it stays flagged while the look-back holds the change
    row = shift.loc["shift-60"]
    assert row["regression_metric"] in ("cost", "usual_cost") and row["regression_effect"] > 1.2
    assert row["regression_p_value"] < DetectionSettings().alpha


def test_noise_and_a_lone_spike_are_not_regressions(regressions):
    for prefix in ("noise-", "lone-"):
        assert not regressions.filter(like=prefix, axis=0)["is_regression_significant"].any()


def test_scores_are_point_in_time(store):
    runs = _runs()
    early = [r for r in runs if r.created_at.date() < day(TEST_DAY)]
    with store.session("test data") as session:
        write_runs(session, early)
    analyse(store, day(0), day(TEST_DAY - 1))
    before = table(store, "anomaly_scores")
    with store.session("test data") as session:
        write_runs(session, [r for r in runs if r not in early])
    analyse(store, day(0), day(TEST_DAY))  # the earlier days again, with later runs present
    after = table(store, "anomaly_scores")
    after = after[after["session_id"].isin(before["session_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)


def test_a_range_in_one_query_equals_a_query_per_day(store, monkeypatch):
    runs = _runs() + _shift_runs()
    with store.session("test data") as session:
        write_runs(session, runs)
    analyse(store, day(0), day(9))
    expected = {name: table(store, name) for name in ("baselines", "regression_flags")}
    monkeypatch.setattr(baselines, "RUNS_PER_QUERY", 1)  # every day a query of its own
    # Three shares of the species (one per run would be hundreds of queries).
    monkeypatch.setattr(regression_flags, "RUNS_PER_QUERY", len(runs) // 3 + 1)
    every_day = DayRange(day(0), day(9))
    with store.session("test rebuild") as session:
        baselines.build_baselines(session, every_day)
        regression_flags.build_regression_flags(session, every_day)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(table(store, name), frame, obj=name)


def test_no_cost_anomaly_alert_below_the_minimum_impact(scored, module_store, monkeypatch):
    # Read the table again: other tests of this module add cascades to the same store.
    analysed = table(module_store, "cascade_analytics").set_index("session_id")
    spikes = analysed[analysed["is_cost_anomaly"]]
    smallest = spikes["cost_anomaly_impact_usd"].min()
    days = DayRange(day(0), day(9))  # every day either fixture writes

    def alerted() -> set[str]:
        with module_store.session("test alerts") as session:
            build_alerts(session, days)
            return {session_id for (session_id,) in session.rows(
                "SELECT session_id FROM ${analytics}.alerts WHERE alert_type = 'cost_anomaly'")}

    assert alerted() == set(spikes.index)
    monkeypatch.setenv("RVBBIT_ALERT_MIN_IMPACT_USD", str(smallest * 1.0001))
    assert alerted() == set(spikes.index) - {spikes["cost_anomaly_impact_usd"].idxmin()}


def test_a_new_cascade_is_compared_with_its_latest_runs_of_the_day(store, monkeypatch):
    # The same-day comparison is bounded like the earlier days' one: a large cascade's first
    # day is never a comparison of every run with every earlier run (memory grew with its
    # square: 30k runs in a day needed more than 21 GB).
    monkeypatch.setitem(BASELINE_CONSTANTS, "baseline_runs", 5)
    rng = random.Random(5)
    runs = [Run(f"first-day-{i:02}", "young", at(0, 8, i), two_cells(rng)) for i in range(12)]
    with store.session("test data") as session:
        write_runs(session, runs)
    analyse(store, day(0))
    baseline = table(store, "baselines").set_index("session_id")
    # Fewer than 3 earlier runs are no comparison (min_cascade_runs), then up to 5.
    assert baseline["robust_baseline_runs"].tolist() == [0, 0, 0, 3, 4] + [5] * 7
    assert baseline.loc["first-day-11", "robust_baseline"] == "cascade"


def test_a_day_alone_compares_with_the_latest_runs_of_its_earlier_days(store, monkeypatch):
    # A query over a later day reads only the earlier days that hold a key's latest
    # baseline_runs runs before it (a new day on a long look-back sorts a few hundred runs
    # per key): each day alone gives the baselines of one query over every day, also where
    # a window starts among runs of the same second.
    monkeypatch.setitem(BASELINE_CONSTANTS, "baseline_runs", 5)
    rng = random.Random(7)
    times = {0: [at(0, h) for h in (8, 9, 10, 11)], 1: [at(1, 8), at(1, 8), at(1, 9)],
             2: [at(2, h) for h in (8, 9, 10)], 3: [at(3, h) for h in (8, 9, 10)]}
    runs = [Run(f"busy-{d}-{i}", "busy", t, two_cells(rng, output_scale=rng.uniform(0.5, 3)))
            for d, day_times in times.items() for i, t in enumerate(day_times)]
    with store.session("test data") as session:
        write_runs(session, runs)
    analyse(store, day(0), day(3))
    expected = table(store, "baselines")
    monkeypatch.setattr(baselines, "RUNS_PER_QUERY", 1)  # every day a query of its own
    with store.session("test rebuild") as session:
        baselines.build_baselines(session, DayRange(day(0), day(3)))
    pd.testing.assert_frame_equal(table(store, "baselines"), expected)
    # Day 3 is compared with day 2's runs and the two latest of day 1 (one of them tied in
    # time with the run before it), not with day 0's.
    assert expected["robust_baseline_runs"].tolist() == [0, 0, 0, 3] + [4] * 3 + [5] * 6


def test_a_day_alone_gets_the_regression_flags_of_one_query_over_every_day(store):
    # A query over a later day reads only the runs its windows can reach, each species'
    # latest species_runs earlier runs (species_windows_reach.sql): each day alone gives the
    # rows of one query over every day, also where that cut falls among runs of one second.
    species_runs = REGRESSION_CONSTANTS["species_runs"]
    rng = random.Random(9)

    def answer(scale: float) -> list[Row]:
        # Durations vary too: the ranks of equal durations would follow the runs' order.
        return [call("answer", 900, round(400 * scale * rng.lognormvariate(0, 0.2)),
                     at=rng.uniform(1, 3))]

    # Day 0: two runs a second, the last 30 costlier. Day 1's first window starts at the 41st
    # run, which shares its second with the 40th: a cheap run, so that taking it instead
    # changes the earlier runs' mean, and so the effect of the rise that day 1 continues.
    runs = [Run(f"steady-0-{i:03}", "steady", at(0, 8, (i + 1) // 2 // 60, (i + 1) // 2 % 60),
                answer(0.3 if i == 39 else 1.6 if i >= species_runs + 10 else 1.0))
            for i in range(species_runs + 40)]
    runs += [Run(f"steady-1-{i:02}", "steady", at(1, 8, i), answer(1.6)) for i in range(20)]
    with_species(runs, "sp-steady")
    with store.session("test data") as session:
        write_runs(session, runs)
    analyse(store, day(0), day(1))
    expected = table(store, "regression_flags")
    with store.session("test rebuild") as session:
        regression_flags.build_regression_flags(session, DayRange(day(1), day(1)))
    pd.testing.assert_frame_equal(table(store, "regression_flags"), expected)
    # Day 1's windows are full: the design's 20 runs, and series of species_runs earlier
    # runs (the anomalies left out) and the run itself.
    day_one = expected[expected["session_id"].str.startswith("steady-1-")]
    assert (day_one["species_prior_runs"] == 20).all()
    assert day_one["species_runs_tested"].max() == species_runs + 1
    assert day_one["is_regression_significant"].iloc[0]


def test_runs_of_equal_cost_and_duration_are_no_evidence_of_a_rise(store):
    # Equal values share their mean rank: ranked by position instead, the latest runs of a
    # species whose runs cost the same ranked highest, and each looked like a rise (p = 0).
    rng = random.Random(4)
    runs = [Run(f"same-{i:02}", "same", at(i // 10, 8 + i % 10), [call("answer", 900, 400)])
            for i in range(40)]
    # Two answer lengths in no order, as from a fixed prompt: ties in every window.
    runs += [Run(f"two-{i:02}", "two", at(i // 10, 8 + i % 10, 30),
                 [call("answer", 900, rng.choice((200, 400)), at=rng.choice((1, 2)))])
             for i in range(40)]
    with_species(runs)
    with store.session("test data") as session:
        write_runs(session, runs)
    analyse(store, day(0), day(3))
    flags = table(store, "regression_flags").set_index("session_id")
    tested = flags[flags["species_runs_tested"] > 0]
    same, two = tested.filter(like="same-", axis=0), tested.filter(like="two-", axis=0)
    assert len(same) > 10 and len(two) > 10
    assert (same["regression_p_value"] == 1).all()
    assert (two["regression_p_value"] > DetectionSettings().alpha).all()
    assert not tested["is_regression_significant"].any()


def test_a_flagged_run_with_no_earlier_run_in_its_look_back_gets_its_regression_row(store):
    # A series can be empty: the run is left out (an anomaly) and its species' earlier runs in
    # the query are older than the look-back. Every run still gets its row (a shift of the
    # sorted values that assumed one value at least failed the whole stage on the 1M bench).
    lookback = DetectionSettings().lookback_days
    rng = random.Random(5)
    later = lookback + 5
    runs = with_species([Run(f"old-{i:02}", "mixed", at(0, 8, i), two_cells(rng))
                         for i in range(2 * DetectionSettings().min_prior_runs)], "sp-rare")
    # Ordinary runs of the same input, without a species: the spike's baseline.
    runs += [Run(f"usual-{d}-{h}", "mixed", at(d, h), two_cells(rng))
             for d in range(later - 10, later) for h in range(8, 20)]
    spike, = with_species([Run("rare-spike", "mixed", at(later, 9),
                               two_cells(rng, output_scale=8))], "sp-rare")
    with store.session("test data") as session:
        write_runs(session, [*runs, spike])
    analyse(store, day(0), day(later))
    flags = table(store, "regression_flags").set_index("session_id")
    assert len(flags) == len(runs) + 1
    assert table(store, "cascade_analytics").set_index("session_id").loc[
        "rare-spike", "is_cost_anomaly"]
    assert flags.loc["rare-spike", "species_runs_tested"] == 0
    assert not flags.loc["rare-spike", "is_regression_significant"]
