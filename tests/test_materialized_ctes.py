"""A `WITH name AS MATERIALIZED (...)` CTE is computed once only where the query enables
`enable_materialized_cte`: without it ClickHouse ignores the keyword and runs the CTE again
at every reference (the robust baselines read their look-back about 14 times a query)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.store_open_for_the_test

PACKAGE = Path(__file__).resolve().parents[1] / "rvbbit_assets"
MATERIALIZED_CTE = re.compile(r"\bAS\s+MATERIALIZED\s*\(", re.IGNORECASE)
ENABLED = re.compile(r"\benable_materialized_cte\s*=\s*1\b")
WITH_MATERIALIZED_CTES = sorted(
    path for path in PACKAGE.rglob("*.sql") if MATERIALIZED_CTE.search(path.read_text())
)


def test_the_robust_baselines_declare_materialized_ctes() -> None:
    assert "robust_baselines.sql" in {path.name for path in WITH_MATERIALIZED_CTES}


@pytest.mark.parametrize("path", WITH_MATERIALIZED_CTES, ids=lambda path: path.name)
def test_a_query_with_materialized_ctes_enables_them(path: Path) -> None:
    assert ENABLED.search(path.read_text()), f"{path.name}: SETTINGS enable_materialized_cte = 1"


def test_the_setting_computes_a_materialized_cte_once(store) -> None:
    """The engine's side: random values are the same at both references only when the CTE
    ran once."""
    query = (
        "WITH draws AS MATERIALIZED (SELECT rand64() AS r FROM numbers(100))"
        " SELECT count() FROM draws WHERE r IN (SELECT r FROM draws)"
    )
    with store.session("test") as session:
        assert session.scalar(query + " SETTINGS enable_materialized_cte = 1") == 100
        assert session.scalar(query) < 100
