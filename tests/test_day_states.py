"""Stages' sums per day of session_facts' runs (pareto_day_states, priced_day_models and
priced_day_cells): a day whose logs changed after its state was stored (session_facts rewrote
it) has its state rebuilt, and an upgraded store, whose state tables are empty, fills them on
its first run."""

from datetime import datetime, timedelta

import pandas as pd
import pytest
from analyse import at, day
from pinned_dates import PINNED_NOW
from runs import LOG_COLUMNS, Row, Run, llm, write_runs

from rvbbit_assets.assets.pareto_frontier import build_pareto_frontier
from rvbbit_assets.assets.priced_runs import DAY_STATES, build_priced_runs
from rvbbit_assets.assets.session_facts import build_session_facts
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession

pytestmark = pytest.mark.store_open_for_the_test

PRICED = "SELECT * FROM ${analytics}.priced_runs ORDER BY session_id"


def take_run(session_id: str, day_offset: int, hour: int, cheap_cost: float, winner: str) -> Run:
    """A run whose cell `choose` ran a take of m-cheap and one of m-dear (0.04)."""
    rows = [Row(node_type="cell", role="system", at=0.5, cell_name="choose", species_hash="sp")]
    for take, (model, cost) in enumerate({"m-cheap": cheap_cost, "m-dear": 0.04}.items()):
        rows.append(llm(cost, at=1.0 + take / 10, model=model, cell_name="choose",
                        species_hash="sp", take_index=take, is_winner=model == winner))
    return Run(session_id, "pc", at(day_offset, hour), rows)


# Days 0 and 1, three runs each; m-cheap costs 0.01 on day 0 and 0.02 on day 1.
TAKE_RUNS = [take_run(f"d{d}r{i}", d, 8 + i, 0.01 * (d + 1), "m-dear" if i % 2 else "m-cheap")
             for d in (0, 1) for i in range(3)]


def facts(store: ClickHouseStore, first: int, last: int) -> None:
    with store.session("test facts") as session:
        build_session_facts(session, DayRange(day(first), day(last)))


def frontier(store: ClickHouseStore, now: datetime = PINNED_NOW) -> pd.DataFrame:
    """pareto_frontier's rows, computed as the asset does at `now`."""
    with store.session("test frontier") as session:
        frame, _ = build_pareto_frontier(session, now)
    return frame.sort_values(["species_hash", "model"], ignore_index=True)


def drop_states(store: ClickHouseStore, tables: tuple[str, ...]) -> None:
    """The state tables emptied, and their writes forgotten: as before the migration."""
    with store.session("test drop states") as session:
        for table in tables:
            session.command(f"TRUNCATE TABLE ${{analytics}}.{table}")
        session.command("DELETE FROM ${analytics}.day_writes WHERE stage IN {t:Array(String)}",
                        {"t": list(tables)})


def read(store: ClickHouseStore, sql: str) -> pd.DataFrame:
    with store.session("test read") as session:
        return session.df(sql)


def day_sums(store: ClickHouseStore, total: str, table: str) -> list[tuple]:
    with store.session("test read") as session:
        return session.rows(f"SELECT day, {total} FROM ${{analytics}}.{table}"
                            " GROUP BY day ORDER BY day")


def late_cheap_turn(session: StoreSession, cost: float) -> None:
    """A row of d0r0's m-cheap take logged after the run was analysed: another turn."""
    ts = at(0, 8) + timedelta(seconds=1.05)
    session.insert_rows("unified_logs", [(
        ts, ts.isoformat(), "d0r0", "late", None, "cli-test", "agent", "assistant", "pc",
        "choose", "sp", "m-cheap", 100, 20, cost, 0, None, None, None,
    )], LOG_COLUMNS, database=session.source_database)


def test_a_day_rewritten_after_its_state_was_stored_is_summed_anew(store) -> None:
    with store.session("test data") as session:
        write_runs(session, TAKE_RUNS)
    facts(store, 0, 1)
    before = frontier(store)
    cheap = before[before["model"] == "m-cheap"].iloc[0]
    assert (cheap["take_count"], cheap["avg_cost"]) == (6, pytest.approx(0.015))
    with store.session("test late logs") as session:
        late_cheap_turn(session, 0.06)  # d0r0's cheap take: 0.01 -> 0.07
    facts(store, 0, 0)  # the sensor reanalyses a day whose logs changed
    after = frontier(store)
    cheap = after[after["model"] == "m-cheap"].iloc[0]
    assert (cheap["take_count"], cheap["avg_cost"]) == (6, pytest.approx((0.07 + 0.02 + 0.06) / 6))
    drop_states(store, ("pareto_day_states",))  # then every day is summed from the logs
    pd.testing.assert_frame_equal(after, frontier(store))


def test_days_the_logs_ttl_can_reach_are_read_from_the_logs(store) -> None:
    """unified_logs deletes rows a year old: a day that old is summed from what the logs
    still hold, not from its stored state (a late row, standing in for a change no rewrite
    of session_facts followed, shows which)."""
    with store.session("test data") as session:
        write_runs(session, TAKE_RUNS)
    facts(store, 0, 1)
    frontier(store)
    with store.session("test late logs") as session:
        late_cheap_turn(session, 0.06)
    cheap = frontier(store).set_index("model").loc["m-cheap"]
    assert cheap["avg_cost"] == pytest.approx(0.015)  # day 0 from its stored state
    year_on = at(0, 12) + timedelta(days=364)  # day 0 is a year old, day 1 not yet
    cheap = frontier(store, year_on).set_index("model").loc["m-cheap"]
    assert cheap["avg_cost"] == pytest.approx(0.025)  # day 0 from the logs


