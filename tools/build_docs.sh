#!/usr/bin/env bash
# The documentation (issue 18, item 3): installs the `docs` extra of pyproject.toml (pinned Sphinx, numpydoc,
# myst-parser, furo) and builds docs/ with warnings as errors into docs/_build/html.
#
#   bash tools/build_docs.sh            # install the extra's packages, then build
#   bash tools/build_docs.sh --no-install
#
# genmetrics itself must be importable: the source tree when its engine is built in place (CONTRIBUTING.md's
# editable install), else the installed package (CI: `pip install .` of this checkout). Only the extra's
# requirements are installed here, not genmetrics again (that would recompile the engine). The API reference is
# generated from the package at build time (docs/conf.py); torch and dask, when missing, are mocked.
set -euo pipefail
cd "$(dirname "$0")/.."
install=1
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    *) echo "build_docs.sh: unknown argument $arg (use --no-install)" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
if [[ $install == 1 ]]; then
  # the requirements of [project.optional-dependencies] docs, read from pyproject.toml
  mapfile -t reqs < <(python - <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["docs"]))
PY
)
  python -m pip install --quiet "${reqs[@]}"
fi
rm -rf docs/_build docs/api
python -m sphinx -W --keep-going -b html docs docs/_build/html
echo "== docs: built in $(( $(date +%s) - start )) s, no warnings: docs/_build/html/index.html"
