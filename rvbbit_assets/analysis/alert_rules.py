"""The alert rules: the design's _check_for_alerts and ours, as SQL over cascade_analytics rows
(alert_rules.sql beside this module).

The alerts asset stores what they raise for every analysed run; the API raises them live for
one session. Both bind `alert_rule_params(settings)`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rvbbit_assets.config import Settings

# Selects `analysed` (cascade_analytics rows) and raises one row per alert.
ALERT_RULES_SQL = (Path(__file__).parent / "alert_rules.sql").read_text()
# The one list of alert types: the ones the rules raise, in the rules' order.
ALERT_TYPES: tuple[str, ...] = tuple(
    re.findall(r"^\s*'(\w+)' AS alert_type,$", ALERT_RULES_SQL, re.M)
)
SEVERITIES = ("critical", "major", "minor", "warning")


def alert_rule_params(settings: Settings) -> dict[str, Any]:
    """The bound parameters of alert_rules.sql."""
    return {"min_impact_usd": settings.alert_min_impact_usd}


def alert_rules_sql(analysed_sql: str) -> str:
    """The alerts raised by the cascade_analytics rows of `analysed_sql`; bind
    `alert_rule_params(settings)`."""
    return f"WITH analysed AS ({analysed_sql})\n{ALERT_RULES_SQL}"
