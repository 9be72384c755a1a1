"""The lineage tells the truth: every asset declares every table its steps read, and the
design card's chain (session facts -> input clusters -> baselines -> anomaly scores ...) is
a chain of dependencies in the asset graph."""

import re

import pytest
from analyse import at, day
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    DagsterInvariantViolationError,
    materialize,
)
from runs import Run, llm, write_runs

from rvbbit_assets.assets.pipeline import per_run_assets, refreshed_after_runs
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.definitions import defs
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.store import StoreSession

pytestmark = pytest.mark.store_open_for_the_test

# Tables an asset keeps for itself beside its own (memo, model versions, delivery state).
OWN_TABLES = {
    "input_clusters": {"input_complexity"},
    "cost_prediction_model": {"cost_models"},
    "alerts": {"alert_deliveries"},
    "forecasts": {"forecast_weekly", "forecast_backtest"},
    "prompt_patterns": {"prompt_ngrams"},
    "pareto_frontier": {"pareto_day_states"},
    "priced_runs": {"priced_day_models", "priced_day_cells"},
}
BOOKKEEPING = {"day_writes"}  # when each day was rewritten: written by every daily stage
STAGING = re.compile(r"__staging_[0-9a-f]+$")


def _table_of(key: AssetKey) -> str:
    """The store table behind an asset: its `table` metadata, or the source table's name."""
    spec = defs.resolve_asset_graph().get(key)
    table = spec.metadata.get("table")
    return table.split(".")[-1] if table else key.to_user_string()


@pytest.fixture
def reads_by_asset(store, monkeypatch):
    """Run the pipeline as the sensor does, recording the tables named by each step's SQL."""
    tables = re.compile(
        rf"`({store.source_database}|{store.analytics_database})`\.`?(\w+)`?")
    reads: dict[str, set[str]] = {}
    render = StoreSession.render

    def recording(session: StoreSession, sql: str) -> str:
        rendered = render(session, sql)
        try:
            asset = AssetExecutionContext.get().asset_key.to_user_string()
        except DagsterInvariantViolationError:  # an asset check's step, or no step at all
            return rendered
        reads.setdefault(asset, set()).update(
            STAGING.sub("", name) for _, name in tables.findall(rendered))
        return rendered

    monkeypatch.setattr(StoreSession, "render", recording)
    with store.session("test data") as session:
        write_runs(session, [Run(f"r{i}", "c", at(i % 2, 10 + i), [llm(0.1 * (i + 1))])
                             for i in range(4)])
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [*per_run_assets, *refreshed_after_runs, *pipeline_checks],
            resources={"store": store}, instance=instance,
            tags={RANGE_START_TAG: day(0).isoformat(), RANGE_END_TAG: day(1).isoformat()},
        ).success
    return reads


def test_every_asset_declares_every_table_it_reads(reads_by_asset):
    graph = defs.resolve_asset_graph()
    assert set(reads_by_asset) == {
        a.key.to_user_string() for a in [*per_run_assets, *refreshed_after_runs]}
    undeclared = {}
    for name, tables in reads_by_asset.items():
        key = AssetKey(name)
        allowed = {_table_of(key), *OWN_TABLES.get(name, ()), *BOOKKEEPING,
                   *(_table_of(parent) for parent in graph.get(key).parent_keys)}
        if tables - allowed:
            undeclared[name] = sorted(tables - allowed)
    assert undeclared == {}


def _upstream(key: str) -> set[str]:
    graph = defs.resolve_asset_graph()
    seen, todo = set(), [AssetKey(key)]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys - seen:
            seen.add(parent)
            todo.append(parent)
    return {k.to_user_string() for k in seen}


def test_the_cards_chain_is_a_chain_of_dependencies():
    graph = defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(AssetKey(key)).parent_keys}

    # Each reads the one before it (input_clusters clusters the runs session_facts found).
    for before, after in [("session_facts", "input_clusters"), ("input_clusters", "baselines"),
                          ("baselines", "anomaly_scores"),
                          ("anomaly_scores", "regression_flags")]:
        assert before in parents(after), (before, after)
    card = {"session_facts", "input_clusters", "baselines", "anomaly_scores",
            "regression_flags", "cost_prediction_model"}
    assert card <= _upstream("forecasts")
    # Stages reading every earlier day's facts say so (the UI shows the partition mapping).
    for stage in ("priced_runs", "baselines", "regression_flags",
                  "cost_prediction_model", "cell_analytics"):
        mapping = graph.get_partition_mapping(AssetKey(stage), AssetKey("session_facts"))
        assert (mapping.start_offset, mapping.end_offset) == (-36_500, 0), stage
    mapping = graph.get_partition_mapping(AssetKey("anomaly_scores"), AssetKey("session_facts"))
    assert (mapping.start_offset, mapping.end_offset) == (0, 0)  # its own day only
    assert "session_facts" in parents("alerts")
