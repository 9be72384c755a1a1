"""Cluster mode (RVBBIT_CLICKHOUSE_CLUSTER): the exact DDL it emits, and staging on real chDB.

No cluster is reachable here, so the statements are checked text for text; what can run on
one node (staging copies with an explicit engine, the cluster check) runs on real chDB.
"""

from datetime import date, datetime

import pandas as pd
import pytest
from schema_copies import use_copied_migrations

import rvbbit_assets.store.migrations as schema
from rvbbit_assets.config import ConfigError
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession, render_sql
from rvbbit_assets.store.cluster_ddl import ClusterDDLError, cluster_ddl, local_engine
from rvbbit_assets.store.migrations import apply_migrations, migrations, schema_ddl
from rvbbit_assets.store.table_writes import replace_days_with_frame, staging_copy

pytestmark = pytest.mark.store_open_for_the_test

KEEPER = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"

ALERT_DELIVERIES_ON_CLUSTER = (
    "CREATE TABLE IF NOT EXISTS `an`.alert_deliveries ON CLUSTER prod\n"
    "(\n"
    "    session_id String,\n"
    "    alert_type LowCardinality(String),\n"
    "    -- sending (claimed by a run) | sent | failed (retried by a later run inside the"
    " window)\n"
    "    -- | not_sent_too_old (backfilled history, never sent) | interrupted (a claim whose"
    " run\n"
    "    -- stopped mid-delivery; not resent, to never send an alert twice)\n"
    "    status LowCardinality(String),\n"
    "    attempts UInt8,\n"
    "    last_error String,\n"
    "    destination String,                     -- the webhook with its path and query"
    " redacted\n"
    "    updated_at DateTime64(3),\n"
    "    version UInt64                          -- microseconds since the epoch; the newest"
    " row wins\n"
    ")\n"
    f"ENGINE = ReplicatedReplacingMergeTree({KEEPER}, version)\n"
    "ORDER BY (session_id, alert_type)"
)

LEDGER_ON_CLUSTER = (
    "\nCREATE TABLE IF NOT EXISTS `an`.schema_migrations ON CLUSTER prod\n"
    "(\n"
    "    migration_set LowCardinality(String),\n"
    "    version String,\n"
    "    checksum String,\n"
    "    applied_at DateTime64(3) DEFAULT now64(3)\n"
    ")\n"
    f"ENGINE = ReplicatedMergeTree({KEEPER})\n"
    "ORDER BY (migration_set, version)\n"
)

NEW_COLUMN_MIGRATION = (
    "-- A column added after the first release.\n"
    "ALTER TABLE ${analytics}.cascade_analytics\n"
    "    ADD COLUMN IF NOT EXISTS cost_per_cell Float32 AFTER cost_per_message;\n"
)


def test_without_a_cluster_every_statement_is_sent_as_written():
    expected = [
        "CREATE DATABASE IF NOT EXISTS `an`",
        render_sql(schema._LEDGER_DDL, "src", "an"),
        *(
            render_sql(statement, "src", "an")
            for migration_set in ("source", "analytics")
            for migration in migrations(migration_set)
            for statement in migration.statements()
        ),
    ]
    assert schema_ddl("src", "an", None, with_source=True) == expected


def test_the_database_and_the_ledger_are_created_on_the_cluster():
    ddl = schema_ddl("src", "an", "prod")
    assert ddl[:2] == ["CREATE DATABASE IF NOT EXISTS `an` ON CLUSTER prod", LEDGER_ON_CLUSTER]
    assert "-- cascade_analytics: every column" in ddl[2]  # 0001's leading comment stays
    assert ddl[2].endswith("CREATE DATABASE IF NOT EXISTS `an` ON CLUSTER prod")


