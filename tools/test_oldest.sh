#!/usr/bin/env bash
# The supported floor, tested: install genmetrics with the oldest versions pyproject.toml declares and run a fast
# subset of the suite against it (from outside the source tree).
#
#   tools/test_oldest.sh                 the oldest declared Python (requires-python) when pyenv has it, else the
#                                        running one; with the oldest numpy declared, or for a newer Python the
#                                        oldest numpy release that has wheels for it (never older than the floor)
#   tools/test_oldest.sh --python PATH   that interpreter instead
#   --tests "FILES..."                   other test files (default: the fast subset below)
#   --head                               install and test the committed HEAD (git archive), not the working tree
#
# Also at their floors: scipy-openblas32 and tqdm. Build requirements are the current ones (pip's build isolation):
# the floor tested is the run-time one. Prints the versions used and the time taken.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/snapshot.sh
source tools/snapshot.sh
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
HEAD=0 PYTHON_ARG="" TEST_FILES="tests/test_primitives.py tests/test_engine.py tests/test_validation.py tests/test_cli.py tests/test_diversity.py tests/test_fidelity.py"
while (($#)); do
  case "$1" in
    --python) PYTHON_ARG=${2:?}; shift 2 ;;
    --tests) TEST_FILES=${2:?}; shift 2 ;;
    --head) HEAD=1; shift ;;
    *) echo "tools/test_oldest.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
HOST=$("${PYTHON:-python}" -c 'import sys; print(sys.executable)')

# the declared floors, read from pyproject.toml
read -r PY_FLOOR NUMPY_FLOOR OPENBLAS_FLOOR TQDM_FLOOR < <("$HOST" - <<'EOF'
import re
text = open("pyproject.toml", encoding="utf-8").read()
def floor(pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        raise SystemExit(f"pyproject.toml: no match for {pattern}")
    return m.group(1)
print(floor(r'^requires-python = ">=([0-9.]+)"'), floor(r'"numpy>=([0-9.]+)"'),
      floor(r'"scipy-openblas32>=([0-9.]+)"'), floor(r'"tqdm>=([0-9.]+)"'))
EOF
)

# the interpreter: --python, else the floor's newest patch release from pyenv, else the running Python
PY=$PYTHON_ARG
if [[ -z "$PY" ]] && command -v pyenv >/dev/null; then
  v=$(pyenv versions --bare 2>/dev/null | grep -E "^${PY_FLOOR//./\\.}\.[0-9]+$" | sort -V | tail -1 || true)
  [[ -n "$v" ]] && PY="$(pyenv root)/versions/$v/bin/python"
fi
if [[ -z "$PY" ]]; then
  PY=$HOST
  echo "== test_oldest: Python $PY_FLOOR not found (pyenv install $PY_FLOOR); testing the floor of numpy on $("$PY" -V)"
fi
PYV=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# the first numpy release with wheels for each CPython (the floor cannot be installed without a compiler there)
NUMPY=$("$HOST" - "$NUMPY_FLOOR" "$PYV" <<'EOF'
import sys
first = {"3.9": "1.19.3", "3.10": "1.21.3", "3.11": "1.23.2", "3.12": "1.26.0", "3.13": "2.1.0", "3.14": "2.3.2"}
floor, py = sys.argv[1], sys.argv[2]
key = lambda v: tuple(int(p) for p in v.split("."))
print(max(floor, first.get(py, floor), key=key))
EOF
)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/genmetrics-oldest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
t0=$(date +%s)
"$PY" -m venv "$WORK/venv"
VPY=$WORK/venv/bin/python
"$VPY" -m pip install --quiet --upgrade pip
# numpy and its peers at their floors, binary only; then the package (its dependencies are satisfied already)
"$VPY" -m pip install --quiet --only-binary=:all: "numpy==$NUMPY" "scipy-openblas32==$OPENBLAS_FLOOR.*" \
  "tqdm==$TQDM_FLOOR" "pytest>=7" "hypothesis>=6.80"
# the package and its tests from one snapshot (HEAD, or the working tree without ignored files such as build/)
snapshot_sources "$WORK/src" "$HEAD"
"$VPY" -m pip install --quiet "$WORK/src" -Ccmake.define.GENMETRICS_CUDA=OFF
INSTALL_S=$(($(date +%s) - t0))
"$VPY" - <<'EOF'
import sys, importlib.metadata as m
versions = ", ".join(f"{name} {m.version(name)}" for name in ("numpy", "scipy-openblas32", "tqdm", "genmetrics"))
print(f"== test_oldest: Python {sys.version.split()[0]}, {versions}")
EOF

# the tests run from a copy, so `import genmetrics` finds the installed package, not python/ of this tree
mkdir -p "$WORK/run"
cp -r "$WORK/src/tests" "$WORK/src/examples" "$WORK/run/"
cd "$WORK/run"
printf '[pytest]\ntestpaths = tests\npythonpath = tests\nmarkers =\n    gpu: needs an NVIDIA GPU and CuPy\n' >pytest.ini
"$VPY" -c 'import genmetrics as gm, sys; assert sys.argv[1] in gm.__file__, gm.__file__; assert gm.backends()["cpu"][0], gm.backends()' "$WORK/venv"
t0=$(date +%s)
# shellcheck disable=SC2086  # TEST_FILES is a list of paths
"$VPY" -m pytest -q -p no:cacheprovider -m "not gpu" $TEST_FILES
echo "== test_oldest: Python $PYV, numpy $NUMPY: install ${INSTALL_S} s, tests $(($(date +%s) - t0)) s"
