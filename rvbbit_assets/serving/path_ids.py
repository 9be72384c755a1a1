"""The `any_id` path convertor: session and cascade ids in URL paths, whatever they hold."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class _AnyIdConvertor(Convertor[str]):
    """Any text, "/" and control characters included, so that `checked_id` (400), not the
    router (404), answers an id that cannot be one."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any_id", _AnyIdConvertor())
