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
        "import core.cli, core.config, core.data.splitting, core.evaluation.metrics, core.deployment.serving_model, core.training.jobs, core.model.building\n"
        "import core.data.preprocessing, core.data.profiling, core.run_store, core.spec, core.data.reading, core.training.run_job\n"
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


# --- core/ laid out as the lifecycle (docs/ARCHITECTURE.md, "Layout") ---------------------------------------------

# Packages from the bottom floor up: a module may import its own package and any package below it, never above.
FLOORS = [
    "core",
    "runtime",
    "data",
    "model",
    "shared_mode",
    "deployment",
    "evaluation",
    "kinds",
    "training",
    "experiments",
]
# Entry points (a command line, a helper process) stand above every floor.
ENTRY_POINTS = {"core.cli", "core.runtime.helper_server"}
# Function-level imports are allowed only for these: heavy libraries that must stay out of the web server, or
# optional and platform-specific ones. Each carries a comment saying why.
LATE_IMPORTS = {"keras", "tensorflow", "tf2onnx", "onnx", "onnxruntime", "jax", "torch", "openpyxl", "defusedxml",
                "threadpoolctl", "resource", "optuna", "mlflow", "ray"}  # fmt: skip


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


def _core_imports(path: Path, modules: set[str]) -> list[tuple[ast.AST, str]]:
    """(node, imported core module) for every import of a core module in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != "core":
                found.append((node, target))
                break
    return found


def _floor(module: str) -> int:
    parts = module.split(".")
    package = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else "core"
    return FLOORS.index(package)


def test_every_core_package_has_a_floor():
    packages = {path.parent.name for path in CORE.rglob("__init__.py") if path.parent != CORE}
    assert packages == set(FLOORS) - {"core"}


def test_core_imports_only_downward_and_without_cycles():
    modules = {_module_name(path): path for path in _core_files()}
    graph = {name: {target for _, target in _core_imports(path, set(modules))} for name, path in modules.items()}
    upward = [
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name not in ENTRY_POINTS
        for target in targets
        if _floor(target) > _floor(name)
    ]
    assert not upward, "imports that go up a floor: " + ", ".join(sorted(upward))
    # A cycle among modules (function-level imports included) is found by a depth-first search.
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(target) :], target]))
            if target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "core"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from core.b import g\n")
    (package / "b.py").write_text("from core.a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "CORE", package)
    with pytest.raises(AssertionError, match="import cycle"):
        test_core_imports_only_downward_and_without_cycles()


def test_function_level_imports_are_only_heavy_or_optional_libraries_with_a_reason():
    wrong = []
    for path in _core_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.col_offset == 0:
                continue
            module = node.names[0].name if isinstance(node, ast.Import) else node.module or ""
            where = f"{path.relative_to(REPO_ROOT)}:{node.lineno} ({module})"
            if module.split(".")[0] not in LATE_IMPORTS:
                wrong.append(where + ": import it at the top of the module")
            elif not any("#" in line for line in lines[node.lineno - 2 : node.end_lineno]):
                wrong.append(where + ": say why it is imported late")
    assert not wrong, "\n".join(wrong)


# --- ui/ and pages/: widget bounds from the spec, one state object (ui/spec_fields.py, ui/state.py) --------------

UI_FILES_ROOTS = ("ui", "pages")
# Widgets whose bounds say what a setting may be: they take them from the spec's Fields (ui.spec_fields), never
# from numbers typed into the call. Positional bounds count too (number_input/slider: label, min, max, ...).
BOUNDED_WIDGETS = {"number_input": (1, 2), "slider": (1, 2), "select_slider": (), "NumberColumn": ()}
# The one module that keeps the session's state (and the pinned private-API shim, left alone).
STATE_MODULES = {"ui/state.py", "ui/streamlit_private.py"}


def _ui_files() -> list[Path]:
    return sorted(path for root in UI_FILES_ROOTS for path in (REPO_ROOT / root).rglob("*.py"))


def _is_number_literal(node: ast.AST) -> bool:
    """A number typed into the code: 5, -1.0, 2**31 - 1 (constants only)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _is_number_literal(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_number_literal(node.left) and _is_number_literal(node.right)
    return False


def _literal_widget_bounds(source: str, where: str) -> list[str]:
    wrong = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in BOUNDED_WIDGETS:
            continue
        bounds = [kw.value for kw in node.keywords if kw.arg in {"min_value", "max_value"}]
        bounds += [node.args[i] for i in BOUNDED_WIDGETS[name] if i < len(node.args)]
        if any(_is_number_literal(bound) for bound in bounds):
            wrong.append(f"{where}:{node.lineno} {name}: take its bounds from the spec (ui.spec_fields.number_kwargs)")
    return wrong


def _is_session_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


def _session_state_misuse(source: str, where: str, *, state_module: bool) -> list[str]:
    """Outside ui/state.py, st.session_state is only written by widget key (a name also passed as key= to a
    widget in the same module); nowhere is it scanned (iterated, listed, filtered by prefix)."""
    tree = ast.parse(source)
    widget_keys = {
        kw.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "key" and isinstance(kw.value, ast.Name)
    }
    allowed: set[int] = set()
    wrong = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)) and _is_session_state(node.iter):
            wrong.append(f"{where}:{node.iter.lineno}: do not scan st.session_state; list the keys in AppState")
        if isinstance(node, ast.Call) and any(_is_session_state(arg) for arg in node.args):
            wrong.append(f"{where}:{node.lineno}: do not scan st.session_state; list the keys in AppState")
        if (
            isinstance(node, ast.Subscript)
            and _is_session_state(node.value)
            and isinstance(node.slice, ast.Name)
            and node.slice.id in widget_keys
        ):
            allowed.add(id(node.value))
    if not state_module:
        wrong += [
            f"{where}:{node.lineno}: keep session data in the AppState (ui/state.py), not under its own key"
            for node in ast.walk(tree)
            if _is_session_state(node) and id(node) not in allowed
        ]
    return wrong


