"""The store (embedded lock, secrets) and the schema migrations, on real chDB."""

import os
import re
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path

import pytest
from schema_copies import use_copied_migrations

import rvbbit_assets.store.migrations as schema
from rvbbit_assets.cli.commands import main
from rvbbit_assets.store import (
    ClickHouseStore,
    StoreBusyError,
    StoreError,
    embedded_lock,
    embedded_path,
)
from rvbbit_assets.store.embedded_lock import EmbeddedLock
from rvbbit_assets.store.migrations import apply_migrations, migrations

FACTS = Path(__file__).resolve().parents[2] / "shared" / "spec" / "rvbbit-source-facts.md"


def declared_analytics_tables():
    """Every table the analytics migrations create and do not drop later, plus the ledger."""
    names = {"schema_migrations"}
    for migration in migrations("analytics"):
        names |= set(re.findall(r"CREATE TABLE IF NOT EXISTS \$\{analytics\}\.(\w+)",
                                migration.text))
        names -= set(re.findall(r"DROP TABLE IF EXISTS \$\{analytics\}\.(\w+)",
                                migration.text))
    return names


def _columns(store, database_attr, table):
    with store.session("test read") as session:
        return session.rows(
            "SELECT name, type FROM system.columns WHERE database = {db:String}"
            " AND table = {t:String} ORDER BY position",
            {"db": getattr(session, database_attr), "t": table},
        )


def _split_top_level(text):
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current.strip()] if p]


def _clean_type(raw):
    raw = re.sub(r"\s+\((added later[^)]*|'' for a top-level run|the run's input, JSON text)\)",
                 "", raw)
    return re.split(r"\s+(DEFAULT|CODEC)\b", raw.strip())[0].strip()


def facts_columns():
    """Each source table's (name, type) list as the RVBBIT source-facts file states it."""
    text = FACTS.read_text()
    tables = {}
    for table in ("unified_logs", "cascade_sessions"):
        section = text.split(f"## {table}")[1].split("\n## ")[0]
        columns = []
        for line in section.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 2 or cells[0] in ("column", "---") or set(cells[0]) <= {"-"}:
                continue
            for name in cells[0].split(","):
                columns.append((name.strip(), _clean_type(cells[1])))
        tables[table] = columns
    prose = text.split("## prompt_lineage")[1].split("\n\n")[1]
    columns = []
    for item in _split_top_level(" ".join(prose.split())):
        names, rest = item.split(" ", 1)
        columns += [(name, _clean_type(rest)) for name in names.split("/")]
    tables["prompt_lineage"] = columns
    return tables


def test_source_tables_match_the_rvbbit_facts_exactly(store):
    if not FACTS.exists():
        # CI lays shared/ beside the checkout: there, a missing file is a broken setup.
        if os.environ.get("CI"):
            pytest.fail(f"{FACTS} is missing: CI must have shared/spec beside the checkout")
        pytest.skip(f"{FACTS} is not beside the checkout")
    expected = facts_columns()
    assert len(expected["unified_logs"]) == 80
    for table, columns in expected.items():
        assert _columns(store, "source_database", table) == columns, table


