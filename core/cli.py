"""`layerlab` command line: the same core as the app, without a browser.

    layerlab train DATA --target COL [--spec SPEC.json] [--out DIR]     (a table; text columns are detected)
    layerlab train DATA --target COL --backend ray                      (on the Ray cluster at LAYERLAB_RAY_ADDRESS)
    layerlab train IMAGES.zip [--spec SPEC.json] [--out DIR]            (class folders, optionally train/ test/)
    layerlab train --resume RUN_DIR --epochs N
    layerlab spec RUN_DIR
    layerlab predict MODEL.keras DATA|IMAGE|IMAGES.zip [--out PREDS.csv]
    layerlab profile DATA [--target COL] [--spec SPEC.json]
    layerlab export RUN_DIR --format keras|savedmodel|tflite-f32|tflite-f16|tflite-int8|onnx --out PATH.zip
    layerlab code RUN_DIR
    layerlab evaluate RUN_DIR [DATA] [--no-importance]
    layerlab runs [FOLDER] [--json]                                     (default: the runs under LAYERLAB_HOME)
    layerlab compare RUN RUN... [--json]                                (run folders, or run ids of LAYERLAB_HOME)
    layerlab tune DATA --target COL --trials N | --minutes M [--spec SPEC.json] [--out DIR]
                  [--backend ray --parallel K]                          (K trials at once on the cluster)

Errors a user can cause print one message on stderr and exit with status 2. Messages for people (stderr) are in
the language of `--lang en|zh` (before the command) or LAYERLAB_LANG; JSON output keeps its English keys.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError

from core.config import load_settings
from core.data.images import image_path_column, pixels, read_image_table, read_image_zip
from core.data.quality import assess_quality
from core.data.reading import TableLimits, load_table_file
from core.deployment.codegen import generate_script
from core.deployment.formats import export_artifact
from core.deployment.prediction import predict_file
from core.errors import AppError, RunNotFoundError
from core.evaluation.report import evaluation_report
from core.experiments.compare import compare_folders
from core.experiments.history import history
from core.experiments.search import SearchBudget, SearchRunner, SearchSpec, SearchStore
from core.failures import user_error, write_failure_file
from core.i18n import LANGUAGE_ENV, LANGUAGES, language_from_environment, t, use_language
from core.kinds import dataset_kind
from core.kinds.images import ImageSource
from core.kinds.text import looks_like_text
from core.model.building import check_stack
from core.plain_text import shorten
from core.run_store import FINAL_STATES, RunFiles, RunStore, to_parquet
from core.runtime.devices import import_keras_quietly
from core.shared_mode.limits import RunCaps
from core.spec import DataSpec, RunSpec, default_model, format_validation_error, parse_spec
from core.training.jobs import JobBackend, JobManager
from core.training.ray_backend import ray_manager
from core.training.run_job import request_resume, request_test_score, run_job

EXIT_USER_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    """The command line, its help in the current language (set from --lang before it is built)."""
    parser = argparse.ArgumentParser(prog="layerlab", description=t("deploy.cli.description"))
    parser.add_argument("--lang", choices=sorted(LANGUAGES), help=t("deploy.cli.lang", variable=LANGUAGE_ENV))
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help=t("deploy.cli.train"))
    train.add_argument("data", nargs="?", help=t("deploy.cli.train.data"))
    train.add_argument("--target", help=t("deploy.cli.target"))
    train.add_argument("--resume", metavar="RUN_DIR", help=t("deploy.cli.train.resume"))
    train.add_argument("--epochs", type=int, help=t("deploy.cli.train.epochs"))
    train.add_argument("--spec", help=t("deploy.cli.train.spec"))
    train.add_argument("--out", help=t("deploy.cli.train.out"))
    train.add_argument("--images", metavar="ZIP", help=t("deploy.cli.train.images"))
    train.add_argument("--backend", choices=("local", "ray"), default="local", help=t("train.cli.backend"))
    predict = commands.add_parser("predict", help=t("deploy.cli.predict"))
    predict.add_argument("model", help=t("deploy.cli.predict.model"))
    predict.add_argument("data", help=t("deploy.cli.predict.data"))
    predict.add_argument("--out", help=t("deploy.cli.predict.out"))
    profile = commands.add_parser("profile", help=t("deploy.cli.profile"))
    profile.add_argument("data", help=t("deploy.cli.profile.data"))
    profile.add_argument("--target", help=t("deploy.cli.target"))
    profile.add_argument("--spec", help=t("deploy.cli.profile.spec"))
    spec = commands.add_parser("spec", help=t("deploy.cli.spec"))
    spec.add_argument("run_dir", help=t("deploy.cli.run_dir"))
    evaluate = commands.add_parser("evaluate", help=t("deploy.cli.evaluate"))
    evaluate.add_argument("run_dir", help=t("deploy.cli.run_dir"))
    evaluate.add_argument("data", nargs="?", help=t("deploy.cli.evaluate.data"))
    evaluate.add_argument("--no-importance", action="store_true", help=t("deploy.cli.evaluate.no_importance"))
    evaluate.add_argument("--max-rows", type=int, help=t("deploy.cli.evaluate.max_rows"))
    evaluate.add_argument("--repeats", type=int, help=t("deploy.cli.evaluate.repeats"))
    code = commands.add_parser("code", help=t("deploy.cli.code"))
    code.add_argument("run_dir", help=t("deploy.cli.run_dir"))
    runs = commands.add_parser("runs", help=t("experiments.cli.runs"))
    runs.add_argument("folder", nargs="?", help=t("experiments.cli.runs.folder"))
    runs.add_argument("--json", action="store_true", help=t("experiments.cli.json"))
    compare = commands.add_parser("compare", help=t("experiments.cli.compare"))
    compare.add_argument("runs", nargs="+", metavar="RUN", help=t("experiments.cli.compare.runs"))
    compare.add_argument("--json", action="store_true", help=t("experiments.cli.json"))
    tune = commands.add_parser("tune", help=t("experiments.cli.tune"))
    tune.add_argument("data", help=t("deploy.cli.train.data"))
    tune.add_argument("--target", help=t("deploy.cli.target"))
    budget = tune.add_mutually_exclusive_group(required=True)
    budget.add_argument("--trials", type=int, help=t("experiments.cli.tune.trials"))
    budget.add_argument("--minutes", type=float, help=t("experiments.cli.tune.minutes"))
    tune.add_argument("--spec", help=t("deploy.cli.train.spec"))
    tune.add_argument("--out", help=t("deploy.cli.train.out"))
    tune.add_argument("--backend", choices=("local", "ray"), default="local", help=t("train.cli.backend"))
    tune.add_argument("--parallel", type=int, help=t("experiments.cli.tune.parallel"))
    export = commands.add_parser("export", help=t("deploy.cli.export"))
    export.add_argument("run_dir", help=t("deploy.cli.run_dir"))
    export.add_argument("--format", required=True, help="keras|savedmodel|tflite-f32|tflite-f16|tflite-int8|onnx")
    export.add_argument("--out", required=True, help=t("deploy.cli.export.out"))
    return parser


def _language_option(argv: list[str] | None) -> str | None:
    """--lang's value, read before the parser is built so that its help is in that language."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--lang", choices=sorted(LANGUAGES))
    try:
        known, _ = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    except SystemExit:  # a bad --lang: the full parser says so
        return None
    return known.lang