def test_widget_bounds_come_from_the_spec_not_from_typed_numbers():
    wrong = []
    for path in _ui_files():
        where = str(path.relative_to(REPO_ROOT))
        wrong += _literal_widget_bounds(path.read_text(encoding="utf-8"), where)
    assert not wrong, "\n".join(wrong)


def test_the_bounds_check_finds_typed_numbers():
    bad = (
        "units = st.number_input('units', 1, 8192, 64)\n"
        "rate = col.slider('rate', min_value=0.0, max_value=0.95)\n"
        "c = st.column_config.NumberColumn('n', min_value=-1, max_value=2**10)\n"
    )
    assert len(_literal_widget_bounds(bad, "bad.py")) == 3
    good = "x = st.number_input('x', **number_kwargs(DenseLayer, 'units'), key='k')\n"
    assert _literal_widget_bounds(good, "good.py") == []


def test_only_ui_state_keeps_session_data_and_nothing_scans_session_state():
    wrong = []
    for path in _ui_files():
        where = str(path.relative_to(REPO_ROOT)).replace("\\", "/")
        if where == "ui/streamlit_private.py":
            continue
        wrong += _session_state_misuse(path.read_text(encoding="utf-8"), where, state_module=where in STATE_MODULES)
    for name in ("app.py", "server.py"):
        wrong += _session_state_misuse((REPO_ROOT / name).read_text(encoding="utf-8"), name, state_module=False)
    assert not wrong, "\n".join(wrong)


def test_the_session_state_check_finds_ad_hoc_keys_and_prefix_scans():
    bad = (
        "cache = st.session_state.setdefault('profile.cache', {})\n"
        "if st.session_state.get('x') != 1:\n    st.session_state['x'] = 1\n"
        "for key in [k for k in st.session_state if str(k).startswith('train.')]:\n    pass\n"
    )
    assert len(_session_state_misuse(bad, "bad.py", state_module=False)) >= 4
    scan = "for key in list(st.session_state):\n    del st.session_state[key]\n"
    assert _session_state_misuse(scan, "ui/state.py", state_module=True)
    widget = "k = f'a.{i}'\nst.session_state[k] = 1\nst.selectbox('a', [1], key=k)\n"
    assert _session_state_misuse(widget, "ok.py", state_module=False) == []


# ---------------------------------------------------------------------------------------------------------------
# The run store is the only code that opens run files: no other module spells a run file's name.

RUN_FILE_NAMES = {
    "status.json", "progress.json", "history.json", "metrics.json", "target.json", "preprocessing.json",
    "decision.json", "importance.json", "resume.json", "checkpoint.json", "meta.json", "spec.json",
    "predictions.parquet", "data.parquet", "test_rows.parquet", "model.keras", "network.keras",
    "checkpoint.keras", "heartbeat", "stop", "exports", "log.txt", "cross_validation.json", "comparison.json",
    "status.lock",
}  # fmt: skip
# (module, name) → how many times it may appear, and why it is not a run file.
RUN_FILE_NAME_EXCEPTIONS = {
    # Names of entries inside an export zip (written, listed, and read back from an unzipped download).
    ("core/deployment/formats.py", "model.keras"): 4,
    ("core/deployment/formats.py", "preprocessing.json"): 4,
    ("core/deployment/snippets.py", "model.keras"): 1,  # the default name of the downloaded model in a snippet
    ("pages/train.py", "spec.json"): 1,  # the name the browser saves a downloaded spec under
}


def _app_sources() -> list[Path]:
    files = [*CORE.rglob("*.py"), *(REPO_ROOT / "ui").rglob("*.py"), *(REPO_ROOT / "pages").rglob("*.py")]
    files += [REPO_ROOT / "server.py", REPO_ROOT / "app.py"]
    return sorted(path for path in files if path.exists() and path != CORE / "run_store.py")


def _run_file_literals(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in RUN_FILE_NAMES:
            found[node.value] = found.get(node.value, 0) + 1
    return found


def test_only_the_run_store_names_run_files():
    offenders = []
    for path in _app_sources():
        relative = path.relative_to(REPO_ROOT).as_posix()
        for name, count in _run_file_literals(path).items():
            if count > RUN_FILE_NAME_EXCEPTIONS.get((relative, name), 0):
                offenders.append(f"{relative}: {name!r} x{count}")
    assert not offenders, "run file names outside core/run_store.py (use RunFiles): " + ", ".join(offenders)


def test_the_run_file_name_check_finds_a_join(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('def f(run_dir):\n    return (run_dir / "metrics.json").read_text()\n')
    assert _run_file_literals(sample) == {"metrics.json": 1}


def test_widget_labels_are_made_in_the_script_run_not_later():
    """A `format_func` that translates when called (a lambda calling t()) may run later in another thread, in
    another language (AppTest does): labels are built during the run instead ({value: label}.get)."""
    found = []
    for path in sorted(path for root in ("ui", "pages") for path in (REPO_ROOT / root).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "format_func" and isinstance(node.value, ast.Lambda):
                calls = {
                    getattr(n.func, "id", getattr(n.func, "attr", ""))
                    for n in ast.walk(node.value)
                    if isinstance(n, ast.Call)
                }
                if "t" in calls:
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not found, found
