"""The package as it is installed: every import declared, every folder shipped, and a wheel
that works outside the repository (`pip install .`, as a Dagster code location is deployed)."""

import ast
import importlib.metadata
import json
import os
import re
import site
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from rvbbit_assets.store.migrations import MIGRATIONS_PACKAGE, migrations

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGE = REPO / "rvbbit_assets"
SCHEMA = REPO / "schema"


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*extras):
    project = PYPROJECT["project"]
    requirements = project["dependencies"] + [
        r for extra in extras for r in project["optional-dependencies"][extra]]
    return {_canonical(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


def _imported_distributions(folder):
    """Distribution -> the files under `folder` importing it (the standard library, the
    project and the folder's own modules aside)."""
    local = {"rvbbit_assets"} | {p.stem for p in folder.glob("*.py")}
    providers = importlib.metadata.packages_distributions()
    found = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top in sys.stdlib_module_names or top in local:
                    continue
                for distribution in providers.get(top, [f"<no distribution has {top}>"]):
                    found.setdefault(_canonical(distribution), set()).add(
                        str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize(("folder", "extras"), [
    ("rvbbit_assets", ()), ("tests", ("dev",)), ("bench", ("dev",))])
def test_every_imported_package_is_declared(folder, extras):
    imported = _imported_distributions(REPO / folder)
    undeclared = {name: sorted(files) for name, files in imported.items()
                  if name not in _declared(*extras)}
    assert undeclared == {}, "imported but not in pyproject.toml's dependencies"


def _package_folders(root, package):
    """Dotted names of `root` and its folders holding files (not caches)."""
    return {
        ".".join([package, *folder.relative_to(root).parts])
        for folder in [root, *root.rglob("*")]
        if folder.is_dir() and "__pycache__" not in folder.parts
        and any(f.is_file() and f.suffix != ".pyc" for f in folder.iterdir())
    }


def test_pyproject_lists_every_package_folder():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {MIGRATIONS_PACKAGE: "schema"}
    assert set(setuptools["packages"]) == (
        _package_folders(PACKAGE, "rvbbit_assets") | _package_folders(SCHEMA, MIGRATIONS_PACKAGE))


def _source_files():
    """The files a clean clone has (tracked, or new and not ignored), as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\0")
    return [Path(name) for name in listed if name and (REPO / name).is_file()]


def _installed_as(path):
    """Where a source file lands in the wheel (None: not part of the package)."""
    if path.parts[0] == "rvbbit_assets":
        return path.as_posix()
    if path.parts[0] == "schema":
        return "/".join(["rvbbit_assets", "migrations", *path.parts[1:]])
    return None


def _run(command, cwd, env, timeout=600):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


@pytest.mark.slow
def test_a_wheel_installed_outside_the_repo_runs_the_pipeline(tmp_path):
    # Build from a copy of what a clean clone holds, so nothing is written into the repo.
    source = tmp_path / "source"
    files = _source_files()
    for path in files:
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes((REPO / path).read_bytes())
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
          str(source)], tmp_path, os.environ)
    (wheel,) = dist.glob("rvbbit_analytics-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {_installed_as(p) for p in files} - {None}
    assert {name for name in expected if not name.endswith(".pyc")} - shipped == set()

    # A fresh environment with the wheel alone; its dependencies come from this test's
    # environment (a path entry after its own site-packages) instead of a fresh download,
    # and `pip check` confirms they satisfy what the wheel declares.
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "--quiet", str(wheel)], tmp_path, os.environ)
    (own_site,) = (environment / "lib").glob("python3*/site-packages")
    (own_site / "test_dependencies.pth").write_text(site.getsitepackages()[0] + "\n")

    work = tmp_path / "elsewhere"  # the working directory: the store goes to ./.rvbbit
    work.mkdir()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RVBBIT_", "DAGSTER_")) and name != "PYTHONPATH"}
    _run([sys.executable, "-m", "pip", "--python", str(python), "check"], work, env)
    where = json.loads(_run([str(python), "-c", (
        "import json, rvbbit_assets, rvbbit_assets.migrations as m;"
        "print(json.dumps([rvbbit_assets.__file__, list(m.__path__)]))")], work, env))
    assert all(Path(p).is_relative_to(own_site) for p in [where[0], *where[1]]), where

    cli = str(environment / "bin" / "rvbbit-analytics")
    applied = [m.name for s in ("source", "analytics") for m in migrations(s)]
    assert _run([cli, "init", "--with-source"], work, env).endswith(
        ": applied " + ", ".join(applied) + "\n")
    assert _run([cli, "init", "--with-source"], work, env).endswith(": schema up to date\n")
    _run([cli, "demo", "--days", "3", "--sessions-per-day", "20"], work, env)
    _run([cli, "materialize"], work, env)
    analysed = _run([str(python), "-c", (
        "from rvbbit_assets.store import ClickHouseStore\n"
        "with ClickHouseStore().session('test read') as s:\n"
        "    print(s.scalar('SELECT count() FROM ${analytics}.cascade_analytics'),"
        " s.scalar('SELECT min(session_id) FROM ${analytics}.cascade_analytics'))")],
        work, env).split()
    assert int(analysed[0]) > 0
    document = json.loads(_run([cli, "session", analysed[1]], work, env))
    assert document["session_id"] == analysed[1]
    assert (work / ".rvbbit" / "chdb").is_dir()
