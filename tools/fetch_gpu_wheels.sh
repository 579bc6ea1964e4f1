#!/usr/bin/env bash
# Fetch, on a machine with network, the wheels that bench/gpu_check.sh installs on a GPU machine without it:
# scipy-openblas32 (the BLAS; not on the GPU machines of this project), and scikit-build-core and pybind11 (the
# build requirements, in case the machine lacks them or has them too old). Pure-Python or manylinux x86-64
# wheels for the GPU machine's Python, without their dependencies (packaging and pathspec are there).
#
# usage: tools/fetch_gpu_wheels.sh [DIR] [PYTHON_VERSION]      (defaults: ./.whl and 3.12)
# then carry DIR to the GPU machine beside the working tree and run: bench/gpu_check.sh --wheels DIR OUT_DIR
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
DIR=${1:-./.whl}
PYV=${2:-3.12}
PY=${PYTHON:-python3}
mkdir -p "$DIR"
# one version of each: an older wheel left beside a newer one would make pip's choice unclear
rm -f "$DIR"/scipy_openblas32-*.whl "$DIR"/scikit_build_core-*.whl "$DIR"/pybind11-*.whl
"$PY" -m pip download --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DIR" \
  "scipy-openblas32>=0.3.27" "scikit-build-core>=0.10" "pybind11>=2.12"
ls -l "$DIR"
