"""How long page actions take in the real app, clicked in Chromium, next to a warm Python doing the same work.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/ui_latency.py [--repeats 3]

Starts server.py on loopback with a temporary LAYERLAB_HOME, loads the Wine sample and trains a run with the
default settings in headless Chromium (/usr/bin/chromium), then times, from the click to the last message the
server sends for it (`Clock`):
predicting one row (the single-row form), predicting an uploaded file of 8 rows, Measure speed, Compute
importances and page switches. Beside them, in this process: a warm Python with the run's model already loaded
predicting the same rows (`core.deployment.serving_model.predict_table`), the warm helper called directly (`predict_run_rows`)
and the old way, a fresh child Python per click (`core.deployment.prediction.predict_rows`). Baselines: how long the run
took to finish after its model file was written. Prints every figure and the ratios to the goals (predicting
≤ 1.5× the warm Python, no click without training over 3 s) and writes bench/results/ui_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

QUIET_S = 0.5
NOT_RUNNING = '[data-testid="stApp"][data-test-script-state="notRunning"]'


class Clock:
    """Times a click to the last message the server sent for it (the end of the script run it started).

    Streamlit's `data-test-script-state` alone cannot do it: a run of a few milliseconds may never show as
    "running" in the page at all. The server's WebSocket messages always come: a click counts as done once the
    page says "notRunning" and the socket has been quiet for `QUIET_S`; its time ends at the last message."""

    def __init__(self, page):
        self.page = page
        self.frames: list[float] = []
        page.on("websocket", lambda socket: socket.on("framereceived", self._received))

    def _received(self, _payload) -> None:
        self.frames.append(time.perf_counter())

    def settle(self) -> None:
        self.page.wait_for_selector(NOT_RUNNING, timeout=300_000)
        while self.frames and time.perf_counter() - self.frames[-1] < QUIET_S:
            self.page.wait_for_timeout(50)

    def time(self, act, *, timeout_s: float = 120) -> float:
        """Seconds from `act()` to the last server message it caused."""
        self.settle()
        seen = len(self.frames)
        started = time.perf_counter()
        act()
        while True:
            self.page.wait_for_timeout(20)
            now = time.perf_counter()
            if len(self.frames) > seen and now - self.frames[-1] >= QUIET_S:
                if self.page.locator(NOT_RUNNING).count():
                    return self.frames[-1] - started
            if now - started > timeout_s:
                shot = ROOT / "bench" / "results" / "ui_latency_stuck.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                self.page.screenshot(path=str(shot), full_page=True)
                raise TimeoutError(f"no answer within {timeout_s:.0f} s; screenshot: {shot.relative_to(ROOT)}")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def side_by_side(model_path: Path, rows_by_name: dict, repeats: int) -> tuple[dict, dict]:
    """(warm Python, paths called from Python): a warm Python with the model already loaded (the floor a click
    is compared with) and the warm helper called directly (its own helper, model cached), call for call in
    turn so that both see the same load; then the old way, a fresh child per click."""
    from core.deployment.prediction import predict_rows, predict_run_rows
    from core.deployment.serving_model import load_model_file, predict_table
    from core.runtime.helper import shutdown_helper

    model = load_model_file(model_path)
    floor, direct = {}, {}
    for name, frame in rows_by_name.items():
        predict_table(model, frame)  # first calls after loading: not part of either figure
        predict_run_rows(model_path, frame)
        warm, helper = [], []
        for _ in range(max(repeats, 5) * 4):
            started = time.perf_counter()
            predict_table(model, frame)
            warm.append(time.perf_counter() - started)
            started = time.perf_counter()
            predict_run_rows(model_path, frame)
            helper.append(time.perf_counter() - started)
        floor[name], direct[f"helper, {name}"] = _median(warm), _median(helper)
    shutdown_helper()
    started = time.perf_counter()
    predict_rows(model_path, rows_by_name["8 rows"])
    direct["fresh child (before), 8 rows"] = time.perf_counter() - started
    return floor, direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="clicks per timed action (median reported)")
    args = parser.parse_args()
    import pandas as pd
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} on {os.cpu_count()} cores"
    )
    wine = pd.read_csv(ROOT / "sample_data" / "wine.csv")
    rows_by_name = {
        "one row": wine.drop(columns=["cultivar"]).head(1),
        "8 rows": wine.drop(columns=["cultivar"]).sample(8, random_state=1),
    }
    clicks: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="layerlab-ui-latency-") as folder:
        home = Path(folder)
        for index in range(args.repeats):
            rows_by_name["8 rows"].assign(alcohol=lambda f, i=index: f["alcohol"] + i * 0.01).to_csv(
                home / f"rows_{index}.csv", index=False
            )
        with running_app(home) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(300_000)
            clock = Clock(page)
            timed = clock.time
            page.goto(url)
            page.get_by_role("button", name="Load sample").wait_for()
            clock.settle()
            page.get_by_role("combobox", name="Sample").click()
            page.get_by_role("option", name="Wine cultivars").click()
            timed(lambda: page.get_by_role("button", name="Load sample").click())
            timed(lambda: page.get_by_role("link", name="Train").first.click())
            trained_at = time.perf_counter()
            page.get_by_role("button", name="Train").last.click()
            page.get_by_text("Done. See the test results").wait_for(timeout=600_000)
            print(f"trained in {time.perf_counter() - trained_at:.1f} s (click to 'Done')")
            run_dir = next((home / "runs").glob("*/model.keras")).parent
            status = json.loads((run_dir / "status.json").read_text())
            baselines_wait = status["finished_at"] - (run_dir / "model.keras").stat().st_mtime

            for name in ("Evaluate", "Predict", "Model", "Data", "Predict"):
                clicks.setdefault("page switch", []).append(
                    timed(lambda name=name: page.get_by_role("link", name=name).first.click())
                )
            timed(lambda: page.get_by_text("Type in one row", exact=True).click())
            for _ in range(args.repeats):
                clicks.setdefault("predict one row", []).append(
                    timed(lambda: page.get_by_role("button", name="Predict this row").click())
                )
            timed(lambda: page.get_by_text("Upload a file of rows", exact=True).click())
            for index in range(args.repeats):
                clicks.setdefault("predict a file of 8 rows", []).append(
                    timed(
                        lambda i=index: page.locator("input[type=file]").set_input_files(str(home / f"rows_{i}.csv")),
                    )
                )
            timed(lambda: page.get_by_role("link", name="Model").first.click())
            clicks["measure speed"] = [timed(lambda: page.get_by_role("button", name="Measure speed").click())]
            timed(lambda: page.get_by_role("link", name="Evaluate").first.click())
            clicks["permutation importance"] = [
                timed(lambda: page.get_by_role("button", name="Compute importances").click())
            ]
            browser.close()
        floor, direct = side_by_side(run_dir / "model.keras", rows_by_name, args.repeats)

    load_after = os.getloadavg()
    medians = {name: _median(times) for name, times in clicks.items()}
    ratios = {
        "click / warm Python, one row": medians["predict one row"] / floor["one row"],
        "click / warm Python, 8 rows (upload included)": medians["predict a file of 8 rows"] / floor["8 rows"],
        "helper / warm Python, one row": direct["helper, one row"] / floor["one row"],
        "helper / warm Python, 8 rows": direct["helper, 8 rows"] / floor["8 rows"],
    }
    slowest_click = max(max(times) for name, times in clicks.items() if name != "measure speed")
    print("\nclick → end of the script run (median of the clicks):")
    for name, times in clicks.items():
        print(f"  {name:28s} {_median(times):7.3f} s   ({', '.join(f'{t:.2f}' for t in times)})")
    print(f"  {'baselines after model saved':28s} {baselines_wait:7.3f} s   (run finished − model.keras written)")
    print("\nwarm Python, model loaded (median):")
    for name, seconds in floor.items():
        print(f"  {name:28s} {seconds:7.4f} s")
    print("\ncalled from Python (median):")
    for name, seconds in direct.items():
        print(f"  {name:28s} {seconds:7.4f} s")
    print("\nratios:")
    for name, ratio in ratios.items():
        print(f"  {name:46s} {ratio:6.1f}×")
    print(f"\nslowest click without training (Measure speed aside): {slowest_click:.2f} s (goal ≤ 3 s)")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    out = ROOT / "bench" / "results" / "ui_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "load_average": {"before": load_before, "after": load_after},
                "clicks_s": clicks,
                "click_medians_s": medians,
                "baselines_after_save_s": baselines_wait,
                "warm_python_s": floor,
                "direct_s": direct,
                "ratios": ratios,
                "slowest_click_s": slowest_click,
            },
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
