"""The Dockerfile cannot be built in CI (no Docker there), so these read it and check what must stay true.

The server flags are read from the Makefile's `run-shared` target, so the image and `make run-shared` cannot
drift apart.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continued instruction"
    result = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def _all(instructions, keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions if name == keyword]


def _last(instructions, keyword: str) -> str:
    found = _all(instructions, keyword)
    assert found, f"the Dockerfile has no {keyword}"
    return found[-1]


def _env(instructions) -> dict[str, str]:
    values = {}
    for arguments in _all(instructions, "ENV"):
        for item in shlex.split(arguments):
            name, _, value = item.partition("=")
            values[name] = value
    return values


def _makefile_defaults(text: str) -> dict[str, str]:
    pattern = re.compile(r"^(?:export\s+)?([A-Z_]+)\s*\??=\s*(\S+)\s*$", re.M)
    return {name: value for name, value in pattern.findall(text)}


def _run_shared_command(text: str) -> list[str]:
    """The command of the Makefile's `run-shared` recipe, as words."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("run-shared:"))
    recipe = ""
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe += line.strip().removesuffix("\\") + " "
    return shlex.split(recipe)


def _flags(words: list[str]) -> dict[str, str]:
    flags = {}
    for index, word in enumerate(words):
        if word.startswith("--"):
            assert index + 1 < len(words) and not words[index + 1].startswith("--"), f"{word} has no value"
            flags[word] = words[index + 1]
    return flags


def _resolve(value: str, variables: dict[str, str]) -> str:
    """Replace $(NAME), ${NAME} and $NAME with their values."""
    return re.sub(r"\$(?:\((\w+)\)|\{(\w+)\}|(\w+))", lambda m: variables[next(g for g in m.groups() if g)], value)


def test_base_image_and_install_follow_the_makefile(dockerfile):
    assert _all(dockerfile, "FROM") == ["python:3.11-slim"]
    runs = " ".join(_all(dockerfile, "RUN"))
    assert "pip install -r requirements.lock" in runs
    assert "pip install --no-deps -e ." in runs
    copied = " ".join(_all(dockerfile, "COPY"))
    assert "requirements.lock" in copied


def test_the_server_runs_as_a_user_without_privileges(dockerfile):
    user = _last(dockerfile, "USER").split(":")[0]  # the last USER is the one CMD runs as
    assert user not in {"root", "0"}


def test_data_lives_in_the_volume_and_shared_mode_is_the_default(dockerfile):
    volumes = [volume for arguments in _all(dockerfile, "VOLUME") for volume in _volume_paths(arguments)]
    assert "/data" in volumes
    env = _env(dockerfile)
    assert env["LAYERLAB_HOME"] == "/data"
    assert env["LAYERLAB_SHARED"] == "1"
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "2"
    runs = " ".join(_all(dockerfile, "RUN"))
    assert "chown" in runs and "/data" in runs, "the volume's folder must belong to the server's user"


def _volume_paths(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.startswith("[") else arguments.split()


def test_port_and_health_check(dockerfile):
    assert "8501" in _last(dockerfile, "EXPOSE").split()
    healthcheck = _last(dockerfile, "HEALTHCHECK")
    assert " CMD " in f" {healthcheck} "
    command = healthcheck.split("CMD", 1)[1].strip()
    words = json.loads(command) if command.startswith("[") else shlex.split(command)
    script = " ".join(words)
    assert words[0] == "python", "slim images have no curl: the check uses Python's urllib"
    assert "urllib.request" in script and "http://127.0.0.1:8501/_stcore/health" in script


def test_an_init_process_runs_the_server(dockerfile):
    # core/training/jobs.py's workers exit at once when their parent is process 1, so the server must not be process 1.
    entrypoint = json.loads(_last(dockerfile, "ENTRYPOINT"))
    assert Path(entrypoint[0]).name == "tini"
    assert "install -y --no-install-recommends tini" in " ".join(_all(dockerfile, "RUN"))


def test_the_command_runs_server_py_with_the_flags_of_make_run_shared(dockerfile):
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    make_words = _run_shared_command(makefile)
    assert "LAYERLAB_SHARED=1" in make_words, "run-shared no longer sets LAYERLAB_SHARED=1: update this test"
    streamlit = next(i for i, word in enumerate(make_words) if word.endswith("/streamlit"))
    assert make_words[streamlit + 1 : streamlit + 3] == ["run", "server.py"]
    make_flags = {
        name: _resolve(value, _makefile_defaults(makefile)) for name, value in _flags(make_words[streamlit:]).items()
    }

    command = json.loads(_last(dockerfile, "CMD"))
    if command[:2] == ["sh", "-c"]:
        words = shlex.split(command[2])
        assert words[0] == "exec", "the shell must hand over to the server (signals, no extra process)"
        words = words[1:]
    else:
        words = command
    assert words[:3] == ["streamlit", "run", "server.py"]
    raw_flags = _flags(words)
    env = _env(dockerfile)
    docker_flags = {name: _resolve(value, env) for name, value in raw_flags.items()}

    for name, value in make_flags.items():
        assert docker_flags.get(name) == value, (
            f"{name}: make run-shared has {value!r}, the image {docker_flags.get(name)!r}"
        )
    assert set(docker_flags) - set(make_flags) == {"--server.address"}
    assert docker_flags["--server.address"] == "0.0.0.0"
    # The upload limit follows LAYERLAB_MAX_UPLOAD_MB at run time, as LayerLab's own limit does.
    assert raw_flags["--server.maxUploadSize"] == "$LAYERLAB_MAX_UPLOAD_MB"
    assert "--client.showErrorDetails" in docker_flags and "--client.toolbarMode" in docker_flags


def test_dockerignore_keeps_local_state_and_secrets_out():
    entries = {
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line.strip()
    }
    assert {".git", ".venv", ".layerlab", ".streamlit/secrets.toml"} <= entries
    # pyproject.toml names README.md as the package's readme: `pip install -e .` needs it in the build context.
    assert "README.md" not in entries and "*.md" not in entries


@pytest.mark.parametrize("document", ["README.md", "docs/DEPLOY.md"])
def test_every_setting_is_documented(document):
    config = (ROOT / "core" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(LAYERLAB_[A-Z_]+)"', config)) | {"LAYERLAB_SECRET"}
    text = (ROOT / document).read_text(encoding="utf-8")
    missing = sorted(name for name in names if f"| `{name}` |" not in text)
    assert not missing, f"{document}'s settings table lacks {missing}"
