"""Point-in-time and idempotent: day by day or as a backfill, and reruns in any order."""

import random

import pytest
from analyse import analyse, at, day, table
from runs import Row, Run, llm, write_runs

from rvbbit_assets.assets.detection_settings import REGRESSION_CONSTANTS, DetectionSettings
from rvbbit_assets.assets.regression_flags import regression_flags_sql
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore

pytestmark = pytest.mark.slow  # real runs of the whole per-run set, several per test

STAGES = ("session_facts", "input_clusters", "priced_runs", "baselines", "anomaly_scores",
          "regression_flags", "cascade_analytics", "cell_analytics")
DAYS = 3


def random_runs(seed: int = 11) -> list[Run]:
    rng = random.Random(seed)
    inputs = ['{"q": "short"}', '{"rows": ' + str(list(range(300))) + "}",
              '{"doc": "' + "y" * 4000 + '"}', "not json", ""]
    runs = []
    for d in range(DAYS):
        for i in range(40):
            cascade = rng.choice(["alpha", "beta", "gamma"])
            species = f"sp_{cascade}_{rng.randint(0, 2)}"
            rows = [llm(round(rng.uniform(0.001, 0.05), 6), at=1 + j,
                        model=rng.choice(["m1", "m2"]), species_hash=species)
                    for j in range(rng.randint(1, 4))]
            if rng.random() < 0.1:
                rows.append(Row(node_type="cell_error", role="", at=6))
            # identical created_at on purpose: session_id breaks the tie
            runs.append(Run(f"{cascade}-{d}-{i:02d}", cascade,
                            at(d, 8 + i // 10, (i * 7) % 60), rows,
                            input_data=rng.choice(inputs)))
    return runs


def _analysed_tables(store: ClickHouseStore) -> dict:
    with store.session("test read"):  # one open of the engine for every table
        return {name: table(store, name, exclude=("analyzed_at",)
                            if name == "cascade_analytics" else ()) for name in STAGES}


@pytest.fixture
def stores():
    from conftest import _fresh_store

    generators = [_fresh_store() for _ in range(2)]
    made = [next(g) for g in generators]
    for store in made:
        with store.session("test data") as session:
            write_runs(session, random_runs())
    yield made
    for g in generators:
        next(g, None)


def test_day_by_day_a_backfill_and_reruns_in_any_order_give_identical_rows(stores):
    forward, backfill = stores
    for d in range(DAYS):
        analyse(forward, day(d))
    analyse(backfill, day(0), day(DAYS - 1))

    expected = _analysed_tables(forward)
    assert len(expected["cascade_analytics"]) == DAYS * 40
    assert expected["anomaly_scores"]["cost_z_score"].abs().sum() > 0
    for name, frame in _analysed_tables(backfill).items():
        assert frame.equals(expected[name]), f"{name} differs"

    for d in reversed(range(DAYS)):  # reruns, latest day first
        analyse(backfill, day(d))
    analyse(backfill, day(1))
    for name, frame in _analysed_tables(backfill).items():
        assert frame.equals(expected[name]), f"{name} changed on rerun"


def test_the_designs_regression_averages_do_not_depend_on_how_the_store_runs_the_query(store):
    """ClickHouse adds a sliding window frame's floats in an order that follows its blocks and
    threads, so a float average of the last 10 runs came out different in its last digits for
    a day computed alone and in a backfill. The sums are exact now."""
    rng = random.Random(5)
    runs = [Run(f"s-{i:04d}", "steady", at(0, 8 + i // 300, (i // 5) % 60, i % 5),
                [llm(round(rng.lognormvariate(-4, 2), 9), species_hash="one-species")])
            for i in range(3000)]
    with store.session("test data") as session:
        write_runs(session, runs)
    analyse(store, day(0))
    averages = ("recent_avg_cost", "historical_avg_cost", "recent_avg_duration",
                "historical_avg_duration", "vs_recent_avg_cost", "vs_recent_avg_duration")
    with store.session("test read") as session:
        params = (DayRange(day(0), day(0)).params() | REGRESSION_CONSTANTS
                  | DetectionSettings.of(session.settings).params())
        query = session.render(f"SELECT session_id, {', '.join(averages)}"
                               f" FROM ({regression_flags_sql()}) ORDER BY session_id")
        computed = [
            session.client.query_df(query, parameters=params,
                                    settings={"max_block_size": rows, "max_threads": threads})
            for rows, threads in ((65_536, 2), (1_000, 1), (4_096, 2))
        ]
    assert computed[0]["recent_avg_cost"].gt(0).sum() > 2900
    for other in computed[1:]:
        assert other.equals(computed[0])