def _train(args) -> dict:

    if args.resume:
        return _resume(args)
    if not args.data:
        raise AppError(t("deploy.cli.no_data"))
    if args.epochs is not None:
        raise AppError(t("deploy.cli.epochs_without_resume"))
    settings = load_settings()
    # In shared mode the command line gets the same hard caps as the pages, checked before anything is built.
    store = RunStore(Path(args.out) if args.out else settings.runs_dir, caps=RunCaps.from_settings(settings))
    if args.images:
        run_id = _create_image_table_run(args, store, settings)
    elif is_image_archive(args.data):
        run_id = _create_image_run(args, store)
    else:
        run_id = _create_table_run(args, store, settings)
    if args.backend == "ray":
        status = _train_with(_manager(args, store, settings, max_jobs=1), store, run_id)
    else:
        import_keras_quietly()
        status = run_job(store, run_id)
    if status.state == "failed":
        raise AppError(status.sentence())
    metrics = store.metrics(run_id)
    result = {
        "run_dir": str(store.path(run_id)),
        "state": status.state,
        "task": metrics["task"],
        "test": metrics["test"],
        "epochs_run": metrics["epochs_run"],
    }
    if "cross_validation" in metrics:  # k-fold cross-validation ran: mean ± std of every metric over the folds
        result["cross_validation"] = metrics["cross_validation"]
    return result


