"""Sphinx configuration of the genmetrics documentation (issue 18, item 3).

Build: ``bash tools/build_docs.sh`` (installs the ``docs`` extra, then
``sphinx-build -W --keep-going -b html docs docs/_build/html``).

The API reference is generated at build time from the package itself, so that it cannot fall behind: every
name in ``genmetrics.__all__`` and the public names of the subpackages (their ``__all__``, or the module-level
names they define when they have none) get an autosummary page of their own, built from their numpydoc
docstrings. The pages are written to ``docs/api/`` (ignored by git) by :func:`write_api_pages` below.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import inspect
import re
import sys
import types
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# The package: the source tree when its compiled engine has been built in place (the development loop of
# CONTRIBUTING.md), else the installed one (CI: `pip install .` from the clean clone). Either way the docs
# document the code of this checkout, as long as the installed package was built from it.
if glob.glob(str(ROOT / "python" / "genmetrics" / "_core*")):
    sys.path.insert(0, str(ROOT / "python"))

import genmetrics as gm  # noqa: E402

project = "genmetrics"
author = "the genmetrics developers"
copyright = "2026, the genmetrics developers"
version = release = gm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# autodoc / autosummary: one page per public function, class and constant; members documented on the class page
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autodoc_member_order = "bysource"
# optional dependencies the pages import (genmetrics.torch imports torch; the rest import lazily): mocked when
# missing, so that the docs extra alone builds the site
autodoc_mock_imports = [m for m in ("torch", "dask", "distributed") if importlib.util.find_spec(m) is None]
# numpydoc: the docstrings' sections; class members are listed by the autosummary class template instead
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False
# the docstrings' examples run as doctests in tests/test_api_style.py; shown here as written
numpydoc_use_plots = False

myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 0
suppress_warnings = [
    # feature_table.md and bench/RESULTS.md are plain GitHub markdown: their local links point at files of the
    # repository, not at documents of this site
    "myst.xref_missing",
    # feature_table.md's notes are a level-3 heading under its title, as GitHub renders them
    "myst.header",
]

html_theme = "furo"
html_title = f"genmetrics {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# ----------------------------------------------------------------------------------------------------------------
# The API reference, generated from the package

#: Sections of the top-level reference: (title, the modules whose objects go there, a line of introduction).
#: A name of ``genmetrics.__all__`` defined in none of these modules lands in "Other" (nothing is left out).
SECTIONS = [
    (
        "Evaluation and reports",
        ("genmetrics.report", "genmetrics.report.evaluate", "genmetrics.reference", "genmetrics.accumulate"),
        "Every metric the inputs allow in one call, precomputed real sides, streaming accumulation.",
    ),
    (
        "Diversity",
        ("genmetrics.diversity", "genmetrics.curves", "genmetrics.modes"),
        "Vendi scores of every order, RKE and RRKE, internal diversity, curves against n, diversity modes.",
    ),
    (
        "Fidelity, coverage and memorisation",
        ("genmetrics.fidelity", "genmetrics.audit"),
        "k-NN ball metrics (PRDC, improved precision/recall, TopP&R, rarity), alpha-precision, authenticity, "
        "the C_T copying test, the model audit.",
    ),
    (
        "Distances between distributions and information",
        ("genmetrics.distances", "genmetrics.information", "genmetrics.frontiers", "genmetrics.clustering"),
        "FD, FD-infinity, KID, MMD, Gaussian KL, sliced Wasserstein, FLS, k-NN divergences and entropy, MAUVE, "
        "PRD curves and the k-means quantiser.",
    ),
    (
        "Out of distribution",
        ("genmetrics.ood",),
        "The kNN OOD score, AUROC / AUPR / FPR at 95 % TPR, entropy-controlled scores.",
    ),
    (
        "Engine primitives and backends",
        ("genmetrics.primitives", "genmetrics.engine", "genmetrics.distributed"),
        "Gram matrices and their reductions, exact k-NN and radius queries, the available backends.",
    ),
    (
        "Result types",
        ("genmetrics.support.results",),
        "What the metrics return: numbers that print well and remember how they were computed.",
    ),
]

#: Where the constants of ``genmetrics.__all__`` are defined (a constant carries no ``__module__``).
CONSTANT_MODULES = {"METRICS": "genmetrics.report.evaluate", "MMD_PRESETS": "genmetrics.distances"}

#: The subpackages with a page of their own: (module, title).
SUBPACKAGES = [
    ("genmetrics.torch", "genmetrics.torch: differentiable Vendi and RKE"),
    ("genmetrics.distributed", "genmetrics.distributed: the metrics on a Dask cluster"),
    ("genmetrics.accumulate", "genmetrics.accumulate: streaming accumulation"),
    ("genmetrics.reference", "genmetrics.reference: precomputed real sides"),
    ("genmetrics.frontiers", "genmetrics.frontiers: MAUVE and PRD curves"),
    ("genmetrics.clustering", "genmetrics.clustering: k-means on the engine"),
    ("genmetrics.engine", "genmetrics.engine: backend dispatch"),
]

#: The compat shims, each on a page of its own: (module, the package it replaces).
COMPAT = [
    ("genmetrics.compat.vendi_score", "vendi-score 0.0.3"),
    ("genmetrics.compat.rke_score", "rke-score 0.0.7"),
    ("genmetrics.compat.prdc", "prdc 0.2"),
    ("genmetrics.compat.pytorch_fid", "pytorch-fid 0.3.0"),
    ("genmetrics.compat.cleanfid", "clean-fid 0.1.35"),
    ("genmetrics.compat.torchmetrics", "torchmetrics 1.9 (FID, KID)"),
]


def load(modname: str) -> types.ModuleType:
    """Import a module of the package, its missing optional dependencies mocked (``autodoc_mock_imports``)."""
    from sphinx.ext.autodoc.mock import mock

    with mock(autodoc_mock_imports):
        return importlib.import_module(modname)


def public_names(module: types.ModuleType) -> list[str]:
    """The public names of a module: its ``__all__``, else the non-underscore names it defines itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        home = getattr(value, "__module__", None)
        if home is None and isinstance(value, (int, float, str, tuple, frozenset, dict, types.MappingProxyType)):
            names.append(name)  # a constant defined here
        elif isinstance(home, str) and home == module.__name__:
            names.append(name)
    return names


