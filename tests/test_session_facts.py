"""session_facts formulas on hand-made runs, checked against values worked out by hand."""

import math
from datetime import date

import pytest
from analyse import analyse, at, day, row
from runs import Row, Run, llm, write_runs

pytestmark = pytest.mark.store_open_for_the_test


@pytest.fixture(scope="module")
def facts_store(module_store):
    store = module_store
    with store.session("test data") as session:
        write_runs(session, [
            Run("main'1", "extract", at(0, 10), [
                Row(node_type="cell", role="", at=1, cell_name="a"),
                llm(0.010, at=2, cell_name="a", species_hash="sp_a", take_index=0,
                    tokens_in=100, tokens_out=10),
                llm(0.020, at=3, model="claude", cell_name="a", species_hash="sp_a",
                    take_index=1, is_winner=True, tokens_in=200, tokens_out=20),
                llm(0.030, at=4, cell_name="a", species_hash="sp_a", take_index=2),
                llm(None, at=5, model="claude", cell_name="b", species_hash="sp_b",
                    reforge_step=2),
                Row(node_type="cell", role="", at=6, cell_name="b", species_hash="sp_b"),
                Row(node_type="cell", role="", at=6.5, cell_name="b", species_hash="sp_b"),
                Row(node_type="cell_error", role="", at=7, cell_name="b"),
                Row(node_type="tool_call", role="tool", at=8, species_hash="unknown_species"),
                Row(node_type="tool_call", role="tool", at=8.5, species_hash=""),
            ], input_data='{"a": [1, 2]}', caller_id="sql-report",
                invocation_metadata_json='{"origin": "sql", "query": "x"}'),
            Run("main'1_sub1", "helper", at(0, 10, 30), [llm(0.5), llm(0.25, at=2)],
                parent_session_id="main'1", depth=1, invocation_metadata_json="{not json"),
            Run("main'1_sub2", "helper", at(1, 9), [llm(0.125)], parent_session_id="main'1",
                depth=1, invocation_metadata_json="{}"),
            Run("abandoned", "extract", at(0, 12), [llm(0.04)], completion=None),
            Run("errored", "extract", at(0, 13), [llm(0.01)], completion="cascade_error"),
            Run("no-logs", "extract", at(0, 14), [], completion=None),
            Run("sat", "extract", at(5, 23, 59, 59), [llm(0.01)]),
        ])
    analyse(store, day(0), day(5))
    return store


def test_costs_tokens_counts_and_duration(facts_store):
    facts = row(facts_store, "session_facts", "main'1")
    assert facts["total_cost"] == pytest.approx(0.060)  # the NULL cost counts as 0
    assert facts["null_cost_rows"] == 1
    assert facts["total_duration_ms"] == pytest.approx(8500.0)  # rows from 1 s to 9.5 s
    assert facts["total_tokens_in"] == 100 + 200 + 100 + 100
    assert facts["total_tokens_out"] == 10 + 20 + 20 + 20
    assert facts["message_count"] == 11  # ten rows plus the completion row
    assert facts["cell_count"] == 2
    assert facts["error_count"] == 1
    assert facts["candidate_count"] == 3
    assert facts["reforge_depth"] == 2


def test_models_species_and_takes(facts_store):
    facts = row(facts_store, "session_facts", "main'1")
    # claude 2 uses, gpt-4o-mini 2 uses: a tie, broken by name
    assert list(facts["models_used"]) == ["claude", "gpt-4o-mini"]
    assert facts["primary_model"] == "claude"
    assert facts["model_switches"] == 3  # mini, claude, mini, claude
    # sp_a and sp_b are both logged 3 times; sp_b was logged last
    assert facts["species_hash_primary"] == "sp_b"
    assert facts["winner_candidate_index"] == 1
    assert facts["winner_cost"] == pytest.approx(0.020)
    assert facts["loser_avg_cost"] == pytest.approx(0.020)  # (0.010 + 0.030) / 2


def test_parent_children_caller_origin_and_time(facts_store):
    parent = row(facts_store, "session_facts", "main'1")
    assert parent["child_session_count"] == 2  # the second child starts the next day
    assert parent["child_total_cost"] == pytest.approx(0.875)
    assert _missing(parent["parent_session_id"])  # '' in the source
    assert parent["caller_id"] == "sql-report"
    assert parent["origin"] == "sql"
    child = row(facts_store, "session_facts", "main'1_sub1")
    assert child["parent_session_id"] == "main'1"
    assert child["depth"] == 1
    assert child["origin"] == "unknown"  # malformed metadata
    assert row(facts_store, "session_facts", "main'1_sub2")["origin"] == "unknown"
    sat = row(facts_store, "session_facts", "sat")
    weekday = day(5).weekday()
    assert (sat["hour_of_day"], sat["day_of_week"], bool(sat["is_weekend"])) == (
        23, weekday, weekday >= 5)