def _manager(args, store: RunStore, settings, *, max_jobs: int) -> JobBackend:
    """The job backend the command asked for: local worker processes, or Ray at `LAYERLAB_RAY_ADDRESS` (the same
    backend the app uses with that variable set)."""
    if args.backend != "ray":
        return JobManager(store, max_jobs=max_jobs, warm_workers=max_jobs)
    if not settings.ray_address:
        raise AppError(t("train.ray.no_address"))
    return ray_manager(settings, store)


def _train_with(manager: JobBackend, store: RunStore, run_id: str):
    """Queue one run on `manager` and wait for its end (progress is in the run's folder, as in the app)."""
    try:
        manager.submit(run_id)
        while (status := store.status(run_id)).state not in FINAL_STATES:
            time.sleep(0.5)
    finally:
        manager.shutdown()
    return status


def is_image_archive(path: str) -> bool:
    return Path(path).suffix.lower() == ".zip"


def _spec_from_file(args) -> RunSpec | None:
    if not args.spec:
        return None
    spec = parse_spec(Path(args.spec).read_text(encoding="utf-8"))
    if args.target:
        spec = parse_spec({**spec.model_dump(), "data": {**spec.data.model_dump(), "target": args.target}})
    return spec


def _create_table_run(args, store: RunStore, settings) -> str:
    """A table (kind table), or a table with a column of free text (kind text, detected when no spec says)."""
    loaded = load_table_file(args.data, limits=TableLimits.from_settings(settings))
    table = loaded.frame
    spec = _spec_from_file(args)
    if spec is None:
        if not args.target:
            raise AppError(t("deploy.cli.no_target"))
        kind = "text" if looks_like_text(table, args.target) else "table"
        spec = RunSpec(data=DataSpec(target=args.target, kind=kind), model=default_model(kind))
    if spec.data.kind == "table":
        # The same gates as the Train page: a layer stack that cannot take table rows, then data errors,
        # refuse with the same messages; warnings go to stderr.
        check_stack(spec.model, len(spec.data.features) or table.shape[1] - 1)
        findings = assess_quality(table, spec)
        errors = [finding.message for finding in findings if finding.severity == "error"]
        if errors:
            raise AppError(" ".join(errors))
        for finding in findings:
            if finding.severity == "warning":
                print(f"layerlab: {t('deploy.cli.warning', message=finding.message)}", file=sys.stderr)
    elif spec.data.target not in table.columns:
        raise AppError(t("deploy.cli.no_target"))
    return store.create_run(spec, table, source_name=Path(args.data).name, reading=loaded.reading())


def _create_image_run(args, store: RunStore) -> str:
    """A zip of class folders (kind images): read once into a pixel array, which the run links."""
    spec = _spec_from_file(args) or RunSpec(data=DataSpec(kind="images", target="label"), model=default_model("images"))
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".images-") as folder:
        image_set = read_image_zip(Path(args.data), Path(folder) / "pixels.npy")
        if image_set.skipped:
            print(f"layerlab: {t('cli.images_skipped', count=len(image_set.skipped))}", file=sys.stderr)
        for note in image_set.notes:
            print(f"layerlab: {t('deploy.cli.warning', message=note.render())}", file=sys.stderr)
        return store.create_run(
            spec, image_set.manifest, source_name=Path(args.data).name, pixels=image_set.pixels_path
        )