def home_module(name: str) -> str:
    value = getattr(gm, name)
    if inspect.ismodule(value):
        return value.__name__
    return CONSTANT_MODULES.get(name) or getattr(value, "__module__", "") or ""


def heading(text: str, char: str, overline: bool = False) -> str:
    line = char * len(text)
    return f"{line}\n{text}\n{line}\n" if overline else f"{text}\n{line}\n"


def autosummary(module: str, names: list[str]) -> str:
    body = "\n".join(f"   {n}" for n in names)
    return f".. currentmodule:: {module}\n\n.. autosummary::\n   :toctree: generated\n   :nosignatures:\n\n{body}\n"


def top_level_objects() -> dict[int, str]:
    """id(object) -> its name in ``genmetrics``: objects documented there are not documented twice."""
    return {id(getattr(gm, n)): n for n in gm.__all__ if not isinstance(getattr(gm, n), (tuple, str, int))}


def documented_here(mod: types.ModuleType, name: str, top: dict[int, str]) -> bool:
    """Whether a subpackage's public name gets its own page: not when it is a top-level object (documented once,
    under ``genmetrics.``); compat shims always (their functions are their own)."""
    value = getattr(mod, name)
    return mod.__name__.startswith("genmetrics.compat") or id(value) not in top or isinstance(value, (tuple, str, int))


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_api_pages() -> None:
    api = DOCS / "api"
    top = top_level_objects()
    # the top level, in sections
    placed: set[str] = set()
    parts = [
        heading("API reference", "=", overline=True),
        "Every public name of genmetrics has a page of its own, generated from its numpydoc docstring. The "
        "``Examples`` sections of the docstrings run as doctests in ``tests/test_api_style.py``; the style the "
        "signatures follow (data arguments positional, options keyword-only, ``backend=`` last) is checked "
        "there too.\n",
        ".. toctree::\n   :maxdepth: 1\n   :caption: Subpackages\n\n"
        + "".join(f"   {m.split('.')[-1]}\n" for m, _ in SUBPACKAGES)
        + "   compat\n",
        heading("genmetrics", "-"),
        ".. automodule:: genmetrics\n   :no-members:\n",
    ]
    sections = [*SECTIONS, ("Other", (), "Public names not grouped above.")]
    for title, modules, intro in sections:
        if title == "Other":
            names = [n for n in gm.__all__ if n not in placed and not inspect.ismodule(getattr(gm, n))]
        else:
            names = [n for n in gm.__all__ if home_module(n) in modules and not inspect.ismodule(getattr(gm, n))]
        placed.update(names)
        if not names:
            continue
        parts += [heading(title, "~"), intro + "\n", autosummary("genmetrics", names)]
    parts += [
        heading("Subpackage", "~"),
        "``genmetrics.distributed`` (a module in ``genmetrics.__all__``): :doc:`distributed`.\n",
    ]
    write_if_changed(api / "index.rst", "\n".join(parts))

    # the subpackages
    for modname, title in SUBPACKAGES:
        mod = load(modname)
        names = public_names(mod)
        own = [n for n in names if documented_here(mod, n, top)]
        shared = [n for n in names if n not in own]
        parts = [heading(title, "="), f".. automodule:: {modname}\n   :no-members:\n"]
        if shared:
            refs = ", ".join(f":obj:`{modname}.{n} <genmetrics.{top[id(getattr(mod, n))]}>`" for n in shared)
            parts.append(f"Also importable from ``{modname}``, documented under the top level: {refs}.\n")
        if own:
            parts += [heading("Public names", "-"), autosummary(modname, own)]
        write_if_changed(api / f"{modname.split('.')[-1]}.rst", "\n".join(parts))

    # the compat shims: an index and a page each (the module docstring says what the shim fixes)
    parts = [
        heading("genmetrics.compat: drop-in replacements", "="),
        ".. automodule:: genmetrics.compat\n   :no-members:\n",
        ".. toctree::\n   :maxdepth: 1\n\n" + "".join(f"   compat_{m.split('.')[-1]}\n" for m, _ in COMPAT),
    ]
    write_if_changed(api / "compat.rst", "\n".join(parts))
    for modname, replaces in COMPAT:
        mod = load(modname)
        parts = [
            heading(f"{modname}: replaces {replaces}", "="),
            f".. automodule:: {modname}\n   :no-members:\n",
            heading("Functions and classes", "-"),
            autosummary(modname, public_names(mod)),
        ]
        write_if_changed(api / f"compat_{modname.split('.')[-1]}.rst", "\n".join(parts))

    # names that differ only in case (KID and kid, PRDC and prdc, ...) would share a file on macOS and Windows
    lower: dict[str, list[str]] = {}
    for name in gm.__all__:
        lower.setdefault(name.lower(), []).append(name)
    for group in lower.values():
        for name in group:
            if len(group) > 1 and inspect.isclass(getattr(gm, name)):
                autosummary_filename_map[f"genmetrics.{name}"] = f"genmetrics.{name}-class"


