"""JSON answers: documents and the API's error shape `{"error": code, "message": text}`."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from rvbbit_assets.serving.views import to_json


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    return Response(to_json(document), status_code=status, media_type="application/json",
                    headers=headers)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None
                   ) -> Response:
    return json_response({"error": code, "message": message}, status, headers)