def _create_image_table_run(args, store: RunStore, settings) -> str:
    """A table naming image files (the column whose values end in .png, .jpg...) labelled by `--target`, plus
    `--images ZIP` holding them (kind images, labelled from the table)."""
    frame = load_table_file(args.data, limits=TableLimits.from_settings(settings)).frame
    path_column = image_path_column(frame)
    if path_column is None:
        raise AppError(t("deploy.cli.no_image_column"))
    if not args.target:
        raise AppError(t("deploy.cli.no_target"))
    spec = _spec_from_file(args) or RunSpec(data=DataSpec(kind="images", target="label"), model=default_model("images"))
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".images-") as folder:
        image_set = read_image_table(frame, path_column, args.target, Path(args.images), Path(folder) / "pixels.npy")
        if image_set.skipped:
            print(f"layerlab: {t('cli.images_skipped', count=len(image_set.skipped))}", file=sys.stderr)
        for note in image_set.notes:
            print(f"layerlab: {t('deploy.cli.warning', message=note.render())}", file=sys.stderr)
        source = f"{Path(args.data).name} + {Path(args.images).name}"
        return store.create_run(spec, image_set.manifest, source_name=source, pixels=image_set.pixels_path)


def _run_folder(run_dir: str):
    """The store and run id of a run folder given on the command line."""

    path = Path(run_dir).resolve()
    if not RunFiles(path).exists(RunFiles.SPEC):
        raise RunNotFoundError(t("deploy.cli.not_a_run", folder=repr(run_dir)))
    store = RunStore(path.parent)
    store.path(path.name)
    return store, path.name


def _resume(args) -> dict:
    """`train --resume RUN_DIR --epochs N`: the same run, N more epochs, its optimizer state kept."""

    if args.data or args.spec or args.target:
        raise AppError(t("deploy.cli.resume_extra"))
    if args.epochs is None:
        raise AppError(t("deploy.cli.resume_epochs"))
    store, run_id = _run_folder(args.resume)
    request_resume(store, run_id, args.epochs)
    if args.backend == "ray":
        status = _train_with(_manager(args, store, load_settings(), max_jobs=1), store, run_id)
    else:
        import_keras_quietly()
        status = run_job(store, run_id)
    if status.state == "failed":
        raise AppError(status.sentence())
    metrics = store.metrics(run_id)
    return {
        "run_dir": str(store.path(run_id)),
        "state": status.state,
        "message": status.message,
        "task": metrics["task"],
        "test": metrics["test"],
        "epochs_run": metrics["epochs_run"],
    }


def _print_spec(args) -> None:
    store, run_id = _run_folder(args.run_dir)
    print(store.spec(run_id).to_json())


def _predict(args) -> None:

    predict_file(Path(args.model), args.data, args.out)


def _profile(args) -> dict:

    if is_image_archive(args.data):
        with tempfile.TemporaryDirectory(prefix="layerlab-profile-") as folder:
            image_set = read_image_zip(Path(args.data), Path(folder) / "pixels.npy")
            profile = dataset_kind("images").profile(ImageSource(image_set.manifest, pixels(image_set)), "label")
            skipped = [{"file": item.name, "reason": item.reason.render()} for item in image_set.skipped]
            return {**profile.to_dict(), "skipped": skipped}
    table = load_table_file(args.data, limits=TableLimits.from_settings(load_settings())).frame
    spec = None
    if args.spec:
        spec = parse_spec(Path(args.spec).read_text(encoding="utf-8"))
        if args.target:
            spec = parse_spec({**spec.model_dump(), "data": {**spec.data.model_dump(), "target": args.target}})
    target = spec.data.target if spec is not None else args.target
    detected = "text" if looks_like_text(table, target) else "table"
    kind = dataset_kind(spec.data.kind if spec is not None else detected)
    profile = kind.profile(table, target if target in table.columns else None)
    findings = assess_quality(table, spec, target=target, profile=profile)
    return {**profile.to_dict(), "findings": [finding.to_dict() for finding in findings]}


def _export(args) -> dict:

    path = export_artifact(Path(args.run_dir), args.format)  # built in a child process, cached in the run folder
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, out)
    return {"format": args.format, "out": str(out.resolve()), "size_bytes": out.stat().st_size}


