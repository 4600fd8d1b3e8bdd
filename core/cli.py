"""`layerlab` command line: the same core as the app, without a browser.

    layerlab train DATA --target COL [--spec SPEC.json] [--out DIR]
    layerlab train --resume RUN_DIR --epochs N
    layerlab spec RUN_DIR
    layerlab predict MODEL.keras DATA [--out PREDS.csv]
    layerlab profile DATA [--target COL] [--spec SPEC.json]
    layerlab export RUN_DIR --format keras|savedmodel|tflite-f32|tflite-f16|tflite-int8|onnx --out PATH.zip
    layerlab code RUN_DIR
    layerlab evaluate RUN_DIR [DATA] [--no-importance]

Errors a user can cause print one message on stderr and exit with status 2. Messages for people (stderr) are in
the language of `--lang en|zh` (before the command) or LAYERLAB_LANG; JSON output keeps its English keys.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from core.config import load_settings
from core.data.quality import assess_quality
from core.data.reading import TableLimits, load_table_file
from core.deployment.codegen import generate_script
from core.deployment.formats import export_artifact
from core.deployment.prediction import predict_file
from core.errors import AppError, RunNotFoundError
from core.evaluation.report import evaluation_report
from core.failures import user_error, write_failure_file
from core.i18n import LANGUAGE_ENV, LANGUAGES, language_from_environment, set_language, t
from core.kinds import dataset_kind
from core.model.building import check_stack
from core.run_store import RunFiles, RunStore
from core.runtime.devices import import_keras_quietly
from core.shared_mode.limits import RunCaps
from core.spec import DataSpec, RunSpec, parse_spec
from core.training.run_job import request_resume, run_job

EXIT_USER_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerlab", description="Train and use Keras models on tables.")
    parser.add_argument(
        "--lang", choices=sorted(LANGUAGES), help=f"language of messages (default: ${LANGUAGE_ENV}, else en)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model on a table and print its test metrics as JSON")
    train.add_argument("data", nargs="?", help="CSV, TSV, XLSX, Parquet or JSON file (not with --resume)")
    train.add_argument("--target", help="column to predict (overrides the spec's target)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue this finished or stopped run (needs --epochs)")
    train.add_argument("--epochs", type=int, help="with --resume: how many more epochs to train")
    train.add_argument("--spec", help="run spec JSON file (as downloaded from the app)")
    train.add_argument("--out", help="folder that holds run folders (default: $LAYERLAB_HOME/runs)")
    predict = commands.add_parser("predict", help="add predictions to a table with a downloaded .keras model")
    predict.add_argument("model", help="a .keras file made by LayerLab")
    predict.add_argument("data", help="table with the model's input columns")
    predict.add_argument("--out", help="CSV file to write (default: standard output)")
    profile = commands.add_parser("profile", help="describe a table's columns and data problems as JSON")
    profile.add_argument("data", help="CSV, TSV, XLSX, Parquet or JSON file")
    profile.add_argument("--target", help="column to predict (overrides the spec's target)")
    profile.add_argument("--spec", help="run spec JSON file; its features, ignored columns and fixes are honoured")
    spec = commands.add_parser("spec", help="print a run's spec as JSON (feed it back with train --spec)")
    spec.add_argument("run_dir", help="a run folder, e.g. $LAYERLAB_HOME/runs/<run_id>")
    evaluate = commands.add_parser(
        "evaluate", help="print a run's test metrics, baselines and permutation importances as JSON"
    )
    evaluate.add_argument("run_dir", help="a run folder, e.g. $LAYERLAB_HOME/runs/<run_id>")
    evaluate.add_argument("data", nargs="?", help="optional labelled table to score the run's model on")
    evaluate.add_argument("--no-importance", action="store_true", help="skip the permutation importances")
    evaluate.add_argument("--max-rows", type=int, help="test rows used for the importances (default 2000)")
    evaluate.add_argument("--repeats", type=int, help="shuffles per column for the importances (default 5)")
    code = commands.add_parser("code", help="print a run as a standalone Python script (keras, pandas, sklearn)")
    code.add_argument("run_dir", help="a run folder, e.g. $LAYERLAB_HOME/runs/<run_id>")
    export = commands.add_parser("export", help="write a run's model as a download zip (the Download page's files)")
    export.add_argument("run_dir", help="a run folder, e.g. $LAYERLAB_HOME/runs/<run_id>")
    export.add_argument("--format", required=True, help="keras|savedmodel|tflite-f32|tflite-f16|tflite-int8|onnx")
    export.add_argument("--out", required=True, help="zip file to write (artifact, README, model card...)")
    return parser


def _train(args) -> dict:

    if args.resume:
        return _resume(args)
    if not args.data:
        raise AppError("No data file given. Expected `layerlab train DATA --target COLUMN` or `--resume RUN_DIR`.")
    if args.epochs is not None:
        raise AppError("--epochs only goes with --resume. For a new run, set training.epochs in the --spec file.")
    settings = load_settings()
    loaded = load_table_file(args.data, limits=TableLimits.from_settings(settings))
    table = loaded.frame
    if args.spec:
        spec_text = Path(args.spec).read_text(encoding="utf-8")
        spec = parse_spec(spec_text)
        if args.target:
            spec = parse_spec({**spec.model_dump(), "data": {**spec.data.model_dump(), "target": args.target}})
    elif args.target:
        spec = RunSpec(data=DataSpec(target=args.target))
    else:
        raise AppError("No target column given. Expected --target COLUMN or a --spec file that names one.")
    # The same gates as the Train page: a layer stack that cannot take table rows, then data errors, refuse
    # with the same messages; warnings go to stderr.
    check_stack(spec.model, len(spec.data.features) or table.shape[1] - 1)
    findings = assess_quality(table, spec)
    errors = [finding.message for finding in findings if finding.severity == "error"]
    if errors:
        raise AppError(" ".join(errors))
    for finding in findings:
        if finding.severity == "warning":
            print(f"layerlab: warning: {finding.message}", file=sys.stderr)

    # In shared mode the command line gets the same hard caps as the pages, checked before anything is built.
    store = RunStore(Path(args.out) if args.out else settings.runs_dir, caps=RunCaps.from_settings(settings))
    run_id = store.create_run(spec, table, source_name=Path(args.data).name, reading=loaded.reading())
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


def _run_folder(run_dir: str):
    """The store and run id of a run folder given on the command line."""

    path = Path(run_dir).resolve()
    if not RunFiles(path).exists(RunFiles.SPEC):
        raise RunNotFoundError(
            f"{run_dir!r} is not a LayerLab run folder (it has no spec.json). Give the run_dir printed by "
            "`layerlab train`, e.g. .layerlab/runs/<run_id>."
        )
    store = RunStore(path.parent)
    store.path(path.name)
    return store, path.name


def _resume(args) -> dict:
    """`train --resume RUN_DIR --epochs N`: the same run, N more epochs, its optimizer state kept."""

    if args.data or args.spec or args.target:
        raise AppError("--resume continues a run with its own data and spec; leave out DATA, --spec and --target.")
    if args.epochs is None:
        raise AppError("--resume needs --epochs N: how many more epochs to train (for example --epochs 10).")
    store, run_id = _run_folder(args.resume)
    request_resume(store, run_id, args.epochs)
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

    table = load_table_file(args.data, limits=TableLimits.from_settings(load_settings())).frame
    spec = None
    if args.spec:
        spec = parse_spec(Path(args.spec).read_text(encoding="utf-8"))
        if args.target:
            spec = parse_spec({**spec.model_dump(), "data": {**spec.data.model_dump(), "target": args.target}})
    target = spec.data.target if spec is not None else args.target
    kind = dataset_kind(spec.data.kind if spec is not None else "table")
    profile = kind.profile(table, target if target in table.columns else None)
    findings = assess_quality(table, spec, target=target, profile=profile)
    return {**profile.to_dict(), "findings": [finding.to_dict() for finding in findings]}


def _export(args) -> dict:

    path = export_artifact(Path(args.run_dir), args.format)  # built in a child process, cached in the run folder
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, out)
    return {"format": args.format, "out": str(out.resolve()), "size_bytes": out.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    language = language_from_environment(args.lang)
    set_language(language)
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
