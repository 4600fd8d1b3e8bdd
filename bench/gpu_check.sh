#!/usr/bin/env bash
# GPU check for LayerLab: plain Keras vs. core.training.run_job.run_job on an accelerator, JAX backend.
#
# Meant for a GPU machine that has JAX (and no TensorFlow), with this repository copied over. Keras and
# the other Python packages LayerLab's core needs are installed from wheels carried in bench/wheels when
# they are missing there (no network needed). Fill bench/wheels BEFORE carrying the tree, with the same
# Python version as the GPU machine (optree has compiled wheels):
#
#     pip download keras==3.15.1 namex optree --no-deps -d bench/wheels
#     # only if the GPU machine lacks them (the script says which are missing):
#     pip download absl-py rich h5py ml-dtypes pydantic pydantic-core annotated-types typing-inspection \
#         babel pandas pyarrow scikit-learn joblib threadpoolctl --no-deps -d bench/wheels
#     # from another Python/OS, add: --python-version 3.11 --platform manylinux2014_x86_64 --only-binary=:all:
#
# Run from anywhere:   bash bench/gpu_check.sh                  (100k-row textbook MLP + 1M-row wide MLP, 2 epochs;
#                                                              then bench/multi_device.py: one run on every
#                                                              accelerator vs one, and on 4 CPU devices)
#                      bash bench/gpu_check.sh --epochs 1 --only wide
# On a CPU, to test:   KERAS_BACKEND=tensorflow bash bench/gpu_check.sh --rows 20000 --epochs 1
# If $OUT is a folder, the output and a JSON file of the results are also written there.
set -euo pipefail
cd "$(dirname "$0")/.."

export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
PY="${PYTHON:-python3}"
WHEELS="${LAYERLAB_WHEELS:-bench/wheels}"  # override only to test this script

install_from_wheels() {
    # pip install from the carried wheels only; a second try without dependency resolution, since the
    # wheel folder holds --no-deps downloads and the machine may have the dependencies already.
    if [ ! -d "$WHEELS" ]; then
        echo "gpu_check: $WHEELS does not exist; cannot install $*. See the top of bench/gpu_check.sh." >&2
        return 1
    fi
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "$@" 2>/dev/null && return 0
    echo "gpu_check: not every dependency of $* is in $WHEELS; installing $* alone (--no-deps)"
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" --no-deps "$@"
}

if ! "$PY" -c "import keras" >/dev/null 2>&1; then
    echo "gpu_check: keras is not importable; installing it from $WHEELS"
    install_from_wheels keras namex optree
fi

# Every module LayerLab's core and this check import, with the package that provides it.
missing=$("$PY" - <<'EOF'
import importlib.util
needed = {"keras": "keras", "numpy": "numpy", "pandas": "pandas", "pydantic": "pydantic",
          "sklearn": "scikit-learn", "pyarrow": "pyarrow", "h5py": "h5py", "rich": "rich",
          "absl": "absl-py", "ml_dtypes": "ml-dtypes", "namex": "namex", "optree": "optree", "babel": "babel",
          "pydantic_core": "pydantic-core", "annotated_types": "annotated-types",
          "typing_inspection": "typing-inspection"}
print(" ".join(pkg for module, pkg in needed.items() if importlib.util.find_spec(module) is None))
EOF
)
if [ -n "$missing" ]; then
    echo "gpu_check: missing Python packages: $missing; trying $WHEELS"
    for package in $missing; do
        install_from_wheels "$package" || echo "gpu_check: no wheel for $package in $WHEELS"
    done
fi
import_errors=$(mktemp)
trap 'rm -f "$import_errors"' EXIT
if ! "$PY" -c "import keras, pandas, pydantic, sklearn, pyarrow; import core.training.run_job" 2>"$import_errors"; then
    echo "gpu_check: LayerLab's core cannot be imported here:" >&2
    tail -5 "$import_errors" >&2
    echo "Add the missing packages' wheels to $WHEELS (see the top of this script) and run it again." >&2
    exit 2
fi
if [ "$KERAS_BACKEND" = "jax" ]; then
    "$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"
fi
"$PY" -c "import keras; from core.runtime.devices import describe_device; print('keras', keras.__version__, '-', describe_device())"

# 1. LayerLab vs plain Keras on the accelerator; 2. one run over every accelerator vs one (skipped, and said so,
# with a single one); 3. the same data-parallel path over 4 CPU devices made on purpose, so that it is
# exercised on this machine even with one GPU (CPU devices share the cores: a path check, not a speed-up).
MULTI_ROWS="${MULTI_ROWS:-1000000}"
status=0
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    "$PY" bench/gpu_check.py --json "$OUT/gpu_check.json" "$@" 2>&1 | tee "$OUT/gpu_check.txt" || status=1
    "$PY" bench/multi_device.py --rows "$MULTI_ROWS" --json "$OUT/multi_device.json" 2>&1 \
        | tee "$OUT/multi_device.txt" || status=1
    if [ "$KERAS_BACKEND" = "jax" ]; then
        JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=4 "$PY" bench/multi_device.py \
            --rows 200000 --epochs 2 --batch-size 256 --json "$OUT/multi_device_cpu.json" 2>&1 \
            | tee "$OUT/multi_device_cpu.txt" || status=1
    fi
    exit "$status"
fi
"$PY" bench/gpu_check.py "$@" || status=1
"$PY" bench/multi_device.py --rows "$MULTI_ROWS" || status=1
if [ "$KERAS_BACKEND" = "jax" ]; then
    JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=4 "$PY" bench/multi_device.py \
        --rows 200000 --epochs 2 --batch-size 256 || status=1
fi
exit "$status"