def test_a_replacing_merge_tree_becomes_replicated_with_its_version_column():
    ddl = schema_ddl("src", "an", "prod")
    assert ALERT_DELIVERIES_ON_CLUSTER in ddl
    # Every table of the analytics migrations is replicated and created on the cluster.
    creates = [s for s in ddl if "CREATE TABLE" in s]
    assert len(creates) == len(
        [s for m in migrations("analytics") for s in m.statements() if "CREATE TABLE" in s]
    ) + 1
    assert all(" ON CLUSTER prod\n(" in s and f"MergeTree({KEEPER}" in s for s in creates)


def test_a_new_alter_migration_is_run_on_the_cluster(tmp_path, monkeypatch):
    folder = use_copied_migrations(tmp_path, monkeypatch)
    (folder / "analytics" / "9999_cost_per_cell.sql").write_text(NEW_COLUMN_MIGRATION)
    assert schema_ddl("src", "an", "prod")[-1] == (
        "-- A column added after the first release.\n"
        "ALTER TABLE `an`.cascade_analytics ON CLUSTER prod\n"
        "    ADD COLUMN IF NOT EXISTS cost_per_cell Float32 AFTER cost_per_message"
    )
    assert schema_ddl("src", "an", None)[-1] == (
        "-- A column added after the first release.\n"
        "ALTER TABLE `an`.cascade_analytics\n"
        "    ADD COLUMN IF NOT EXISTS cost_per_cell Float32 AFTER cost_per_message"
    )


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "DROP DATABASE IF EXISTS ${analytics} SYNC",
            "DROP DATABASE IF EXISTS ${analytics} ON CLUSTER prod SYNC",
        ),
        (
            "RENAME TABLE ${analytics}.a TO ${analytics}.b",
            "RENAME TABLE ${analytics}.a TO ${analytics}.b ON CLUSTER prod",
        ),
        (
            "ALTER TABLE ${analytics}.`t` DROP COLUMN x",
            "ALTER TABLE ${analytics}.`t` ON CLUSTER prod DROP COLUMN x",
        ),
        (  # engine-like text in a comment and a string is not the engine; nested arguments
            "/* ENGINE = MergeTree */ CREATE TABLE ${analytics}.s -- ENGINE = Log\n"
            "(k String DEFAULT 'ENGINE = MergeTree', a UInt8, b UInt8)\n"
            "ENGINE = SummingMergeTree((a, b)) ORDER BY k",
            "/* ENGINE = MergeTree */ CREATE TABLE ${analytics}.s ON CLUSTER prod -- ENGINE = Log\n"
            "(k String DEFAULT 'ENGINE = MergeTree', a UInt8, b UInt8)\n"
            f"ENGINE = ReplicatedSummingMergeTree({KEEPER}, (a, b)) ORDER BY k",
        ),
        (
            "CREATE TABLE ${analytics}.m (x UInt8) ENGINE = MergeTree ORDER BY x",
            f"CREATE TABLE ${{analytics}}.m ON CLUSTER prod (x UInt8) "
            f"ENGINE = ReplicatedMergeTree({KEEPER}) ORDER BY x",
        ),
        (  # already replicated: only ON CLUSTER is added
            f"CREATE TABLE ${{analytics}}.r (x UInt8) ENGINE = ReplicatedMergeTree({KEEPER})"
            " ORDER BY x",
            f"CREATE TABLE ${{analytics}}.r ON CLUSTER prod (x UInt8) "
            f"ENGINE = ReplicatedMergeTree({KEEPER}) ORDER BY x",
        ),
        (  # data statements run once; the replicated engine copies them
            "INSERT INTO ${analytics}.t SELECT 1",
            "INSERT INTO ${analytics}.t SELECT 1",
        ),
    ],
)
def test_statement_forms(statement, expected):
    assert cluster_ddl(statement, "prod") == expected
    assert cluster_ddl(statement, None) == statement


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE ${analytics}.copy AS ${analytics}.cascade_analytics",
        "CREATE TABLE ${analytics}.t (x UInt8) ORDER BY x",
        "SYSTEM SYNC REPLICA ${analytics}.t",
    ],
)
def test_statements_cluster_mode_cannot_place_are_refused(statement):
    with pytest.raises(ClusterDDLError):
        cluster_ddl(statement, "prod")