def test_an_upgraded_store_fills_the_pareto_states_on_its_first_run(store) -> None:
    with store.session("test data") as session:
        write_runs(session, TAKE_RUNS)
    facts(store, 0, 1)
    with store.session("test: day 1 analysed before day_writes existed") as session:
        session.command("DELETE FROM ${analytics}.day_writes WHERE day = {d:Date}",
                        {"d": day(1)})
    rows = frontier(store)
    assert rows.set_index("model")[["take_count", "run_count", "win_rate"]].to_dict("index") == {
        "m-cheap": {"take_count": 6, "run_count": 6, "win_rate": pytest.approx(4 / 6)},
        "m-dear": {"take_count": 6, "run_count": 6, "win_rate": pytest.approx(2 / 6)},
    }
    assert rows.set_index("model")["avg_cost"].to_dict() == {
        "m-cheap": pytest.approx(0.015), "m-dear": pytest.approx(0.04)}
    assert day_sums(store, "sum(take_count)", "pareto_day_states") == [(day(0), 6), (day(1), 6)]
    pd.testing.assert_frame_equal(rows, frontier(store))  # a rerun: the same, nothing doubled


def test_the_same_logs_in_another_order_give_the_same_facts_and_frontier_bit_for_bit(
    store, twin_store
) -> None:
    """Floating-point sums depend on the order of their terms (0.01 + 0.2 + 0.1 + 0.3 is
    0.6100000000000001, 0.01 + 0.3 + 0.2 + 0.1 is 0.61): turns of one take that reach the
    logs in another order, each in an insert of its own (read part by part), must not change
    an average's last bits."""
    for target, turns in ((store, [0.2, 0.1, 0.3]), (twin_store, [0.3, 0.2, 0.1])):
        with target.session("test data") as session:
            write_runs(session, TAKE_RUNS)
            for cost in turns:
                late_cheap_turn(session, cost)
        facts(target, 0, 1)
    facts_sql = "SELECT * FROM ${analytics}.session_facts ORDER BY session_id"
    pd.testing.assert_frame_equal(read(store, facts_sql), read(twin_store, facts_sql),
                                  check_exact=True)
    pd.testing.assert_frame_equal(frontier(store), frontier(twin_store), check_exact=True)


def call_run(session_id: str, day_offset: int, hour: int, cost: float) -> Run:
    return Run(session_id, "pc", at(day_offset, hour),
               [llm(cost, model="m", cell_name="c", tokens_in=100 + hour, tokens_out=20)])


# Day 1's runs are priced at day 0's usual prices.
CALL_RUNS = [call_run(f"c{d}r{i}", d, 8 + i, 0.01 * (i + 1)) for d in (0, 1) for i in range(3)]


def priced(store: ClickHouseStore, first: int, last: int) -> None:
    with store.session("test priced") as session:
        build_priced_runs(session, DayRange(day(first), day(last)))


def priced_call_runs(store: ClickHouseStore) -> pd.DataFrame:
    """CALL_RUNS analysed and priced day by day: their priced_runs rows."""
    with store.session("test data") as session:
        write_runs(session, CALL_RUNS)
    facts(store, 0, 1)
    priced(store, 0, 1)
    return read(store, PRICED)


def test_a_day_rewritten_after_its_prices_were_stored_is_summed_anew(store) -> None:
    before = priced_call_runs(store)
    with store.session("test late logs") as session:
        session.insert_rows("unified_logs", [(
            at(0, 8, 30), at(0, 8, 30).isoformat(), "c0r0", "late", None, "cli-test", "agent",
            "assistant", "pc", "c", None, "m", 5000, 20, 0.5, None, None, None, None,
        )], LOG_COLUMNS, database=session.source_database)
    facts(store, 0, 0)
    priced(store, 1, 1)  # day 1 read again: day 0's sums now include the late call
    after = read(store, PRICED)
    day_one = after["created_at"] >= at(1, 0)
    assert not after[day_one]["usual_price_cost"].equals(before[day_one]["usual_price_cost"])
    drop_states(store, DAY_STATES)
    priced(store, 1, 1)  # from session_facts alone
    pd.testing.assert_frame_equal(after, read(store, PRICED))


def test_an_upgraded_store_fills_the_price_states_on_its_first_run(store) -> None:
    expected = priced_call_runs(store)
    drop_states(store, DAY_STATES)  # an upgraded store
    with store.session("test: day 0 analysed before day_writes existed") as session:
        session.command("DELETE FROM ${analytics}.day_writes WHERE day = {d:Date}",
                        {"d": day(0)})
    priced(store, 1, 1)
    pd.testing.assert_frame_equal(expected, read(store, PRICED))
    assert day_sums(store, "sum(model_runs)", "priced_day_models") == [(day(0), 3), (day(1), 3)]
