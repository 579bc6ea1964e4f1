"""Write the pyproject.toml of a GPU wheel (genmetrics-cu13, genmetrics-cu12) from the project's own.

The GPU wheels are built from the same tree as the CPU wheel, as FAISS builds faiss-cpu and faiss-gpu: one package
(``python/genmetrics``), one CMakeLists.txt. Only the distribution's metadata differs, and PEP 621 allows neither the
name nor (here) the dependencies to be set at build time, so tools/build_wheel.sh --cuda N stages a copy of the
tree and rewrites its pyproject.toml with this script:

* ``name``: ``genmetrics`` -> ``genmetrics-cuN`` (the import name stays ``genmetrics``: install one of the two);
* ``dependencies``: CuPy for that CUDA major (``cupy-cuda13x`` / ``cupy-cuda12x``), the runtime of the GPU engine:
  its tile GEMMs are cuBLAS calls issued through CuPy, and ``genmetrics._cuda`` links the CUDA runtime statically,
  so the wheel needs nothing else from CUDA but the driver (libcuda.so.1, never bundled).

usage: python tools/wheel_variant.py PYPROJECT CUDA_MAJOR      (rewrites PYPROJECT in place)
"""

from __future__ import annotations

import re
import sys

#: The CuPy wheel of each CUDA major: the same requirement as the `cuda` / `cuda13` extras of pyproject.toml.
CUPY = {"12": "cupy-cuda12x>=13", "13": "cupy-cuda13x>=13.6"}


def variant(text: str, major: str) -> str:
    if major not in CUPY:
        raise SystemExit(f"wheel_variant.py: CUDA major {major!r} is not one of {sorted(CUPY)}")
    text, renamed = re.subn(r'(?m)^name = "genmetrics"$', f'name = "genmetrics-cu{major}"', text, count=1)
    text, deps = re.subn(r"(?m)^dependencies = \[$", f'dependencies = [\n    "{CUPY[major]}",', text, count=1)
    if renamed != 1 or deps != 1:
        raise SystemExit('wheel_variant.py: pyproject.toml has no `name = "genmetrics"` or `dependencies = [` line')
    description = re.compile(r'(?m)^(description = ".*?)(")$')
    return description.sub(rf"\1 GPU build for CUDA {major} (sm_80, sm_90 + PTX).\2", text, count=1)


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__.rsplit("usage: ", 1)[1])
    path, major = argv[1], argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(variant(text, major))


if __name__ == "__main__":
    main(sys.argv)