def _tune(args) -> dict:
    """`tune DATA --target T --trials N | --minutes M`: a search whose trials train in this process's workers
    (`--parallel` at once) or on Ray; prints the leaderboard (validation scores only), then the JSON line `train` prints, for the best trial's run (the
    only one scored on the test rows). DATA is a table or a zip of image folders (then the training settings
    vary: learning rate, and batch size, optimizer or class weights when a spec's search asks)."""
    settings = load_settings()
    store = RunStore(Path(args.out) if args.out else settings.runs_dir, caps=RunCaps.from_settings(settings))
    source = Path(args.data).name
    scratch = Path(tempfile.mkdtemp(dir=store.root, prefix=".tune-"))
    try:
        return _tune_in(args, settings, store, source, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _tune_in(args, settings, store: RunStore, source: str, scratch: Path) -> dict:
    base = _spec_from_file(args)
    table, pixels_path, reading = scratch / "table.parquet", None, None
    if is_image_archive(args.data):
        base = base or RunSpec(data=DataSpec(kind="images", target="label"), model=default_model("images"))
        image_set = read_image_zip(Path(args.data), scratch / "pixels.npy")
        table.write_bytes(to_parquet(image_set.manifest)[0])
        pixels_path = image_set.pixels_path
    else:
        loaded = load_table_file(args.data, limits=TableLimits.from_settings(settings))
        if base is None:
            if not args.target:
                raise AppError(t("deploy.cli.no_target"))
            kind = "text" if looks_like_text(loaded.frame, args.target) else "table"
            base = RunSpec(data=DataSpec(target=args.target, kind=kind), model=default_model(kind))
        if base.data.target not in loaded.frame.columns:
            raise AppError(t("deploy.cli.no_target"))
        table.write_bytes(to_parquet(loaded.frame)[0])
        reading = loaded.reading()
    try:
        # Trials at once: as many as the training slots, as the Search page does (LAYERLAB_MAX_JOBS, 2 by default).
        parallel = args.parallel or min(settings.max_jobs, 16)
        budget = SearchBudget(trials=args.trials, minutes=args.minutes, parallel=parallel)
        spec = SearchSpec(base=base, budget=budget)
    except ValidationError as error:
        raise AppError(format_validation_error(error)) from None
    searches = SearchStore(store.root / ".searches" if args.out else settings.home / "searches")
    search_id = searches.create(spec, table, source_name=source, reading=reading, pixels=pixels_path)
    manager = _manager(args, store, settings, max_jobs=spec.budget.parallel)

    def score(run_id: str) -> None:
        request_test_score(store, run_id)
        manager.submit(run_id)

    try:
        SearchRunner(searches, search_id, store, lambda run_spec: manager.start(
            store, run_spec, table, source_name=source, reading=reading, pixels=pixels_path, search=search_id),
            score=score).run()  # fmt: skip
        chosen = searches.state(search_id).get("chosen")
        while chosen and store.status(chosen).state not in FINAL_STATES:
            time.sleep(0.2)  # the chosen trial is being scored on its test rows
    finally:
        manager.shutdown()
    view = searches.view(search_id, store)
    header = ["trial", "state", "val_loss", "val_metric", "settings", "run"]
    rows = [
        [str(row.number), row.state, "" if row.val_loss is None else f"{row.val_loss:.4f}",
         "" if row.val_metric is None else f"{row.val_metric:.4f}",
         ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.params.items()),
         row.run_id or ""]
        for row in view.leaderboard()
    ]  # fmt: skip
    print(_table(header, rows))
    if view.best is None:
        raise AppError(t("experiments.cli.tune_no_trial"))
    metrics = store.metrics(view.best.run_id)
    return {
        "run_dir": str(store.path(view.best.run_id)),
        "state": store.status(view.best.run_id).state,
        "task": metrics["task"],
        "test": metrics["test"],
        "epochs_run": metrics["epochs_run"],
        "search": {"trials": len(view.trials), "best_trial": view.best.number, "val_loss": view.best.val_loss},
    }


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Plain columns for a terminal (names are shortened and stripped of control characters first)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]  # fmt: skip
    return "\n".join(lines)


