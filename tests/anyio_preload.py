"""anyio's modules, imported up front in the tests' main thread.

anyio imports its API on first use, and pytest rewrites the modules of plugin packages
(anyio is one) as they are imported, parsing their source. The first `anyio.open_file` of a
page test's web server thread parsed that module there, and CPython 3.11's AST constructor
can fail in a thread ("AST constructor recursion depth mismatch", gh-106905): a static file
then answered 500. Imported here, no module is left for a server thread to parse.
"""

from __future__ import annotations

import importlib
import pkgutil

import anyio


def anyio_modules() -> list[str]:
    """Every module of anyio but its trio backend, which needs trio (not installed)."""
    return [module.name for module in pkgutil.walk_packages(anyio.__path__, "anyio.")
            if module.name != "anyio._backends._trio"]


def import_anyio_modules() -> None:
    for name in anyio_modules():
        importlib.import_module(name)
