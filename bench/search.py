"""Does a search close the gap to gradient boosting? On each bundled table, side by side in one run:

* the default run: `layerlab train DATA --target T` (its run also fits the baselines on the same split, so
  gradient boosting's test score comes from the same rows);
* a search: `layerlab tune DATA --target T --minutes M`; its trials are chosen on validation loss, and only the
  chosen trial is scored on the test rows;
* gradient boosting (scikit-learn's HistGradientBoosting, defaults), from the default run's baselines.

    .venv/bin/python bench/search.py                     # Adult and diamonds, 10 minutes each
    .venv/bin/python bench/search.py --minutes 2 --data adult

Target (issue 17): the search's test score within 0.5 points of gradient boosting's (accuracy or R², in
points of 100). Prints one JSON line per table, then a table; record it in docs/PERFORMANCE.md with the
load average. Each command runs in a process of its own, the way a user runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"adult": ("income", "accuracy"), "diamonds": ("price", "r2")}
TARGET_POINTS = 0.5


def _layerlab(*args: str) -> tuple[dict, str, float]:
    """Run the CLI; its last stdout line (JSON), the whole stdout, and the wall time."""
    started = time.monotonic()
    output = subprocess.run(
        [sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "LAYERLAB_LANG": "en"},
    )  # fmt: skip
    wall = time.monotonic() - started
    if output.returncode != 0:
        raise SystemExit(f"layerlab {' '.join(args)} failed ({output.returncode}):\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1]), output.stdout, wall


def _case(name: str, minutes: float, folder: Path) -> dict:
    target, metric = TABLES[name]
    data = str(ROOT / "sample_data" / f"{name}.csv")
    default, _, default_wall = _layerlab("train", data, "--target", target, "--out", str(folder / f"{name}-default"))
    metrics = json.loads((Path(default["run_dir"]) / "metrics.json").read_text())
    hgb = next(item["test"][metric] for item in metrics["baselines"] if item["name"] == "Gradient boosting")
    best, board, search_wall = _layerlab(
        "tune", data, "--target", target, "--minutes", str(minutes), "--out", str(folder / f"{name}-search")
    )
    rows = [line for line in board.splitlines()[1:-1] if line.strip()]
    return {
        "table": name,
        "metric": metric,
        "default": round(default["test"][metric], 4),
        "search": round(best["test"][metric], 4),
        "gradient_boosting": round(hgb, 4),
        "gap_points": round(100 * (best["test"][metric] - hgb), 2),
        "default_gap_points": round(100 * (default["test"][metric] - hgb), 2),
        "trials": best["search"]["trials"],
        "completed": sum(" complete " in row for row in rows),
        "pruned": sum(" pruned " in row for row in rows),
        "best_trial": best["search"]["best_trial"],
        "best_settings": next((row for row in rows if f"{best['search']['best_trial']} " in row[:6]), ""),
        "default_seconds": round(default_wall, 1),
        "search_seconds": round(search_wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0, help="each search's budget (default 10)")
    parser.add_argument("--data", choices=sorted(TABLES), action="append", help="one table (default: both)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-search-") as folder:
        for name in args.data or list(TABLES):
            result = _case(name, args.minutes, Path(folder))
            results.append(result)
            print(json.dumps(result), f"load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"\n| table | metric | default run | search ({args.minutes:g} min) | gradient boosting | search − GB | "
          "default − GB | trials (done, pruned) | target |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        met = "met" if r["gap_points"] >= -TARGET_POINTS else "not met"
        print(f"| {r['table']} | {r['metric']} | {r['default']:.4f} | {r['search']:.4f} | {r['gradient_boosting']:.4f} "
              f"| {r['gap_points']:+.2f} pts | {r['default_gap_points']:+.2f} pts | {r['trials']} ({r['completed']}, "
              f"{r['pruned']}) | within {TARGET_POINTS} pts: **{met}** |")  # fmt: skip
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
