"""Hypothesis settings shared by the property tests (import this module before @given).

CI (CI=true, as .ci/run runs) uses the fixed, derandomized `ci` profile: every run tries
the same examples, so a failure reproduces. Elsewhere `dev` draws new examples each run;
HYPOTHESIS_PROFILE picks either explicitly. Example counts are set per test and kept
small: the store-backed ones cost a query round trip per example.
"""

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # chDB's first open and the odd huge input are slow, not wrong
    "database": None,  # nothing written to .hypothesis/ in the work tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("dev", **_COMMON)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
