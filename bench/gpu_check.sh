#!/usr/bin/env bash
# The GPU check of genmetrics, in one command, on a machine with an NVIDIA GPU and no network access:
# builds and installs the package from this working tree with the machine's own toolchain (nvcc, CuPy, CMake),
# runs the GPU tests (tests/test_gpu.py) and a quick pass of the GPU benchmarks (bench/gpu.py --quick), and
# writes everything to OUT_DIR.
#
# usage: bench/gpu_check.sh [options] OUT_DIR
#
#   OUT_DIR              where the logs and summary.txt go (created; files in it are overwritten)
#   --wheels DIR         wheels of what the machine lacks, installed with pip --no-index (default: $GM_WHEELS,
#                        else .whl/ at the repository's root): scipy-openblas32, and scikit-build-core /
#                        pybind11 if missing or too old there (tools/fetch_gpu_wheels.sh fetches them)
#   --python PY          the interpreter to build and test with (default: $PYTHON, else python3)
#   --cuda MODE          GENMETRICS_CUDA for the build: ON (default: fail without the CUDA engine) or AUTO
#   --no-build           skip the build: test the genmetrics already installed for PY (a rerun)
#   --no-tests           skip tests/test_gpu.py
#   --no-bench           skip bench/gpu.py --quick
#   --budget S           seconds for the whole check (default 540); each step gets at most what is left
#   --build-timeout S    (default 240)   --tests-timeout S (default 240)   --bench-timeout S (default 240)
#   -h, --help           this text
#
# Files in OUT_DIR: summary.txt (one line per step: ok / FAILED rc / TIMEOUT / skipped, with seconds, then the
# machine, the backends and the last lines of the tests and the bench), env.txt, build.log, backends.txt,
# tests.log, bench.log. Exit status: 0 when every step that ran passed, 1 otherwise, 2 on a usage error.
# A failing step is recorded and the next one runs (the bench still runs when the tests fail; both are skipped
# when the build fails).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench/gpu_check.sh: $*" >&2; echo "(bench/gpu_check.sh --help for the options)" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHEELS=${GM_WHEELS:-$ROOT/.whl}
PY=${PYTHON:-python3}
CUDA_MODE=ON
DO_BUILD=1 DO_TESTS=1 DO_BENCH=1
BUDGET=540 BUILD_TIMEOUT=240 TESTS_TIMEOUT=240 BENCH_TIMEOUT=240
OUT=""

need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
need_seconds() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 takes a whole number of seconds, not '$2'"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --wheels) need_value "$@"; WHEELS=$2; shift 2 ;;
    --wheels=*) WHEELS=${1#*=}; shift ;;
    --python) need_value "$@"; PY=$2; shift 2 ;;
    --python=*) PY=${1#*=}; shift ;;
    --cuda) need_value "$@"; CUDA_MODE=$2; shift 2 ;;
    --cuda=*) CUDA_MODE=${1#*=}; shift ;;
    --no-build) DO_BUILD=0; shift ;;
    --no-tests) DO_TESTS=0; shift ;;
    --no-bench) DO_BENCH=0; shift ;;
    --budget | --build-timeout | --tests-timeout | --bench-timeout)
      need_value "$@"; need_seconds "$1" "$2"
      case "$1" in
        --budget) BUDGET=$2 ;; --build-timeout) BUILD_TIMEOUT=$2 ;;
        --tests-timeout) TESTS_TIMEOUT=$2 ;; --bench-timeout) BENCH_TIMEOUT=$2 ;;
      esac
      shift 2 ;;
    --) shift; [[ $# -eq 1 ]] || die "one OUT_DIR expected after --"; OUT=$1; shift ;;
    -*) die "unknown option: $1" ;;
    *) [[ -z "$OUT" ]] || die "one OUT_DIR expected, got '$OUT' and '$1'"; OUT=$1; shift ;;
  esac
done
[[ -n "$OUT" ]] || die "OUT_DIR is missing"
case "${CUDA_MODE^^}" in ON | AUTO) CUDA_MODE=${CUDA_MODE^^} ;; *) die "--cuda takes ON or AUTO, not '$CUDA_MODE'" ;; esac
command -v "$PY" >/dev/null 2>&1 || die "no interpreter '$PY' (--python)"
command -v timeout >/dev/null 2>&1 || die "needs coreutils' timeout"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# relative paths (the wheel folder) are taken from where the script was called, then everything runs at the root
if [[ -d "$WHEELS" ]]; then WHEELS=$(cd "$WHEELS" && pwd); fi
cd "$ROOT"
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 4)}
# the CUDA toolkit's usual home, when its nvcc is not on PATH
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