def test_finished_abandoned_error_and_unlogged_runs(facts_store):
    assert row(facts_store, "session_facts", "abandoned")["run_status"] == "abandoned"
    assert row(facts_store, "session_facts", "errored")["run_status"] == "error"
    assert row(facts_store, "session_facts", "errored")["error_count"] == 1
    with facts_store.session("test read") as session:
        assert session.scalar(
            "SELECT count() FROM ${analytics}.cascade_analytics WHERE session_id = 'no-logs'"
        ) == 0
        assert session.scalar("SELECT count() FROM ${analytics}.cascade_analytics") == 6


def test_runs_without_takes_have_no_winner(facts_store):
    facts = row(facts_store, "session_facts", "errored")
    assert facts["candidate_count"] == 0
    assert _missing(facts["winner_candidate_index"])
    assert _missing(facts["winner_cost"])
    assert _missing(facts["loser_avg_cost"])


def pd_na():
    import pandas as pd

    return pd.NA


def _missing(value) -> bool:
    return value is None or value is pd_na() or (isinstance(value, float) and math.isnan(value))


# --- takes per (cell, take), sub-cascades, late costs (issue 17) --------------------------


def take(cost, at, cell, index, won=None, **kw):
    return llm(cost, at=at, cell_name=cell, species_hash=f"sp_{cell}", take_index=index,
               is_winner=won, **kw)


@pytest.fixture
def takes_store(store):
    with store.session("test data") as session:
        write_runs(session, [
            # plan: take 1 wins; write (the last cell with takes): take 0 wins.
            Run("two-cells", "takes", at(2, 10), [
                take(0.01, 1, "plan", 0), take(0.02, 2, "plan", 1, won=True),
                take(0.03, 3, "plan", 2),
                take(0.10, 4, "write", 0, won=True), take(0.20, 5, "write", 1),
            ]),
            # ask's winner is only logged as winning_take_index; the last cell, check, is
            # still undecided: its takes are neither winners nor losers.
            Run("undecided-last", "takes", at(2, 11), [
                take(0.04, 1, "ask", 0), take(0.05, 2, "ask", 1),
                Row(node_type="takes_result", role="system", at=2.5, cell_name="ask",
                    winning_take_index=1),
                take(0.50, 3, "check", 0), take(0.70, 4, "check", 1),
            ]),
            # A sub-cascade with a grandchild and a take of its own; takes and a reforge
            # refinement of the run itself, which are not sub-cascades.
            Run("tree", "parent", at(2, 12), [llm(1.0)]),
            Run("tree_sub1", "helper", at(2, 12, 1), [llm(0.5)], parent_session_id="tree",
                depth=1),
            Run("tree_sub1_sub1", "helper", at(2, 12, 2), [llm(0.25)],
                parent_session_id="tree_sub1", depth=2),
            Run("tree_sub1_take_0", "helper", at(2, 12, 3), [llm(0.125)],
                parent_session_id="tree_sub1", depth=2),
            Run("tree_take_0", "parent", at(2, 12, 4), [llm(0.1)], parent_session_id="tree",
                depth=1),
            Run("tree_take_1", "parent", at(2, 12, 5), [llm(0.2)], parent_session_id="tree",
                depth=1),
            Run("tree_reforge1_0", "parent", at(2, 12, 6), [llm(0.3)],
                parent_session_id="tree", depth=1),
            # Hostile parent links: the grandchild is also logged as its parent's parent.
            Run("loop", "parent", at(2, 13), [llm(1.0)]),
            Run("loop_sub1", "helper", at(2, 13, 1), [llm(0.5)], parent_session_id="loop",
                depth=1),
            Run("loop_sub1_sub1", "helper", at(2, 13, 2), [llm(0.25)],
                parent_session_id="loop_sub1", depth=2),
            Run("loop_sub1", "helper", at(2, 13, 3), [], completion=None,
                parent_session_id="loop_sub1_sub1", depth=3),
        ])
    analyse(store, day(2))
    return store


def test_takes_are_counted_and_costed_per_cell(takes_store):
    facts = row(takes_store, "session_facts", "two-cells")
    assert facts["candidate_count"] == 5  # 3 takes of plan + 2 of write
    assert facts["winner_cost"] == pytest.approx(0.02 + 0.10)  # each cell's winner
    assert facts["loser_avg_cost"] == pytest.approx((0.01 + 0.03 + 0.20) / 3)
    assert facts["winner_candidate_index"] == 0  # write's winner
    analysed = row(takes_store, "cascade_analytics", "two-cells")
    assert (analysed["candidate_count"], analysed["winner_candidate_index"]) == (5, 0)
    assert analysed["winner_cost"] == pytest.approx(0.12)