def test_staging_tables_drop_replication_but_keep_the_engine_family():
    assert local_engine(
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/an/alerts', '{replica}') "
        "PARTITION BY toDate(created_at) ORDER BY (session_id, alert_type) "
        "SETTINGS index_granularity = 8192"
    ) == (
        "MergeTree() PARTITION BY toDate(created_at) ORDER BY (session_id, alert_type) "
        "SETTINGS index_granularity = 8192"
    )
    assert local_engine(
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/an/alert_deliveries', "
        "'{replica}', version) ORDER BY (session_id, alert_type) "
        "SETTINGS index_granularity = 8192"
    ) == "ReplacingMergeTree(version) ORDER BY (session_id, alert_type) SETTINGS index_granularity = 8192"  # noqa: E501
    plain = "MergeTree PARTITION BY toDate(created_at) ORDER BY x SETTINGS index_granularity = 8192"
    assert local_engine(plain) == plain


def test_cluster_mode_staging_swaps_days_on_real_chdb(store):
    """The staging copy with its explicit engine keeps indexes, keys and REPLACE PARTITION."""
    with store.session("test") as plain:
        session = StoreSession(
            plain.client, plain.source_database, plain.analytics_database, cluster="prod"
        )
        with staging_copy(session, "cascade_analytics") as staging:
            indexes = session.rows(
                "SELECT name FROM system.data_skipping_indices"
                " WHERE database = {db:String} AND table = {t:String} ORDER BY name",
                {"db": session.analytics_database, "t": staging.strip("`")},
            )
        assert [name for (name,) in indexes] == [
            "idx_input_category", "idx_outlier", "idx_regression", "idx_species"
        ]
        frame = pd.DataFrame({
            "session_id": ["a", "b"],
            "alert_type": ["cost_spike", "regression"],
            "cascade_id": ["c", "c"],
            "created_at": [datetime(2025, 3, 1, 10), datetime(2025, 3, 2, 11)],
            "run_finished_at": [datetime(2025, 3, 1, 10, 5), datetime(2025, 3, 2, 11, 5)],
            "severity": ["major", "minor"],
            "message": ["m", "n"],
            "metric": [3.5, 40.0],
            "detected_at": [datetime(2025, 3, 3), datetime(2025, 3, 3)],
        })
        days = DayRange(date(2025, 3, 1), date(2025, 3, 2))
        assert replace_days_with_frame(session, "alerts", frame, days) == 2
        assert replace_days_with_frame(session, "alerts", frame.iloc[:1], days) == 1
        assert session.rows("SELECT session_id FROM ${analytics}.alerts") == [("a",)]
        leftovers = session.scalar(
            "SELECT count() FROM system.tables WHERE database = {db:String}"
            " AND name LIKE '%staging%'",
            {"db": session.analytics_database},
        )
        assert leftovers == 0


def test_init_refuses_a_cluster_this_server_does_not_know_before_any_ddl(store):
    with store.session("test") as plain:
        session = StoreSession(
            plain.client, plain.source_database, plain.analytics_database + "_c", cluster="nope"
        )
        with pytest.raises(ClusterDDLError, match="no such cluster"):
            apply_migrations(session)
        assert not session.scalar(
            "SELECT count() FROM system.databases WHERE name = {db:String}",
            {"db": session.analytics_database},
        )


def test_the_cluster_comes_from_the_environment_and_is_validated(monkeypatch):
    monkeypatch.setenv("RVBBIT_CLICKHOUSE_CLUSTER", "analytics_prod")
    assert ClickHouseStore().settings().cluster == "analytics_prod"
    monkeypatch.setenv("RVBBIT_CLICKHOUSE_CLUSTER", "prod'; DROP")
    with pytest.raises(ConfigError, match="RVBBIT_CLICKHOUSE_CLUSTER"):
        ClickHouseStore().settings()
    monkeypatch.delenv("RVBBIT_CLICKHOUSE_CLUSTER")
    assert ClickHouseStore().settings().cluster is None
