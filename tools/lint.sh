#!/usr/bin/env bash
# The style and type checks of CI (.ci/run runs this before the tests once tools/.lint-enforced exists):
#   ruff check, ruff format --check (Python: python/, tests/, bench/; settings in pyproject.toml),
#   clang-format --dry-run -Werror (C++ and CUDA: every tracked .cpp/.hpp/.h/.cu/.cuh; settings in .clang-format),
#   mypy (the public package; settings in pyproject.toml's [tool.mypy]).
# Needs the pinned tools of the `lint` extra: pip install -e ".[lint]" or pip install ruff mypy clang-format.
#
#   tools/lint.sh           run every check, report each, exit 1 if any failed
#   tools/lint.sh --fix     apply ruff's fixes and both formatters instead (then review the diff), exit 0
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

PY_PATHS=(python tests bench)
# C++ and CUDA sources: tracked ones in a clone, else whatever find sees (an unpacked sdist)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t CXX_FILES < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cu' '*.cuh')
else
  mapfile -t CXX_FILES < <(find cpp cuda -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
fi

missing=()
for tool in ruff mypy clang-format; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "tools/lint.sh: not installed: ${missing[*]} (pip install -e \".[lint]\")" >&2
  exit 2
fi

if [[ "${1:-}" == "--fix" ]]; then
  ruff check --fix "${PY_PATHS[@]}" || true
  ruff format "${PY_PATHS[@]}"
  ((${#CXX_FILES[@]})) && clang-format -i "${CXX_FILES[@]}"
  echo "tools/lint.sh --fix: done; review 'git diff' and run tools/lint.sh again"
  exit 0
elif [[ $# -gt 0 ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  [[ "$1" == "-h" || "$1" == "--help" ]] && exit 0 || exit 2
fi

failed=()
step() {  # step NAME COMMAND...: run one check, remember a failure, go on with the next
  local name=$1
  shift
  echo "== lint: $name"
  if "$@"; then echo "== lint: $name: ok"; else failed+=("$name"); echo "== lint: $name: FAILED"; fi
}
step "ruff check" ruff check "${PY_PATHS[@]}"
step "ruff format" ruff format --check --diff "${PY_PATHS[@]}"
step "clang-format" clang-format --dry-run -Werror "${CXX_FILES[@]}"
step "mypy" mypy

if ((${#failed[@]})); then
  echo "lint failed: ${failed[*]} (tools/lint.sh --fix applies the formatters and ruff's safe fixes)" >&2
  exit 1
fi
echo "lint: all checks passed"