def test_last_cell_without_a_winner_has_no_winner_index(takes_store):
    facts = row(takes_store, "session_facts", "undecided-last")
    assert facts["candidate_count"] == 4
    assert _missing(facts["winner_candidate_index"])  # check picked none
    assert facts["winner_cost"] == pytest.approx(0.05)  # ask's logged winner, take 1
    assert facts["loser_avg_cost"] == pytest.approx(0.04)  # check's takes are not losses


def test_children_are_sub_cascades_with_their_descendants(takes_store):
    facts = row(takes_store, "session_facts", "tree")
    assert facts["child_session_count"] == 1  # tree_sub1; takes and reforge are not
    # tree_sub1, its grandchild and its own take; not tree's takes or reforge
    assert facts["child_total_cost"] == pytest.approx(0.5 + 0.25 + 0.125)
    assert facts["candidate_count"] == 2  # the two cascade-level take sessions
    # Seen from tree_sub1, its take is a take: only its own sub-cascade counts.
    sub = row(takes_store, "session_facts", "tree_sub1")
    assert (sub["child_session_count"], sub["child_total_cost"]) == (1, pytest.approx(0.25))
    assert sub["candidate_count"] == 1
    # A cycle in parent links is followed once round, not forever.
    loop = row(takes_store, "session_facts", "loop")
    assert (loop["child_session_count"], loop["child_total_cost"]) == (1, pytest.approx(0.75))


def test_late_cost_is_flagged_then_recomputed_by_the_sensor(store, monkeypatch):
    from dagster import DagsterInstance, build_sensor_context

    from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
    from rvbbit_assets.sensors.new_cascade_sessions import evaluate_tick
    from rvbbit_assets.serving.views import session_analytics

    monkeypatch.setenv("RVBBIT_SENSOR_SETTLE_SECONDS", "0")
    yesterday = 19  # the day before the ticks' clock: inside the sensor's recent days
    with store.session("test data") as session:
        write_runs(session, [Run("late", "c", at(yesterday, 10), [llm(None), llm(0.1, at=2)])])

    def tick(instance, cursor):
        context = build_sensor_context(instance=instance, cursor=cursor,
                                       resources={"store": store})
        result = evaluate_tick(context, store, now=at(yesterday + 1, 12))
        return result, [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG])
                        for r in result.run_requests if RANGE_START_TAG in r.tags]

    def api_document():
        with store.session("test api") as session:
            return session_analytics(session, "late")

    with DagsterInstance.ephemeral() as instance:
        first, _ = tick(instance, None)
        analyse(store, day(yesterday))
        facts = row(store, "session_facts", "late")
        assert (facts["total_cost"], facts["null_cost_rows"]) == (pytest.approx(0.1), 1)
        assert not facts["cost_complete"]
        assert not row(store, "cascade_analytics", "late")["cost_complete"]
        document = api_document()
        assert (document["total_cost"], document["cost_complete"]) == (
            pytest.approx(0.1), False)

        with store.session("late cost") as session:
            session.command(
                "ALTER TABLE ${source}.unified_logs UPDATE cost = 0.5"
                " WHERE session_id = 'late' AND role = 'assistant' AND cost IS NULL"
                " SETTINGS mutations_sync = 2")
        _, ranges = tick(instance, first.cursor)
        assert len(ranges) == 1 and ranges[0][0] == day(yesterday).isoformat()
        analyse(store, *(date.fromisoformat(d) for d in ranges[0]))
    facts = row(store, "session_facts", "late")
    assert (facts["total_cost"], facts["null_cost_rows"]) == (pytest.approx(0.6), 0)
    assert facts["cost_complete"]
    assert row(store, "cascade_analytics", "late")["cost_complete"]
    assert (api_document()["total_cost"], api_document()["cost_complete"]) == (
        pytest.approx(0.6), True)


def test_a_session_held_twice_is_analysed_once_from_its_earliest_row(store):
    """A session id the source holds twice (a launcher that wrote the run again) gives one
    row, from the earlier row; two rows of the same start are told apart by their values,
    so the choice does not depend on which was written first."""
    logged = [llm(0.01)]
    with store.session("test data") as session:
        write_runs(session, [Run("again", "c", at(0, 10), logged, caller_id="first")])
        write_runs(session, [Run("again", "c", at(0, 11), caller_id="relaunch", completion=None)])
        for sid, callers in (("tie-ab", ["a-caller", "b-caller"]),
                             ("tie-ba", ["b-caller", "a-caller"])):
            write_runs(session, [Run(sid, "c", at(0, 12), logged, caller_id=callers[0])])
            write_runs(session, [Run(sid, "c", at(0, 12), caller_id=callers[1],
                                     completion=None)])
    analyse(store, day(0))
    again = row(store, "session_facts", "again")
    assert (again["caller_id"], again["created_at"]) == ("first", at(0, 10))
    assert row(store, "session_facts", "tie-ab")["caller_id"] == "a-caller"
    assert row(store, "session_facts", "tie-ba")["caller_id"] == "a-caller"
