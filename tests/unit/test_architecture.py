"""core/ never imports Streamlit: logic is testable without a browser and runs in worker processes."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CORE = REPO_ROOT / "core"
RUFF = Path(sys.executable).parent / "ruff"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_has_python_files():
    assert len(_core_files()) >= 10


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: p.name)
def test_core_module_does_not_import_streamlit(path):
    banned = {m for m in _imported_modules(path) if m == "streamlit" or m.startswith("streamlit.")}
    assert not banned, f"{path.relative_to(REPO_ROOT)} imports {sorted(banned)}"


def test_import_scanner_finds_every_import_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import streamlit as st\nfrom streamlit.runtime import x\ndef f():\n    import streamlit.components.v1\n"
    )
    assert _imported_modules(sample) == {"streamlit", "streamlit.runtime", "streamlit.components.v1"}


def test_importing_core_does_not_load_streamlit_or_keras():
    script = (
        "import sys\n"
        "import core.cli, core.config, core.datasets, core.evaluation, core.export, core.jobs, core.modeling\n"
        "import core.preprocessing, core.profiling, core.run_store, core.spec, core.tables, core.training\n"
        "assert 'streamlit' not in sys.modules, 'streamlit'\n"
        "assert 'keras' not in sys.modules, 'keras'\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_pyproject_bans_streamlit_for_ruff():
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lint = config["tool"]["ruff"]["lint"]
    assert "TID" in lint["select"]
    assert "streamlit" in lint["flake8-tidy-imports"]["banned-api"]
    for pattern, ignored in lint.get("per-file-ignores", {}).items():
        assert not (pattern.startswith("core") and "TID251" in ignored), pattern


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is not installed in this environment")
def test_ruff_banned_api_check_passes_on_core():
    completed = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--select", "TID251", "core"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is not installed in this environment")
def test_ruff_would_catch_a_streamlit_import_in_core(tmp_path):
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "bad.py").write_text("import streamlit as st\n\nst.write('hello')\n")
    completed = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--select", "TID251", "core"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert completed.returncode == 1
    assert "TID251" in completed.stdout
    assert "core/bad.py" in completed.stdout
