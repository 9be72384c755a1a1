"""The analytics HTTP API (`rvbbit-analytics serve`), the JSON documents it serves and the
page for people (`page/`)."""

from rvbbit_assets.serving.app import DEFAULT_HOST, DEFAULT_PORT, create_app, serve
from rvbbit_assets.serving.views import session_analytics, to_json

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "create_app", "serve", "session_analytics", "to_json"]
