"""Shared demo under load: N visitors at once against one `server.py` (issue 12's measurement).

Starts one server on loopback (a free port, a fresh temporary LAYERLAB_HOME, LAYERLAB_SHARED=1,
LAYERLAB_MAX_JOBS=--jobs), then drives --visitors browser contexts of one headless Chromium at the same
time (asyncio, one Playwright). Each visitor, as a person would:

  1. opens the app, picks "Upload a file" on the Data page and uploads its own generated CSV;
  2. goes to Train, sets --epochs and presses Train;
  3. watches the live view until the run is finished (its page is read every 0.2 s: chart points, state);
  4. opens Evaluate and waits for the test metrics;
  5. opens Download and fetches the model through the "Model (…)" link with the context's own request
     (its identity cookie), checking that the bytes are a zip.

Beside the browsers, threads of this script read the disk and /proc:
  - a watcher polls every run folder every 0.1 s: history.json (mtime and rows) and status.json (state);
  - a sampler reads the server's VmRSS/VmHWM and the RSS of its `core.training.jobs` workers every 0.2 s.

Prints, and writes as JSON to bench/results/shared_load.json (git-ignored):
  runs finished and lost (a click with neither a run nor a message, or a run that did not finish),
  each visitor's wait in the queue (meta created_at -> status started_at) and slowest/median,
  the server's peak memory (VmHWM) and the largest rise during one visitor action,
  each worker's peak RSS against LAYERLAB_WORKER_MEMORY_MB,
  Train click -> first chart point,
  file written -> page shows it (each history.json epoch and each status state; goal <= 2 s),
  slot idle time (a run that waited: its start - the latest finish before it),
  the load average at the start and the end.

    .venv/bin/python bench/shared_load.py [--visitors 8] [--epochs 5] [--jobs 2] [--rows 20000]
    .venv/bin/python bench/shared_load.py --ray-nodes 2      # the same, the runs as tasks on a local Ray cluster

The server and its workers run in their own process group, which is ended (SIGTERM, then SIGKILL) when
the script ends, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "shared_load.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_POLL_S = 0.2
WATCH_POLL_S = 0.1
SAMPLE_POLL_S = 0.2
STATE_RANK = {"created": 0, "queued": 1, "running": 2, "finished": 3, "stopped": 3, "failed": 3}
DONE = {"finished", "stopped", "failed"}
TARGET = "churned"
FEATURES = 5

# What the Train page shows: points on the training chart (the newest chart, as in tests/e2e), the run's
# state badge ("running — Preparing data…"), the progress text's epoch and any error message.
OBSERVE_JS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')]
    .filter(p => p.data && p.data.length && p.data[0].name === 'training');
  const points = plots.length ? Math.max(...plots.map(p => p.data[0].x.length)) : 0;
  const rank = {created: 0, queued: 1, running: 2, finished: 3, stopped: 3, failed: 3};
  let state = null;
  for (const el of document.querySelectorAll('[data-testid="stMarkdownContainer"]')) {
    const m = el.innerText.match(/\\b(created|queued|running|finished|stopped|failed)\\s+—/);
    if (m && (state === null || rank[m[1]] > rank[state])) state = m[1];
  }
  const progress = document.body.innerText.match(/Epoch (\\d+)\\/(\\d+) · batch/);
  const errors = [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText);
  return {points, state, epoch: progress ? Number(progress[1]) : null, errors};
}"""


def load_average() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"1min": round(one, 2), "5min": round(five, 2), "15min": round(fifteen, 2), "cores": os.cpu_count()}


def make_csv(path: Path, rows: int, seed: int) -> int:
    """A churn-like table (numbers, text with gaps, a binary target last); returns the feature count."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(float),
            "balance": rng.normal(1000, 400, rows).round(2),
            "tenure": rng.integers(0, 120, rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "plan": rng.choice(["basic", "plus", None], rows),
        }
    )
    frame.loc[::50, "age"] = np.nan
    score = (frame["age"].fillna(40) - 45) / 15 + (frame["balance"] - 1000) / 400 + (frame["region"] == "north")
    frame[TARGET] = np.where(score + rng.normal(0, 0.7, rows) > 0.5, "yes", "no")
    frame.to_csv(path, index=False)
    return frame.shape[1] - 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------- /proc


def proc_status_kb(pid: int, *names: str) -> dict[str, int]:
    """Fields of /proc/<pid>/status in kB (empty when the process is gone)."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as stream:
            for line in stream:
                key, _, rest = line.partition(":")
                if key in names:
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return values