autosummary_filename_map: dict[str, str] = {}
write_api_pages()


# ----------------------------------------------------------------------------------------------------------------
# Plain-text formulas in the docstrings

#: Inline markup that keeps its text as written: inline literals, roles, interpreted text.
_INLINE = re.compile(r"(``.+?``|:[\w:+-]+:`[^`]*`|`[^`]*`_{0,2})")


def escape_bars(app, what, name, obj, options, lines):  # noqa: ANN001
    """Escape the ``|`` of norms and absolute values (``|x - y|``, ``||mu1 - mu2||^2``) in the docstrings.

    The docstrings write formulas in plain text, readable in ``help()``; reST would read ``|x - y|`` as a
    substitution reference (an error). Bars in literal blocks, doctests, inline literals and roles are left
    alone; there are no grid tables or line blocks in the docstrings.
    """
    literal_indent = None  # the indentation of the paragraph that opened a literal block (``::``)
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        if stripped.startswith(">>>"):
            in_doctest = True
        elif not stripped:
            in_doctest = False
        if not in_doctest and "|" in line:
            parts = _INLINE.split(line)
            for j in range(0, len(parts), 2):  # the even parts lie outside inline markup
                parts[j] = re.sub(r"(?<!\\)\|", r"\\|", parts[j])
            lines[i] = "".join(parts)
        if not in_doctest and stripped.endswith("::"):
            literal_indent = indent


def check_every_public_name_has_a_page(app, exception):  # noqa: ANN001
    """After the build: warn (an error under -W) for every public name without its generated page."""
    if exception is not None:
        return
    from sphinx.util import logging

    log = logging.getLogger("genmetrics.docs")
    generated = DOCS / "api" / "generated"
    expected = [f"genmetrics.{n}" for n in gm.__all__ if not inspect.ismodule(getattr(gm, n))]
    top = top_level_objects()
    for modname, _ in SUBPACKAGES + COMPAT:
        mod = load(modname)
        expected += [f"{modname}.{n}" for n in public_names(mod) if documented_here(mod, n, top)]
    for full in expected:
        stem = autosummary_filename_map.get(full, full)
        if not (generated / f"{stem}.rst").exists():
            log.warning(f"no API page for the public name {full}")
    log.info(f"genmetrics docs: {len(expected)} public names, each with its page")


def setup(app):  # noqa: ANN001, ANN201
    app.connect("autodoc-process-docstring", escape_bars)
    app.connect("build-finished", check_every_public_name_has_a_page)
    return {"parallel_read_safe": True}