SUMMARY="$OUT/summary.txt"
START=$SECONDS
FAILED=0
: >"$SUMMARY"
log() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME LOGFILE TIMEOUT COMMAND...: runs COMMAND (its output to LOGFILE) under the smaller of TIMEOUT and what
# is left of the budget, and records the result in summary.txt; never stops the script.
LAST_RC=0
step() {
  local name=$1 logfile=$2 limit=$3
  shift 3
  local left=$((BUDGET - (SECONDS - START)))
  if ((left < 10)); then
    log "$(printf '%-8s skipped: the budget of %d s is spent' "$name" "$BUDGET")"
    FAILED=1 LAST_RC=124
    return 0
  fi
  ((limit > left)) && limit=$left
  echo "== $name (at most $limit s): $*" | tee -a "$logfile"
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" >>"$logfile" 2>&1 </dev/null || rc=$?
  local took=$((SECONDS - t0)) status
  if ((rc == 0)); then
    status="ok"
  elif ((rc == 124 || rc == 137)); then
    status="TIMEOUT after $limit s"
  elif [[ $name == tests && $rc == 5 ]]; then
    status="FAILED (no tests ran)"
  elif [[ $name == import && $rc == 3 ]]; then
    status="FAILED (no cuda backend)"
  else
    status="FAILED (exit $rc)"
  fi
  ((rc == 0)) || FAILED=1
  LAST_RC=$rc
  log "$(printf '%-8s %-22s %4d s   %s' "$name" "$status" "$took" "${logfile#"$OUT"/}")"
  return 0
}
skip() { log "$(printf '%-8s skipped: %s' "$1" "$2")"; }

log "genmetrics GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(hostname), in $ROOT"
if COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
else
  COMMIT="unknown (no git repository here)"
fi
log "commit: $COMMIT"
log ""

# --- the machine -----------------------------------------------------------------------------------------------
{
  echo "== nvidia-smi"; nvidia-smi 2>&1 || echo "(nvidia-smi failed or is missing)"
  echo "== nvcc"; nvcc --version 2>&1 || echo "(no nvcc on PATH)"
  echo "== host compiler"; "${CXX:-c++}" --version 2>&1 | head -1 || echo "(no c++)"
  echo "== cmake"; cmake --version 2>&1 | head -1 || echo "(no cmake on PATH)"
  echo "== python"; "$PY" -c 'import sys; print(sys.executable, sys.version)'
  echo "== packages"
  "$PY" -m pip list 2>/dev/null | grep -i -E '^(numpy|cupy|scikit.build.core|pybind11|scipy.openblas32|tqdm|pytest|hypothesis|cmake|ninja|torch|genmetrics) ' || true
  echo "== wheel folder: $WHEELS"; ls -l "$WHEELS" 2>&1 || true
} >"$OUT/env.txt" 2>&1
GPU=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
NVCC=$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || true)
CUPY=$("$PY" -c 'import cupy; print(cupy.__version__)' 2>/dev/null || echo "not importable")
log "machine: GPU ${GPU:-none found}; nvcc ${NVCC:-not found}; $("$PY" -c 'import platform; print("Python", platform.python_version())'); CuPy $CUPY"
log ""

# --- build and install -----------------------------------------------------------------------------------------
if ((DO_BUILD)); then
  # build requirements from pyproject.toml: those missing or too old here come from the wheel folder
  mapfile -t BUILD_REQS < <("$PY" - <<'EOF'
import re
try:
    import tomllib
    with open("pyproject.toml", "rb") as f:
        print("\n".join(tomllib.load(f)["build-system"]["requires"]))
except ImportError:  # Python < 3.11: the one line of pyproject.toml
    text = open("pyproject.toml").read()
    print("\n".join(re.findall(r'"([^"]+)"', re.search(r"requires\s*=\s*\[(.*?)\]", text, re.S).group(1))))
EOF
  )
  WHEEL_ARGS=(--no-index)
  if [[ -d "$WHEELS" ]]; then
    WHEEL_ARGS+=(--find-links "$WHEELS")
  else
    echo "(no wheel folder $WHEELS: the build requirements must be installed already)" >>"$OUT/build.log"
  fi
  step prereqs "$OUT/build.log" 120 "$PY" -m pip install "${WHEEL_ARGS[@]}" "${BUILD_REQS[@]}"
  if ((LAST_RC == 0)); then
    step build "$OUT/build.log" "$BUILD_TIMEOUT" "$PY" -m pip install -v "${WHEEL_ARGS[@]}" --no-build-isolation \
      --force-reinstall --no-deps -Ccmake.define.GENMETRICS_CUDA="$CUDA_MODE" "$ROOT"
  else
    skip build "the build requirements could not be installed (build.log; wheels in --wheels DIR?)"
  fi
  BUILT=$LAST_RC