def proc_cpu_s(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc/<pid>/task/*/children, else a scan of /proc)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as stream:
                found.extend(int(c) for c in stream.read().split())
        return found
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stream:
                if int(stream.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def is_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return b"core.training.jobs" in stream.read()
    except OSError:
        return False


def wait_for_idle_workers(server_pid: int, count: int, timeout: float) -> bool:
    """Wait until the server has `count` worker children and none of them used CPU for 2 s."""
    deadline = time.monotonic() + timeout
    last: dict[int, float | None] = {}
    quiet_since = None
    while time.monotonic() < deadline:
        workers = [pid for pid in children_of(server_pid) if is_worker(pid)]
        now = {pid: proc_cpu_s(pid) for pid in workers}
        if len(workers) >= count and now == last:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 2.0:
                return True
        else:
            quiet_since = None
        last = now
        time.sleep(0.5)
    return False


class Sampler(threading.Thread):
    """Every 0.2 s: the server's VmRSS and VmHWM, and the RSS/VmHWM of each `core.training.jobs` child."""

    def __init__(self, server_pid: int):
        super().__init__(daemon=True, name="sampler")
        self.server_pid = server_pid
        self.stop_event = threading.Event()
        self.series: list[tuple[float, float]] = []  # (time, server VmRSS MiB)
        self.cpu: list[tuple[float, float | None]] = []  # (time, server CPU seconds so far)
        self.server_hwm_mb = 0.0
        self.workers: dict[int, dict] = {}

    def run(self) -> None:
        while not self.stop_event.is_set():
            now = time.time()
            fields = proc_status_kb(self.server_pid, "VmRSS", "VmHWM")
            if fields:
                self.series.append((now, fields.get("VmRSS", 0) / 1024))
                self.cpu.append((now, proc_cpu_s(self.server_pid)))
                self.server_hwm_mb = max(self.server_hwm_mb, fields.get("VmHWM", 0) / 1024)
            for pid in children_of(self.server_pid):
                known = self.workers.get(pid)
                if known is None:
                    if not is_worker(pid):
                        continue
                    known = self.workers[pid] = {"first_seen": now, "peak_rss_mb": 0.0, "hwm_mb": 0.0}
                worker = proc_status_kb(pid, "VmRSS", "VmHWM")
                if worker:
                    known["last_seen"] = now
                    known["peak_rss_mb"] = max(known["peak_rss_mb"], worker.get("VmRSS", 0) / 1024)
                    known["hwm_mb"] = max(known["hwm_mb"], worker.get("VmHWM", 0) / 1024)
            self.stop_event.wait(SAMPLE_POLL_S)

    def cpu_windows(self, start: float, end: float, width: float = 10.0) -> list[float]:
        """The server's CPU use in cores over consecutive `width`-second windows between start and end."""
        points = [(t, c) for t, c in self.cpu if c is not None and start <= t <= end]
        shares, index = [], 0
        for later in range(len(points)):
            if points[later][0] - points[index][0] >= width:
                shares.append((points[later][1] - points[index][1]) / (points[later][0] - points[index][0]))
                index = later
        return shares

    def rss_at(self, when: float) -> float | None:
        before = [rss for t, rss in self.series if t <= when]
        return before[-1] if before else None

    def rss_max(self, start: float, end: float) -> float | None:
        inside = [rss for t, rss in self.series if start <= t <= end]
        return max(inside) if inside else None


class Watcher(threading.Thread):
    """Every 0.1 s: each run folder's history.json (rows, mtime) and status.json (state changes, mtime)."""

    def __init__(self, runs_dir: Path):
        super().__init__(daemon=True, name="watcher")
        self.runs_dir = runs_dir
        self.stop_event = threading.Event()
        self.events: list[dict] = []  # {"run", "kind": "epochs"|"state", "value", "written", "seen"}
        self._mtimes: dict[tuple[str, str], int] = {}
        self._rows: dict[str, int] = {}
        self._states: dict[str, str] = {}
        self._messages: dict[str, str] = {}

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.scan()
            self.stop_event.wait(WATCH_POLL_S)
        self.scan()

    def _changed(self, run: str, path: Path) -> float | None:
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        if self._mtimes.get((run, path.name)) == mtime:
            return None
        self._mtimes[(run, path.name)] = mtime
        return mtime / 1e9

    def scan(self) -> None:
        try:
            runs = [entry for entry in self.runs_dir.iterdir() if entry.is_dir()]
        except OSError:
            return
        for folder in runs:
            run = folder.name
            seen = time.time()
            written = self._changed(run, folder / "history.json")
            if written is not None:
                rows = len(_read_json(folder / "history.json") or [])
                if rows > self._rows.get(run, 0):
                    self._rows[run] = rows
                    self.events.append({"run": run, "kind": "epochs", "value": rows, "written": written, "seen": seen})
            written = self._changed(run, folder / "status.json")
            if written is not None:
                status = _read_json(folder / "status.json") or {}
                state, message = status.get("state"), status.get("message")
                if state and state != self._states.get(run):
                    self._states[run] = state
                    self.events.append({"run": run, "kind": "state", "value": state, "written": written, "seen": seen})
                if message and message != self._messages.get(run):  # for the timeline only
                    self._messages[run] = message
                    self.events.append(
                        {"run": run, "kind": "message", "value": message, "written": written, "seen": seen}
                    )


def _read_json(path: Path):
    for _ in range(3):  # the app writes atomically; a retry covers a file replaced between stat and read
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            time.sleep(0.01)
    return None


# ------------------------------------------------------------------------------------------- server


@contextlib.contextmanager
def running_server(home: Path, jobs: int, worker_memory_mb: int | None, ray_address: str | None = None):
    """server.py on loopback in its own process group; yields (url, process). Ends the group on exit."""
    port = free_port()
    env = {
        **os.environ,
        "LAYERLAB_HOME": str(home),
        "LAYERLAB_SHARED": "1",
        "LAYERLAB_MAX_JOBS": str(jobs),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if ray_address:  # the job backend is Ray: runs are tasks on that cluster (core/training/ray_backend.py)
        env["LAYERLAB_RAY_ADDRESS"] = ray_address
    if worker_memory_mb is not None:
        env["LAYERLAB_WORKER_MEMORY_MB"] = str(worker_memory_mb)
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    workers_seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}; see {home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within 120 s; see {home / 'server.log'}")
            time.sleep(0.3)
        yield url, process, workers_seen
    finally:
        workers_seen.update(pid for pid in children_of(process.pid) if is_worker(pid))
        stop_group(process, workers_seen)
        log.close()


def stop_group(process: subprocess.Popen, workers: set[int]) -> None:
    """SIGTERM to the server's process group (server and workers), SIGKILL after 20 s; then any worker
    that is still alive (by its pid, checked to be a `core.training.jobs` process)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    deadline = time.monotonic() + 10
    for pid in workers:
        while is_worker(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if is_worker(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group


# ------------------------------------------------------------------------------------------ visitors


@dataclass
class Visitor:
    index: int
    csv: Path
    features: int
    steps: list[dict] = field(default_factory=list)  # {"step", "start", "end"}
    observations: list[tuple[float, int, str | None, int | None]] = field(default_factory=list)
    poll_latencies: list[float] = field(default_factory=list)
    click_at: float | None = None
    click_answer: str | None = None  # "run" | "message" | None (lost)
    messages: list[str] = field(default_factory=list)
    first_chart_at: float | None = None
    final_state: str | None = None
    metrics: dict = field(default_factory=dict)
    download: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def source_name(self) -> str:
        return self.csv.name

    def last(self):
        return self.observations[-1] if self.observations else None


async def _poll(page, visitor: Visitor, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.time()
        try:
            seen = await page.evaluate(OBSERVE_JS)
        except Exception:  # noqa: BLE001 - the page is between renders; read again
            seen = None
        now = time.time()
        visitor.poll_latencies.append(now - started)
        if seen is not None:
            visitor.observations.append((now, seen["points"], seen["state"], seen["epoch"]))
            for message in seen["errors"]:
                if message not in visitor.messages:
                    visitor.messages.append(message)
            if seen["points"] and visitor.first_chart_at is None:
                visitor.first_chart_at = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, PAGE_POLL_S - (now - started)))


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: nothing after {timeout:.0f} s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _step(visitor: Visitor, name: str):
    entry = {"step": name, "start": time.time(), "end": None}
    visitor.steps.append(entry)
    yield
    entry["end"] = time.time()
    print(
        f"  {time.strftime('%H:%M:%S')} visitor {visitor.index}: {name} {entry['end'] - entry['start']:.1f} s",
        flush=True,
    )


async def run_visitor(browser, url: str, visitor: Visitor, epochs: int, run_timeout: float) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(120_000)
    stop = asyncio.Event()
    poller = None
    try:
        async with _step(visitor, "open"):
            await page.goto(url)
            await page.get_by_text("Upload a file").wait_for()
        async with _step(visitor, "upload"):
            await page.get_by_text("Upload a file").click()
            await page.locator("input[type=file]").set_input_files(str(visitor.csv))
            await page.get_by_text(f"Predict {TARGET} (binary) from {visitor.features} column(s).").wait_for()
        async with _step(visitor, "open_train"):
            await page.get_by_role("link", name="Train").first.click()
            box = page.get_by_label("Epochs", exact=True)
            await box.wait_for()
            await box.fill(str(epochs))
            await box.press("Enter")
            await asyncio.sleep(1.0)  # let the rerun that takes the value start before the click
        poller = asyncio.create_task(_poll(page, visitor, stop))
        async with _step(visitor, "click_to_answer"):
            visitor.click_at = time.time()
            await page.locator(".st-key-train-start button").click()
            try:
                await _until(
                    lambda: (visitor.last() is not None and visitor.last()[2] is not None) or bool(visitor.messages),
                    120,
                    "Train click",
                )
                visitor.click_answer = "run" if visitor.last() and visitor.last()[2] else "message"
            except TimeoutError:
                visitor.click_answer = None
                raise
        if visitor.click_answer != "run":
            return
        async with _step(visitor, "train_live"):
            await _until(lambda: visitor.last()[2] in DONE, run_timeout, "run to finish on the page")
            await asyncio.sleep(1.5)  # a few more reads: the final chart after the page's full rerun
        stop.set()
        await poller
        poller = None
        visitor.final_state = visitor.last()[2]
        if visitor.final_state not in {"finished", "stopped"}:
            return
        async with _step(visitor, "evaluate"):
            await page.get_by_role("link", name="Evaluate").first.click()
            cards = page.locator('[data-testid="stMetric"]')
            await cards.first.wait_for()
            for text in await cards.all_inner_texts():
                parts = [p.strip() for p in text.splitlines() if p.strip()]
                if len(parts) >= 2:
                    visitor.metrics[parts[0]] = parts[1]
        async with _step(visitor, "download_page"):
            await page.get_by_role("link", name="Download").first.click()
            link = page.locator("a", has_text="Model (")
            await link.first.wait_for()
            href = await link.first.get_attribute("href")
        async with _step(visitor, "fetch_model"):
            response = await context.request.get(urljoin(page.url, href or ""), timeout=120_000)
            body = await response.body()
            try:
                names = zipfile.ZipFile(io.BytesIO(body)).namelist() if zipfile.is_zipfile(io.BytesIO(body)) else []
            except zipfile.BadZipFile:
                names = []
            visitor.download = {
                "status": response.status,
                "bytes": len(body),
                "is_zip": bool(names),
                "members": names[:10],
            }
    except Exception as error:  # noqa: BLE001 - reported per visitor; the others go on
        visitor.error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        with contextlib.suppress(Exception):
            shot = RESULTS.parent / f"shared_load_visitor{visitor.index}.png"
            await page.screenshot(path=str(shot), full_page=True)
            visitor.error += f" (screenshot {shot.relative_to(ROOT)})"
    finally:
        stop.set()
        if poller is not None:
            with contextlib.suppress(Exception):
                await poller
        with contextlib.suppress(Exception):
            await context.close()


async def drive(url: str, visitors: list[Visitor], epochs: int, run_timeout: float, timeout: float) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tasks = [asyncio.create_task(run_visitor(browser, url, v, epochs, run_timeout)) for v in visitors]
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(BaseException):
                    await task
            for visitor, task in zip(visitors, tasks, strict=True):
                if task in pending and visitor.error is None:
                    visitor.error = f"still going after the overall timeout ({timeout:.0f} s)"
        finally:
            await browser.close()


# ------------------------------------------------------------------------------------------- results


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _r(value, digits: int = 2):
    return None if value is None else round(value, digits)


def analyse(args, visitors: list[Visitor], watcher: Watcher, sampler: Sampler, home: Path, extra: dict) -> dict:
    runs_dir = home / "runs"
    runs = {}
    for folder in sorted(runs_dir.iterdir()) if runs_dir.exists() else []:
        if not folder.is_dir():
            continue  # the run store's index (index.jsonl, index.lock) lives beside the run folders
        meta = _read_json(folder / "meta.json") or {}
        status = _read_json(folder / "status.json") or {}
        spec = _read_json(folder / "spec.json") or {}
        runs[folder.name] = {
            "source_name": meta.get("source_name"),
            "created_at": meta.get("created_at"),
            "started_at": status.get("started_at"),
            "finished_at": status.get("finished_at"),
            "state": status.get("state"),
            "message": status.get("message"),
            "pid": status.get("pid"),
            "epochs_asked": (spec.get("training") or {}).get("epochs"),
            "history_rows": len(_read_json(folder / "history.json") or []),
            "training_started_at": status.get("training_started_at"),
        }
    by_source = {}
    for run_id, run in runs.items():
        by_source.setdefault(run["source_name"], []).append(run_id)

    per_visitor = []
    gaps = []
    unseen = []
    for visitor in visitors:
        ids = by_source.get(visitor.source_name, [])
        run_id = ids[0] if len(ids) == 1 else None
        run = runs.get(run_id) if run_id else None
        wait = dispatch = None
        if run and run["started_at"] and run["created_at"]:
            wait = run["started_at"] - run["created_at"]
            picked = [e["written"] for e in watcher.events if e["run"] == run_id and e["value"] == "running"]
            if picked:
                dispatch = picked[0] - run["created_at"]
        row = {
            "visitor": visitor.index,
            "run": run_id,
            "runs_created": len(ids),
            "click_answer": visitor.click_answer,
            "messages": visitor.messages,
            "state_on_disk": run["state"] if run else None,
            "state_on_page": visitor.final_state,
            "epochs_asked": run["epochs_asked"] if run else None,
            "epochs_run": run["history_rows"] if run else None,
            "queue_wait_s": _r(wait),
            "created_to_dispatched_s": _r(dispatch),
            "dispatched_to_started_s": _r(wait - dispatch) if wait is not None and dispatch is not None else None,
            "click_to_created_s": _r(run["created_at"] - visitor.click_at) if run and visitor.click_at else None,
            "click_to_first_chart_s": _r(visitor.first_chart_at - visitor.click_at) if visitor.first_chart_at else None,
            "start_to_first_chart_s": _r(visitor.first_chart_at - run["started_at"])
            if visitor.first_chart_at and run and run["started_at"]
            else None,
            "steps_s": {s["step"]: _r(s["end"] - s["start"]) if s["end"] else None for s in visitor.steps},
            "page_read_s": {
                "median": _r(_median(visitor.poll_latencies), 3),
                "max": _r(max(visitor.poll_latencies, default=0), 3),
            },
            "metrics": visitor.metrics,
            "download": visitor.download,
            "error": visitor.error,
            "page_timeline": _changes(visitor),
        }
        # File written -> page shows it (for the events inside this visitor's watching window).
        if run_id and visitor.observations:
            window_end = visitor.observations[-1][0]
            for event in (e for e in watcher.events if e["run"] == run_id):
                if event["kind"] == "message" or (event["kind"] == "state" and event["value"] == "created"):
                    continue
                if event["written"] > window_end:
                    continue
                if event["kind"] == "epochs":
                    shown = next((t for t, p, _, _ in visitor.observations if p >= event["value"] and t >= event["written"]), None)  # fmt: skip
                else:
                    need = STATE_RANK.get(event["value"], 3)
                    shown = next(
                        (t for t, _, s, _ in visitor.observations if s and STATE_RANK[s] >= need and t >= event["written"]),
                        None,
                    )  # fmt: skip
                label = f"{event['kind']}={event['value']}"
                if shown is None:
                    unseen.append({"visitor": visitor.index, "event": label})
                else:
                    gaps.append({"visitor": visitor.index, "event": label, "gap_s": shown - event["written"]})
        per_visitor.append(row)

    lost_clicks = [v.index for v in visitors if v.click_at is not None and v.click_answer is None]
    not_clicked = [v.index for v in visitors if v.click_at is None]
    unfinished = [run_id for run_id, run in runs.items() if run["state"] not in {"finished", "stopped"}]
    finished = [run_id for run_id, run in runs.items() if run["state"] == "finished"]

    waits = [row["queue_wait_s"] for row in per_visitor if row["queue_wait_s"] is not None]
    median_wait = _median(waits)
    fairness = max(waits) / median_wait if waits and median_wait else None

    # Slot idle: a run that was waiting when an earlier run finished started this long after that finish.
    idle = []
    timed = [r | {"id": i} for i, r in runs.items() if r["started_at"] and r["created_at"]]
    for run in timed:
        finishes = [o["finished_at"] for o in timed if o["finished_at"] and o["finished_at"] <= run["started_at"]]
        if finishes and run["created_at"] < max(finishes):
            idle.append({"run": run["id"], "idle_s": _r(run["started_at"] - max(finishes))})

    # The server's memory: peak, and the largest rise while one visitor action was under way.
    rises = []
    for visitor in visitors:
        for step in visitor.steps:
            if step["end"] is None:
                continue
            before = sampler.rss_at(step["start"])
            peak = sampler.rss_max(step["start"], step["end"] + 0.5)
            if before is not None and peak is not None:
                rises.append({"visitor": visitor.index, "step": step["step"], "rise_mb": _r(peak - before, 1)})
    rises.sort(key=lambda r: r["rise_mb"], reverse=True)

    runs_by_pid = {run["pid"]: run_id for run_id, run in runs.items() if run["pid"]}
    limit = args.worker_memory_mb if args.worker_memory_mb is not None else 4096
    workers = [
        {
            "pid": pid,
            "run": runs_by_pid.get(pid),
            "peak_rss_mb": _r(info["peak_rss_mb"], 1),
            "vmhwm_mb": _r(info["hwm_mb"], 1),
            "lifetime_s": _r(info.get("last_seen", info["first_seen"]) - info["first_seen"], 1),
            "finished_to_exit_s": _r(info["last_seen"] - runs[runs_by_pid[pid]]["finished_at"], 1)
            if pid in runs_by_pid and runs[runs_by_pid[pid]]["finished_at"] and "last_seen" in info
            else None,
        }
        for pid, info in sorted(sampler.workers.items())
    ]
    trained = [w for w in workers if w["run"]]

    first_chart = [r["click_to_first_chart_s"] for r in per_visitor if r["click_to_first_chart_s"] is not None]
    start_chart = [r["start_to_first_chart_s"] for r in per_visitor if r["start_to_first_chart_s"] is not None]
    gap_values = [g["gap_s"] for g in gaps]
    worst_gaps = sorted(gaps, key=lambda g: g["gap_s"], reverse=True)[:5]
    idle_values = [i["idle_s"] for i in idle]
    downloads_ok = sum(1 for v in visitors if v.download.get("is_zip") and v.download.get("status") == 200)
    baseline = extra["server_rss_before_mb"]
    windows = sampler.cpu_windows(extra["visitors_started"], extra["visitors_started"] + extra["wall_s"])
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(extra["started"])),
        "command": extra["command"],
        "settings": {
            "visitors": args.visitors,
            "epochs": args.epochs,
            "jobs": args.jobs,
            "rows": args.rows,
            "worker_memory_mb": limit,
        },
        "load_average_start": extra["load_start"],
        "load_average_end": extra["load_end"],
        "wall_s": _r(extra["wall_s"], 1),
        "runs": {
            "clicks": sum(1 for v in visitors if v.click_at is not None),
            "created": len(runs),
            "finished": len(finished),
            "answered_with_message": [v.index for v in visitors if v.click_answer == "message"],
            "lost_clicks": lost_clicks,
            "never_clicked": not_clicked,
            "not_finished": {run_id: runs[run_id]["state"] for run_id in unfinished},
            "lost": len(lost_clicks) + len(unfinished),
        },
        "downloads_ok": downloads_ok,
        "queue_wait_s": {
            "each": waits,
            "median": _r(median_wait),
            "slowest": _r(max(waits, default=None)),
            "slowest_over_median": _r(fairness),
        },
        "server_memory_mb": {
            "after_start": _r(baseline, 1),
            "peak_vmhwm": _r(sampler.server_hwm_mb, 1),
            "peak_over_start": _r(sampler.server_hwm_mb - baseline, 1) if baseline else None,
            "largest_rise_in_one_action": rises[:3],
            "cpu_s": extra.get("server_cpu_s"),
            "cpu_cores_10s_windows": {
                "median": _r(_median(windows)),
                "max": _r(max(windows, default=None)),
                "share_over_0.9": _r(sum(1 for w in windows if w > 0.9) / len(windows)) if windows else None,
            },
        },
        "workers": {
            "limit_mb": limit,
            "count": len(workers),
            "peak_rss_mb_training": max((w["peak_rss_mb"] for w in trained), default=None),
            "peak_rss_mb_idle_spares": max((w["peak_rss_mb"] for w in workers if not w["run"]), default=None),
            "each": workers,
        },
        "first_chart_s": {
            "click_to_chart_median": _r(_median(first_chart)),
            "click_to_chart_max": _r(max(first_chart, default=None)),
            "start_to_chart_median": _r(_median(start_chart)),
            "start_to_chart_max": _r(max(start_chart, default=None)),
        },
        "file_to_page_s": {
            "events": len(gaps),
            "median": _r(_median(gap_values)),
            "max": _r(max(gap_values, default=None)),
            "over_2s": sum(1 for g in gap_values if g > 2.0),
            "worst": [g | {"gap_s": _r(g["gap_s"])} for g in worst_gaps],
            "never_shown": unseen,
        },
        "slot_idle_s": {
            "each": idle,
            "median": _r(_median(idle_values)),
            "max": _r(max(idle_values, default=None)),
        },
        "visitors": per_visitor,
        "run_timelines": {run_id: _timeline(run_id, run, watcher, extra["started"]) for run_id, run in runs.items()},
        "server_log_tracebacks": extra["tracebacks"],
    }


def _changes(visitor: Visitor) -> list[list]:
    """What the page showed, only when it changed: [seconds after the Train click, points, state, epoch]."""
    rows, last = [], None
    origin = visitor.click_at or 0.0
    for when, points, state, epoch in visitor.observations:
        if (points, state, epoch) != last:
            rows.append([_r(when - origin), points, state, epoch])
            last = (points, state, epoch)
    return rows


def _timeline(run_id: str, run: dict, watcher: Watcher, origin: float) -> dict:
    """A run's file events, in seconds after the script started."""
    events = [
        [f"{e['kind']}={e['value']}", _r(e["written"] - origin), _r(e["seen"] - e["written"])]
        for e in watcher.events
        if e["run"] == run_id
    ]
    marks = {key: _r(run[key] - origin) for key in ("created_at", "started_at", "training_started_at", "finished_at")
             if run.get(key)}  # fmt: skip
    return {"source": run["source_name"], **marks, "events (what, written, seen after)": events}


def report(result: dict) -> str:
    runs = result["runs"]
    waits = result["queue_wait_s"]
    memory = result["server_memory_mb"]
    workers = result["workers"]
    chart = result["first_chart_s"]
    gaps = result["file_to_page_s"]
    idle = result["slot_idle_s"]
    lines = [
        f"shared demo under load: {result['settings']['visitors']} visitors, {result['settings']['jobs']} slots, "
        f"{result['settings']['epochs']} epochs, {result['settings']['rows']:,} rows each; {result['date_utc']}",
        f"load average at start {result['load_average_start']['1min']}, at end {result['load_average_end']['1min']} "
        f"(1 min, {result['load_average_start']['cores']} cores); wall {result['wall_s']} s",
        f"runs: {runs['clicks']} clicks, {runs['created']} created, {runs['finished']} finished, lost {runs['lost']} "
        f"(clicks without answer {runs['lost_clicks']}, not finished {runs['not_finished']}, "
        f"answered with a message {runs['answered_with_message']}); model downloads that are zips: "
        f"{result['downloads_ok']}",
        f"queue wait (created -> started): {waits['each']} s; median {waits['median']}, slowest {waits['slowest']}, "
        f"slowest/median {waits['slowest_over_median']}",
        f"server memory: {memory['after_start']} MiB after start, peak VmHWM {memory['peak_vmhwm']} MiB "
        f"(+{memory['peak_over_start']}); largest rise in one action: {memory['largest_rise_in_one_action'][:1]}; "
        f"server CPU {memory['cpu_s']} s (cores used over 10 s windows: {memory['cpu_cores_10s_windows']})",
        f"workers: {workers['count']} processes; peak RSS of a training worker {workers['peak_rss_mb_training']} MiB, "
        f"of an idle spare {workers['peak_rss_mb_idle_spares']} MiB; limit {workers['limit_mb']} MiB",
        f"Train click -> first chart point: median {chart['click_to_chart_median']} s, max {chart['click_to_chart_max']} s "
        f"(from the run's start: median {chart['start_to_chart_median']} s, max {chart['start_to_chart_max']} s)",
        f"file written -> page shows it: {gaps['events']} events, median {gaps['median']} s, max {gaps['max']} s, "
        f"{gaps['over_2s']} over 2 s, never shown {len(gaps['never_shown'])}; worst {gaps['worst'][:3]}",
        f"slot idle between runs: {[i['idle_s'] for i in idle['each']]} s; max {idle['max']} s",
    ]
    for row in result["visitors"]:
        lines.append(
            f"  visitor {row['visitor']}: run {row['run']} {row['state_on_disk']} (page {row['state_on_page']}), "
            f"epochs {row['epochs_run']}/{row['epochs_asked']}, wait {row['queue_wait_s']} s (dispatched after "
            f"{row['created_to_dispatched_s']} s, worker start {row['dispatched_to_started_s']} s), click->chart "
            f"{row['click_to_first_chart_s']} s, steps {row['steps_s']}, page read max {row['page_read_s']['max']} s, "
            f"metrics {row['metrics']}, download {row['download'].get('bytes')} B zip={row['download'].get('is_zip')}"
            + (f", ERROR {row['error']}" if row["error"] else "")
        )
    goals = [
        ("0 runs lost", runs["lost"] == 0 and runs["clicks"] == result["settings"]["visitors"]),
        (
            "slowest wait <= ~2x median",
            waits["slowest_over_median"] is not None and waits["slowest_over_median"] <= 2.2,
        ),
        ("server peak < 1.5 GB", memory["peak_vmhwm"] is not None and memory["peak_vmhwm"] < 1500),
        ("page shows each change <= 2 s", gaps["max"] is not None and gaps["max"] <= 2.0 and not gaps["never_shown"]),
        ("slot idle a few seconds at most", idle["max"] is None or idle["max"] <= 5.0),
    ]
    lines += [f"goal {name}: {'MET' if ok else 'NOT MET'}" for name, ok in goals]
    return "\n".join(lines)


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=8, help="browser contexts at once")
    parser.add_argument("--epochs", type=int, default=5, help="epochs each visitor asks for")
    parser.add_argument("--jobs", type=int, default=2, help="LAYERLAB_MAX_JOBS: training slots")
    parser.add_argument(
        "--ray-nodes", type=int, default=0,
        help="train on a local Ray cluster of this many one-CPU nodes (head included) instead of local workers",
    )  # fmt: skip
    parser.add_argument("--rows", type=int, default=20_000, help="rows of each visitor's generated CSV")
    parser.add_argument("--worker-memory-mb", type=int, default=None, help="LAYERLAB_WORKER_MEMORY_MB (4096)")
    parser.add_argument("--run-timeout", type=float, default=900.0, help="seconds a visitor waits for its run")
    parser.add_argument("--timeout", type=float, default=1500.0, help="seconds for all visitors together")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary LAYERLAB_HOME (and its logs)")
    return parser.parse_args(argv)


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the server


def main(argv=None) -> int:
    args = _parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (Debian's chromium package)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="layerlab_shared_load_"))
    extra: dict = {
        "started": time.time(),
        "command": "TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/shared_load.py " + " ".join(sys.argv[1:]),
        "load_start": load_average(),
    }
    print(f"load average at start: {extra['load_start']}; LAYERLAB_HOME {home}", flush=True)
    visitors = []
    data_dir = home / "uploads"
    data_dir.mkdir()
    for index in range(args.visitors):
        csv = data_dir / f"visitor_{index + 1}.csv"
        visitors.append(Visitor(index=index + 1, csv=csv, features=make_csv(csv, args.rows, seed=index)))
    watcher = sampler = cluster = None
    try:
        ray_address = None
        if args.ray_nodes:
            from ray.cluster_utils import Cluster  # optional extra [ray]; only for --ray-nodes

            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
            for _ in range(args.ray_nodes - 1):
                cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            ray_address = cluster.address
            extra["ray_nodes"] = args.ray_nodes
            print(f"Ray cluster of {args.ray_nodes} node(s) at {ray_address}", flush=True)
        with running_server(home, args.jobs, args.worker_memory_mb, ray_address) as (url, server, workers_seen):
            sampler = Sampler(server.pid)
            sampler.start()
            watcher = Watcher(home / "runs")
            watcher.start()
            # Visitors come once the pre-warmed workers are ready (Keras imported, warm-up fit done, waiting
            # on their standard input: no CPU used for 2 s), as they would be on a server started earlier.
            warm = 0 if ray_address else wait_for_idle_workers(server.pid, args.jobs, timeout=240)
            print(f"workers ready: {warm}", flush=True)
            extra["server_rss_before_mb"] = sampler.series[-1][1] if sampler.series else None
            cpu_before = proc_cpu_s(server.pid)
            print(
                f"server up at {url} (pid {server.pid}), {len(sampler.workers)} warm workers; visitors start",
                flush=True,
            )
            started = time.monotonic()
            extra["visitors_started"] = time.time()
            asyncio.run(drive(url, visitors, args.epochs, args.run_timeout, args.timeout))
            extra["wall_s"] = time.monotonic() - started
            cpu_after = proc_cpu_s(server.pid)
            extra["server_cpu_s"] = _r(cpu_after - cpu_before, 1) if cpu_before is not None and cpu_after else None
            time.sleep(0.5)
            workers_seen.update(sampler.workers)
    finally:
        for thread in (watcher, sampler):
            if thread is not None:
                thread.stop_event.set()
                thread.join(timeout=5)
        if cluster is not None:
            cluster.shutdown()
    extra["load_end"] = load_average()
    log_text = (home / "server.log").read_text(encoding="utf-8", errors="replace")
    extra["tracebacks"] = log_text.count("Traceback")
    result = analyse(args, visitors, watcher, sampler, home, extra)
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(report(result))
    print(f"results written to {args.json}")
    if args.keep:
        print(f"kept {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if result["runs"]["lost"] == 0 and result["runs"]["clicks"] == args.visitors else 1


if __name__ == "__main__":
    sys.exit(main())