def _runs(args) -> None:
    folder = Path(args.folder).resolve() if args.folder else load_settings().runs_dir
    if not folder.is_dir():
        raise FileNotFoundError(2, "not found", str(folder))
    rows = history(RunStore(folder))
    if args.json:
        for row in rows:
            print(json.dumps({
                "run_dir": str(folder / row.run_id), "created_at": row.created_at, "state": row.state,
                "source": row.source_name, "kind": row.kind, "task": row.task, "layers": list(row.layers),
                "metric": row.metric_name, "score": row.metric, "duration_s": row.duration_s, "name": row.name,
                "note": row.note, "starred": row.starred,
            }, ensure_ascii=False))  # fmt: skip
        return
    if not rows:
        print(t("experiments.cli.no_runs", folder=str(folder)))
        return
    header = ["run", "started", "state", "score", "data", "layers", "name"]
    table = [
        [
            ("* " if row.starred else "") + row.run_id,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at)),
            row.state,
            "" if row.metric is None else f"{row.metric_name} {row.metric:.4f}",
            shorten(row.source_name, 30),
            shorten(row.model, 50),
            shorten(row.name, 30),
        ]
        for row in rows
    ]
    print(_table(header, table))


def _compare(args) -> None:
    root = load_settings().runs_dir
    folders = [Path(run) if Path(run).is_dir() else root / run for run in args.runs]
    result = compare_folders(folders)
    names = {row.run_id: shorten(row.name or row.run_id, 30) for row in result.rows}
    if args.json:
        print(json.dumps({
            "runs": [str(Path(folder).resolve()) for folder in folders],
            "metrics": {name: {r: (None if math.isnan(v) else v) for r, v in values.items()}
                        for name, values in result.metrics.T.to_dict().items()},
            "best": result.best,
            "differences": result.differences,
        }, ensure_ascii=False))  # fmt: skip
        return
    header = ["metric", *(names[row.run_id] for row in result.rows)]
    table = [
        [name, *(
            ("n/a" if math.isnan(value) else f"{value:.4f}") + (f" ({t('experiments.cli.best')})"
            if result.best.get(name) == run_id else "")
            for run_id, value in result.metrics.loc[name].items()
        )]
        for name in result.metrics.index
    ]  # fmt: skip
    print(_table(header, table))
    reference = names[result.rows[0].run_id]
    for row in result.rows[1:]:
        changes = result.differences[row.run_id]
        if not changes:
            print(t("experiments.cli.no_differences", run=names[row.run_id], reference=reference))
            continue
        print(t("experiments.cli.differences", run=names[row.run_id], reference=reference))
        for change in changes:
            print(f"  - {change}")


def main(argv: list[str] | None = None) -> int:
    """The command line. The language it chose is this call's only: a caller in the same process (a test, a
    notebook) keeps its own language and environment afterwards."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    language = language_from_environment(_language_option(argv))
    previous = os.environ.get(LANGUAGE_ENV)
    try:
        with use_language(language):
            return _run(argv, language)
    finally:
        if previous is None:
            os.environ.pop(LANGUAGE_ENV, None)
        else:
            os.environ[LANGUAGE_ENV] = previous


def _run(argv: list[str] | None, language: str) -> int:
    args = _parser().parse_args(argv)
    if args.lang:
        os.environ[LANGUAGE_ENV] = language  # child processes (exports, predictions) speak it too
    try:
        if args.command == "train":
            print(json.dumps(_train(args)))
        elif args.command == "profile":
            print(json.dumps(_profile(args)))
        elif args.command == "export":
            print(json.dumps(_export(args)))
        elif args.command == "spec":
            _print_spec(args)
        elif args.command == "evaluate":
            report = evaluation_report(
                args.run_dir, args.data, importance=not args.no_importance, max_rows=args.max_rows,
                n_repeats=args.repeats,
            )  # fmt: skip
            print(json.dumps(report))
        elif args.command == "tune":
            print(json.dumps(_tune(args)))
        elif args.command == "runs":
            _runs(args)
        elif args.command == "compare":
            _compare(args)
        elif args.command == "code":
            print(generate_script(Path(args.run_dir)), end="")
        else:
            _predict(args)
    except AppError as error:
        print(f"layerlab: {error.message}", file=sys.stderr)
        write_failure_file(user_error(error.message, detail=type(error).__name__))
        return EXIT_USER_ERROR
    except FileNotFoundError as error:
        print(f"layerlab: {t('cli.file_not_found', filename=error.filename)}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