else
  skip prereqs "--no-build"
  skip build "--no-build: testing the installed genmetrics"
  BUILT=0
fi

# --- what got installed ---------------------------------------------------------------------------------------
# run from OUT so that the installed package is imported, not python/genmetrics of the tree. Exit 1: genmetrics
# does not import; 3: it imports but the CUDA engine is not available (a failure with --cuda ON)
PROBE=$(mktemp "${TMPDIR:-/tmp}/gpu_check_probe.XXXXXX.py")
trap 'rm -f "$PROBE"' EXIT
cat >"$PROBE" <<'EOF_PY'
import sys

try:
    import genmetrics as gm
except Exception as e:  # noqa: BLE001 - any failure to import is the finding
    print(f"genmetrics does not import: {type(e).__name__}: {e}")
    sys.exit(1)
print("genmetrics", gm.__version__, "from", gm.__file__)
available = {}
for name, state in sorted(gm.backends().items()):
    ok, why = state if isinstance(state, tuple) and len(state) == 2 else (None, state)
    available[name] = ok
    print(f"  backend {name}: {'available' if ok else 'NOT available'}: {why}")
try:
    import cupy

    print(f"  CuPy {cupy.__version__}, {cupy.cuda.runtime.getDeviceCount()} device(s)")
except Exception as e:  # noqa: BLE001
    print(f"  CuPy: {type(e).__name__}: {e}")
sys.exit(0 if available.get("cuda") or sys.argv[1] != "ON" else 3)
EOF_PY
step import "$OUT/backends.txt" 60 bash -c 'cd "$1" && exec "$2" "$3" "$4"' _ "$OUT" "$PY" "$PROBE" "$CUDA_MODE"
IMPORTED=$LAST_RC
grep -v '^== ' "$OUT/backends.txt" 2>/dev/null | sed 's/^/  /' >>"$SUMMARY" || true

# --- tests and bench -------------------------------------------------------------------------------------------
if ((BUILT != 0 || IMPORTED == 1 || IMPORTED == 124 || IMPORTED == 137)); then
  skip tests "the package did not build or import"
  skip bench "the package did not build or import"
else
  if ((DO_TESTS)); then
    step tests "$OUT/tests.log" "$TESTS_TIMEOUT" "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py
  else
    skip tests "--no-tests"
  fi
  if ((DO_BENCH)); then
    step bench "$OUT/bench.log" "$BENCH_TIMEOUT" "$PY" bench/gpu.py --quick
    # bench/gpu.py exits 0 with one line when it finds no GPU: not a pass for a GPU check
    if ((LAST_RC == 0)) && grep -q 'GPU benchmarks skipped' "$OUT/bench.log"; then
      FAILED=1
      log "bench    FAILED: it ran, but found no GPU or CuPy (bench.log)"
    fi
  else
    skip bench "--no-bench"
  fi
fi

# --- summary -----------------------------------------------------------------------------------------------------
{
  if [[ -s "$OUT/tests.log" ]]; then
    echo ""; echo "tests (last lines of tests.log):"; tail -n 5 "$OUT/tests.log" | sed 's/^/  /'
  fi
  if [[ -s "$OUT/bench.log" ]]; then
    echo ""; echo "bench (last lines of bench.log):"; tail -n 8 "$OUT/bench.log" | sed 's/^/  /'
  fi
  echo ""
  if ((FAILED)); then echo "result: FAILED ($((SECONDS - START)) s)"; else echo "result: ok ($((SECONDS - START)) s)"; fi
} | tee -a "$SUMMARY"
exit $((FAILED ? 1 : 0))
