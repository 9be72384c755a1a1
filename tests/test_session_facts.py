"""session_facts formulas on hand-made runs, checked against values worked out by hand."""

import math

import pytest
from analyse import analyse, at, day, row
from runs import Row, Run, llm, write_runs


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
