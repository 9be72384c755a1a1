"""The one settings object: every variable checked with a message naming it, the code
location's store configured through EnvVar, and every analytics table declared by an asset.
None of these materializes anything."""

import re
from pathlib import Path

import pytest
from dagster import EnvVar

from rvbbit_assets.config import VARIABLES, ConfigError, Settings
from rvbbit_assets.definitions import defs
from rvbbit_assets.store.resource import STORE_FIELD_VARIABLES

SCHEMA = Path(__file__).parent.parent / "schema" / "analytics"
# Written by every stage's partition swap and by `init`, not by one asset.
BOOKKEEPING_TABLES = {"day_writes"}

BAD_TEXT = {
    "number": ["x", "nan", "-1e12", "1e12"],
    "whole number": ["x", "2.5", "-1000000000", "1000000000"],
    "identifier": ["rvbbit-analytics", "db; DROP"],
    "date": ["2026-13-01", "yesterday"],
    "token": ["short"],
}
CHECKED = [(v, text) for v in VARIABLES for text in BAD_TEXT.get(v.kind, [])]


@pytest.mark.parametrize(("variable", "text"), CHECKED,
                         ids=[f"{v.name}={t}" for v, t in CHECKED])
def test_a_bad_value_is_refused_naming_the_variable_and_its_range(variable, text, monkeypatch):
    monkeypatch.setenv(variable.name, text)
    with pytest.raises(ConfigError) as refused:
        Settings.from_env()
    message = str(refused.value)
    assert message.startswith(f"{variable.name} must be ")
    if variable.kind == "token":  # a secret: never echoed
        assert text not in message
    else:
        assert message == f"{variable.name} must be {variable.accepted()}, got {text!r}"


def test_the_messages_say_the_accepted_range(monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_RECENT_DAYS", "x")
    with pytest.raises(ConfigError, match=re.escape(
            "RVBBIT_SENSOR_RECENT_DAYS must be a whole number from 1 to 365, got 'x'")):
        Settings.from_env()
    monkeypatch.setenv("RVBBIT_SENSOR_RECENT_DAYS", "7")
    monkeypatch.setenv("RVBBIT_ABANDONED_AFTER_HOURS", "0.5")
    settings = Settings.from_env()
    assert (settings.sensor_recent_days, settings.abandoned_after_hours) == (7, 0.5)


def test_every_variable_has_a_row_in_the_settings_tables():
    docs = (Path(__file__).parent.parent / "docs" / "deploy.md").read_text()
    rows = set(re.findall(r"^\| `(RVBBIT_[A-Z_]+)` \|", docs, re.MULTILINE))
    assert rows == {v.name for v in VARIABLES}


def test_the_code_location_configures_the_store_through_env_vars():
    # conftest sets RVBBIT_CLICKHOUSE_URL before the definitions are imported.
    store = defs.resources["store"]
    assert isinstance(store.url, EnvVar)
    assert store.url.env_var_name == "RVBBIT_CLICKHOUSE_URL"
    for field, value in store._get_non_default_public_field_values().items():
        assert isinstance(value, EnvVar) and value.env_var_name == STORE_FIELD_VARIABLES[field]


def _owned_tables() -> set[str]:
    created: set[str] = set()
    for migration in sorted(SCHEMA.glob("*.sql")):
        text = migration.read_text()
        created |= set(re.findall(r"CREATE TABLE IF NOT EXISTS \$\{analytics\}\.(\w+)", text))
        created -= set(re.findall(r"DROP TABLE IF EXISTS \$\{analytics\}\.(\w+)", text))
    return created


def test_every_table_the_pipeline_writes_is_declared_by_an_asset():
    declared: dict[str, str] = {}
    for node in defs.resolve_asset_graph().asset_nodes:
        for table in str(node.metadata.get("tables", "")).split(", "):
            name = table.removeprefix("analytics.")
            if name:
                assert name not in declared, f"{name}: {declared.get(name)} and {node.key}"
                declared[name] = node.key.to_user_string()
    assert _owned_tables() - BOOKKEEPING_TABLES == set(declared)
    assert {"forecast_weekly", "forecast_backtest", "alert_deliveries", "cost_models",
            "input_complexity"} <= set(declared)


def test_the_cli_says_which_setting_is_bad_without_a_traceback(monkeypatch, capsys):
    from rvbbit_assets.cli.commands import main

    monkeypatch.setenv("RVBBIT_STORE_LOCK_TIMEOUT", "-5")
    assert main(["session", "s1"]) == 2
    assert capsys.readouterr().err == (
        "rvbbit-analytics: RVBBIT_STORE_LOCK_TIMEOUT must be a number from 0 to 86400,"
        " got '-5'\n")
