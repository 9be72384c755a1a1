"""A copy of the migrations that a test may edit, in place of the installed ones."""

from pathlib import Path

import pytest

import rvbbit_assets.store.migrations as schema


def use_copied_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies every migration set under `tmp_path` and makes `schema` read them from there;
    returns that folder (its `analytics/` and `source/` hold the copies)."""
    for migration_set in schema.MIGRATION_SETS:
        (tmp_path / migration_set).mkdir()
        for migration in schema.migrations(migration_set):
            (tmp_path / migration_set / migration.path.name).write_bytes(
                migration.path.read_bytes())
    monkeypatch.setattr(schema, "schema_dir", lambda: tmp_path)
    return tmp_path