def test_init_creates_every_table_and_is_idempotent(store, monkeypatch, capsys):
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database + "_cli")
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database + "_cli")
    assert main(["init", "--with-source"]) == 0
    assert "applied source/0001" in capsys.readouterr().out
    cli_store = ClickHouseStore()
    with cli_store.session("test read") as session:
        tables = lambda db: {r[0] for r in session.rows(  # noqa: E731
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": db})}
        assert tables(session.analytics_database) == declared_analytics_tables()
        declared = declared_analytics_tables()
        assert {"cascade_analytics", "session_facts", "priced_runs", "baselines",
                "anomaly_scores", "regression_flags", "input_clusters"} <= declared
        assert "robust_detection" not in declared
        assert tables(session.source_database) == {"unified_logs", "cascade_sessions",
                                                   "prompt_lineage"}
        before = session.rows("SELECT * FROM ${analytics}.schema_migrations ORDER BY version")
    assert main(["init", "--with-source"]) == 0
    assert "schema up to date" in capsys.readouterr().out
    with cli_store.session("test read") as session:
        after = session.rows("SELECT * FROM ${analytics}.schema_migrations ORDER BY version")
        session.command("DROP DATABASE ${source}")
        session.command("DROP DATABASE ${analytics}")
    assert after == before
    assert {m.version for m in migrations("analytics")} <= {row[1] for row in after}


def test_a_new_migration_applies_alone(store, tmp_path, monkeypatch):
    folder = use_copied_migrations(tmp_path, monkeypatch)
    (folder / "analytics" / "9999_extra.sql").write_text(
        "CREATE TABLE ${analytics}.extra (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
    with store.session("test") as session:
        assert apply_migrations(session) == ["analytics/9999_extra"]
        assert apply_migrations(session) == []


def _use_store_databases(store, monkeypatch):
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)


def test_an_applied_migration_that_changed_is_refused(store, tmp_path, monkeypatch, capsys):
    _use_store_databases(store, monkeypatch)
    folder = use_copied_migrations(tmp_path, monkeypatch)
    edited = folder / "analytics" / "0003_cost_models.sql"
    applied = schema.migrations("analytics")[2]
    assert applied.name == "analytics/0003_cost_models"
    recorded = applied.checksum
    original = edited.read_bytes()
    edited.write_bytes(original + b"-- an edit after the migration was applied\n")
    now = applied.checksum
    assert now != recorded
    (folder / "analytics" / "9999_extra.sql").write_text(
        "CREATE TABLE ${analytics}.extra (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
    assert main(["init"]) == 2
    assert capsys.readouterr().err == (
        "rvbbit-analytics: applied migration(s) changed since: analytics/0003_cost_models"
        f" (applied as {recorded}, the file is now {now}). The store may lack what the edit"
        " added. Restore the file and put the change in a new numbered migration, or rebuild"
        " a store that holds only demo data\n")
    # Refused before anything ran: the new migration waits as well.
    with store.session("test read") as session:
        assert session.scalar("EXISTS TABLE ${analytics}.extra") == 0
    edited.write_bytes(original)
    assert main(["init"]) == 0
    assert capsys.readouterr().out.endswith(": applied analytics/9999_extra\n")


@pytest.mark.parametrize("command", [["init"], ["init", "--with-source"], ["demo"]])
def test_missing_migrations_are_an_error(store, tmp_path, monkeypatch, capsys, command):
    """A package without its .sql files (the wheel before this was fixed) stops with a
    message; it used to say "schema up to date" and create nothing."""
    _use_store_databases(store, monkeypatch)
    (tmp_path / "analytics").mkdir()  # a folder without migrations; no source folder at all
    monkeypatch.setattr(schema, "schema_dir", lambda: tmp_path)
    missing = "source" if command != ["init"] else "analytics"
    assert main(command) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"rvbbit-analytics: no migrations in {tmp_path / missing}: the installed package"
        f" lacks its schema/{missing} files; reinstall rvbbit-analytics\n")


def test_a_package_without_the_migrations_package_is_an_error(monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS_PACKAGE", "rvbbit_assets.no_migrations_here")
    with pytest.raises(schema.MigrationError, match=(
            r"^the migrations are not installed \(package rvbbit_assets.no_migrations_here,"
            r" the repository's schema/ folder\): reinstall rvbbit-analytics")):
        schema.migrations("analytics")


def test_cascade_analytics_has_the_design_skip_indexes(store):
    with store.session("test read") as session:
        indexes = dict(session.rows(
            "SELECT name, type_full FROM system.data_skipping_indices"
            " WHERE database = {db:String} AND table = 'cascade_analytics'",
            {"db": session.analytics_database}))
    assert indexes == {"idx_species": "bloom_filter", "idx_input_category": "set(0)",
                       "idx_outlier": "set(0)", "idx_regression": "set(0)"}


HOLD_SCRIPT = textwrap.dedent("""
    import sys, time
    from rvbbit_assets.store import ClickHouseStore
    print("trying", flush=True)
    started = time.monotonic()
    with ClickHouseStore().session(sys.argv[1]) as session:
        waited = time.monotonic() - started
        print("holding", flush=True)
        assert session.scalar("SELECT 41 + 1") == 42
        sys.stdin.readline()  # hold the store until the test says so
    print(f"waited {waited:.2f}", flush=True)
""")


def _holder(name):
    return subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, name], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_take_turns_on_the_embedded_store():
    first = _holder("first holder")
    assert first.stdout.readline().strip() == "trying"
    assert first.stdout.readline().strip() == "holding"
    second = _holder("second holder")
    assert second.stdout.readline().strip() == "trying"
    time.sleep(1.5)  # the second process is now waiting for the store
    out_first, _ = first.communicate("release\n", timeout=60)
    out_second, err_second = second.communicate("release\n", timeout=60)
    assert first.returncode == 0 and second.returncode == 0, err_second
    assert float(out_second.split("waited ")[1]) >= 1.4  # it waited for the first one


def test_sessions_back_to_back_share_one_open_of_the_engine(monkeypatch):
    EmbeddedLock.close_idle()  # an earlier test of this process may have left it open
    opens = []
    open_engine = EmbeddedLock._open

    def counted(*args: object) -> None:
        opens.append(args)
        open_engine(*args)

    monkeypatch.setattr(EmbeddedLock, "_open", staticmethod(counted))
    for step in range(3):
        with ClickHouseStore().session(f"step {step}") as session:
            assert session.scalar("SELECT 1") == 1
    assert len(opens) == 1


WAITER_SCRIPT = textwrap.dedent("""
    from rvbbit_assets.store import ClickHouseStore
    with ClickHouseStore().session("waiting process", timeout=20) as session:
        assert session.scalar("SELECT 41 + 1") == 42
""")


def test_a_process_waiting_for_the_store_gets_it_from_an_idle_holder_at_once(monkeypatch):
    monkeypatch.setattr(embedded_lock, "IDLE_SECONDS", 600.0)  # idle for the whole test
    with ClickHouseStore().session("test, idle after"):
        pass
    started = time.monotonic()
    waiter = subprocess.run([sys.executable, "-c", WAITER_SCRIPT], capture_output=True,
                            text=True, timeout=60)
    assert waiter.returncode == 0, waiter.stderr[-2000:]
    assert time.monotonic() - started < 20  # it did not wait out the idle time
    with ClickHouseStore().session("test, after the waiter") as session:
        assert session.scalar("SELECT 1") == 1  # opened again here


def test_waiting_past_the_timeout_names_the_store_and_both_processes():
    holder = _holder("long holder")
    try:
        assert holder.stdout.readline().strip() == "trying"
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with pytest.raises(StoreBusyError) as caught, ClickHouseStore().session(
            "impatient test", timeout=1
        ):
            pass
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
    message = str(caught.value)
    assert embedded_path(os.environ["RVBBIT_CLICKHOUSE_URL"]) in message
    assert f"pid {holder.pid} (long holder)" in message
    assert f"process {os.getpid()} (impatient test)" in message


def test_a_password_in_the_url_never_appears_in_errors():
    store = ClickHouseStore(url="http://analyst:S3cr3t-pw@127.0.0.1:9/")
    assert "S3cr3t-pw" not in store.describe()
    with pytest.raises(StoreError) as caught, store.session("test"):
        pass
    text = "".join(traceback.format_exception(caught.value))
    assert "S3cr3t-pw" not in text
    assert "***" in text


def test_sessions_run_queries_without_jit_compilation(store):
    # Compiled code dies with the embedded session, so compiling cost each stage again.
    with store.session("test read") as session:
        settings = dict(session.rows(
            "SELECT name, value FROM system.settings WHERE name IN"
            " ('compile_expressions', 'compile_aggregate_expressions', 'compile_sort_description')"
        ))
    assert settings == {"compile_expressions": "0", "compile_aggregate_expressions": "0",
                        "compile_sort_description": "0"}
