"""Images and text, side by side in one run: each case trains through the real pipeline (RunStore + run_job) in a
process of its own, so its peak memory is its own.

    .venv/bin/python bench/modalities.py            # every case (the 70,000 images need ../shared/datasets)
    .venv/bin/python bench/modalities.py --quick    # the bundled samples only

Cases:
* Fashion-MNIST, the bundled 10,000-image subset: the default CNN and the MLP-on-pixels preset (same split,
  same training settings). Target: CNN >= 0.87 test accuracy and >= 2 points above the MLP.
* Fashion-MNIST, all 70,000 images (its own train/test folders): the default CNN. Target: >= 0.91, peak memory
  <= 2 GB (batches stream from the memory-mapped pixels).
* Rotten Tomatoes snippets (English) and the Chinese reviews: the default text model against TF-IDF + logistic
  regression on the same split (word n-grams; character n-grams for Chinese). Target: within 1 point.
Prints one JSON line per case, then a table; record it in docs/PERFORMANCE.md with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def _case(name: str, workdir: Path) -> dict:
    """Run one case in this process (called in a child): returns what it measured."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import pandas as pd

    from core.data.images import read_image_zip
    from core.kinds.text import looks_like_text
    from core.run_store import RunStore
    from core.spec import IMAGE_PRESETS, DataSpec, RunSpec, TrainingSpec, default_model
    from core.training.run_job import run_job

    store = RunStore(workdir / "runs")
    training = TrainingSpec(epochs=40, patience=5)
    read_seconds = 0.0
    if name.startswith("fashion"):
        source = ROOT / "sample_data" / "fashion_mnist_10k.zip" if "10k" in name else SHARED / "fashion_mnist_png.zip"
        started = time.perf_counter()
        image_set = read_image_zip(source, workdir / f"{name}.npy")
        read_seconds = time.perf_counter() - started
        model = IMAGE_PRESETS["MLP on pixels"] if name.endswith("mlp") else default_model("images")
        spec = RunSpec(data=DataSpec(kind="images", target="label"), model=model, training=training)
        run_id = store.create_run(spec, image_set.manifest, source_name=source.name, pixels=image_set.pixels_path)
    else:
        file, target = {
            "rotten_tomatoes": (ROOT / "sample_data" / "rotten_tomatoes.csv", "label"),
            "chinese_reviews": (ROOT / "sample_data" / "chinese_reviews.csv", "情感"),
        }[name]
        frame = pd.read_csv(file)
        assert looks_like_text(frame, target)
        spec = RunSpec(data=DataSpec(kind="text", target=target), model=default_model("text"), training=training)
        run_id = store.create_run(spec, frame, source_name=file.name)
    status = run_job(store, run_id)
    metrics = store.metrics(run_id)
    baselines = {item["name"]: item["test"]["accuracy"] for item in metrics.get("baselines", [])}
    return {
        "case": name,
        "state": status.state,
        "accuracy": round(metrics["test"]["accuracy"], 4),
        "baselines": {key: round(value, 4) for key, value in baselines.items()},
        "epochs": metrics["epochs_run"],
        "seconds_per_epoch": round(metrics["train_seconds"] / max(metrics["epochs_run"], 1), 2),
        "read_seconds": round(read_seconds, 1),
        "train_rows": metrics["num_rows"]["train"],
        "test_rows": metrics["num_rows"]["test"],
        # ru_maxrss: kilobytes on Linux; this process did nothing but this case.
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="bundled samples only (no 70,000 images)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print("RESULT " + json.dumps(_case(args.case, Path(args.workdir)), ensure_ascii=False), flush=True)
        return 0
    cases = ["fashion_10k_cnn", "fashion_10k_mlp", "rotten_tomatoes", "chinese_reviews"]
    if not args.quick:
        cases.insert(2, "fashion_70k_cnn")
    results = []
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="layerlab-bench-") as folder:
        for case in cases:
            output = subprocess.run(
                [sys.executable, __file__, "--case", case, "--workdir", folder],
                capture_output=True,
                text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            line = next((x for x in output.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(f"{case} failed:\n{output.stderr[-3000:]}", flush=True)
                continue
            result = json.loads(line.removeprefix("RESULT "))
            results.append(result)
            print(json.dumps(result, ensure_ascii=False), f"load {os.getloadavg()[0]:.2f}", flush=True)
    by_case = {result["case"]: result for result in results}
    print("\n| case | test accuracy | compared with | s/epoch | epochs | peak memory |")
    print("|---|---|---|---|---|---|")
    for result in results:
        baselines = result["baselines"]
        if result["case"].endswith("mlp") or result["case"].startswith("fashion"):
            other = by_case.get("fashion_10k_mlp") if result["case"] == "fashion_10k_cnn" else None
            compared = (
                f"MLP on pixels {other['accuracy']:.4f}"
                if other
                else (f"pixel logistic regression {baselines.get('Logistic regression', float('nan')):.4f}")
            )
        else:
            tfidf = baselines.get("TF-IDF + logistic regression", float("nan"))
            compared = f"TF-IDF + LR {tfidf:.4f} (gap {100 * (result['accuracy'] - tfidf):+.1f} points)"
        print(
            f"| {result['case']} | {result['accuracy']:.4f} | {compared} | {result['seconds_per_epoch']} | "
            f"{result['epochs']} | {result['peak_memory_mb']} MB |"
        )
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
