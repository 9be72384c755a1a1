"""SQL that lives in named `.sql` files beside the module that runs it, some of them Jinja
templates whose repeated fragments are macros."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2


@cache
def load_sql(module_file: str, name: str) -> str:
    """The text of a named `.sql` file that lives beside the module that runs it."""
    return (Path(module_file).parent / f"{name}.sql").read_text()


# Macros any folder's templates import (`{% from "exact_sum.sql" import exact_sum %}`).
SHARED_MACROS = Path(__file__).parent / "sql_macros"


@cache
def _sql_template_folder(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([folder, SHARED_MACROS]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def render_sql_template(module_file: str, name: str) -> str:
    """A named `.sql` Jinja template beside the module, rendered: its repeated fragments are
    macros, expanded here; values stay bound `{name:Type}` parameters."""
    folder = _sql_template_folder(str(Path(module_file).parent))
    return folder.get_template(f"{name}.sql").render()
