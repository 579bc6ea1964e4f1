"""One API style (issue 11, item 5): the signatures and docstrings of every public function, and their examples.

- Data arguments (the arrays a metric is computed on) are positional; every other parameter is keyword-only.
- ``backend``, where a function takes it, is its last parameter (before ``**kernel_params``).
- Data arguments are named alike across the API: ``X``/``Y``, ``real``/``fake``/``train``, ...
- Every parameter is documented in a numpydoc ``Parameters`` section, with its default.
- The ``Examples`` sections run as doctests.
- Every scalar result is a :class:`genmetrics.Score`.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re

import numpy as np
import pytest

import genmetrics as gm

#: The names a data argument may have: the sets (X, Y; real, fake, train; memory_bank, queries), a kernel matrix,
#: a spectrum, per-reference radii, detector scores, the statistics of two Gaussian fits, and what the
#: entropy-controlled OOD scores take (similarities; a likelihood model, its inputs and their features).
DATA_ARGUMENTS = frozenset(
    {
        "X",
        "Y",
        "K",
        "real",
        "fake",
        "train",
        "test",
        "quality",
        "memory_bank",
        "queries",
        "radii",
        "eigenvalues",
        "scores_in",
        "scores_out",
        "similarity",
        "log_likelihood",
        "inputs",
        "features",
        "mu1",
        "sigma1",
        "mu2",
        "sigma2",
        "p_samples",
        "q_samples",
        "p_features",
        "q_features",
        "mu",
        "logvar",
    }
)

PUBLIC_FUNCTIONS = {name: getattr(gm, name) for name in gm.__all__ if inspect.isfunction(getattr(gm, name))}

#: The modules whose public functions carry an ``Examples`` section that runs as a doctest.
MODULES_WITH_EXAMPLES = (
    "genmetrics.accumulate",
    "genmetrics.audit",
    "genmetrics.clustering",
    "genmetrics.curves",
    "genmetrics.diversity",
    "genmetrics.fidelity",
    "genmetrics.frontiers",
    "genmetrics.modes",
    "genmetrics.distances",
    "genmetrics.ood",
    "genmetrics.information",
    "genmetrics.primitives",
    "genmetrics.reference",
    "genmetrics.report.evaluate",
    "genmetrics.support.results",
)

#: The main functions: each has an Examples section.
MAIN_FUNCTIONS = ("vendi", "rke", "prdc", "knn", "fd", "evaluate", "audit")

POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def test_the_public_functions_are_found():
    assert {"vendi", "rke", "prdc", "knn", "fd", "evaluate", "gaussian_kl", "frechet_from_statistics"} <= set(
        PUBLIC_FUNCTIONS
    )


@pytest.mark.parametrize("name", sorted(PUBLIC_FUNCTIONS))
def test_only_data_arguments_are_positional(name):
    for parameter in inspect.signature(PUBLIC_FUNCTIONS[name]).parameters.values():
        assert parameter.kind is not inspect.Parameter.VAR_POSITIONAL, f"{name}: takes *{parameter.name}"
        if parameter.kind in POSITIONAL:
            assert parameter.name in DATA_ARGUMENTS, f"{name}: {parameter.name} is positional but not data"
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            assert parameter.name not in DATA_ARGUMENTS, f"{name}: data argument {parameter.name} is keyword-only"


@pytest.mark.parametrize("name", sorted(PUBLIC_FUNCTIONS))
def test_backend_is_the_last_parameter(name):
    parameters = [
        p
        for p in inspect.signature(PUBLIC_FUNCTIONS[name]).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    names = [p.name for p in parameters]
    if "backend" in names:
        assert names[-1] == "backend", f"{name}: backend is not last in {names}"
        assert parameters[-1].kind is inspect.Parameter.KEYWORD_ONLY and parameters[-1].default is None


#: The data arguments of two sets come in these pairs, in this order.
PAIRS = {
    ("X", "Y"),
    ("real", "fake"),
    ("train", "fake"),
    ("train", "test"),  # then fake: the held-out set of the memorisation tests (ct_score, fls)
    ("X", "quality"),  # a set and one quality score per sample (quality_weighted_vendi)
    ("memory_bank", "queries"),
    ("scores_in", "scores_out"),
    ("log_likelihood", "inputs"),  # a model's log-likelihood before the inputs it scores
    ("p_samples", "q_samples"),
    ("p_features", "q_features"),  # mauve-text's names
    ("mu", "logvar"),
}


@pytest.mark.parametrize("name", sorted(PUBLIC_FUNCTIONS))
def test_data_arguments_are_named_alike(name):
    data = [p.name for p in inspect.signature(PUBLIC_FUNCTIONS[name]).parameters.values() if p.kind in POSITIONAL]
    if len(data) >= 2 and data[:2] != ["mu1", "sigma1"]:
        assert tuple(data[:2]) in PAIRS, f"{name}: data arguments {data[:2]}"


def test_options_cannot_be_passed_by_position():
    X = np.random.default_rng(0).normal(size=(12, 3))
    with pytest.raises(TypeError):
        gm.vendi(X, 2)
    with pytest.raises(TypeError):
        gm.prdc(X, X + 1, 3)
    with pytest.raises(TypeError):
        gm.knn(X, None, 2)


def _documented(doc: str, parameter: inspect.Parameter):
    """The line of a numpydoc Parameters section that documents ``parameter``, or None."""
    shown = "**" + parameter.name if parameter.kind is inspect.Parameter.VAR_KEYWORD else parameter.name
    for line in doc.splitlines():
        names, colon, description = line.partition(" :")
        if [n.strip() for n in names.split(",")].count(shown) and (colon or line.strip() == shown):
            return description if colon else ""
    return None


@pytest.mark.parametrize("name", sorted(PUBLIC_FUNCTIONS))
def test_every_parameter_is_documented_with_its_default(name):
    function = PUBLIC_FUNCTIONS[name]
    doc = inspect.getdoc(function) or ""
    parameters = inspect.signature(function).parameters.values()
    if not parameters:
        return
    assert re.search(r"^Parameters\n-{10}", doc, re.M), f"{name}: no numpydoc Parameters section"
    for parameter in parameters:
        line = _documented(doc, parameter)
        assert line is not None, f"{name}: parameter {parameter.name} is not documented"
        if parameter.default is not inspect.Parameter.empty:
            assert "default" in line, f"{name}: the default of {parameter.name} is not documented"


@pytest.mark.parametrize("name", MAIN_FUNCTIONS)
def test_main_functions_have_examples(name):
    assert re.search(r"^Examples\n-{8}", inspect.getdoc(PUBLIC_FUNCTIONS[name]), re.M), name


@pytest.mark.parametrize("module", MODULES_WITH_EXAMPLES)
def test_examples_run(module):
    result = doctest.testmod(
        importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE, raise_on_error=False, verbose=False
    )
    assert result.attempted > 0, f"{module}: no examples found"
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} examples failed (see the output)"


def test_scalar_results_are_scores():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(25, 4)) + 0.2
    scores = {
        "vendi": gm.vendi(X),
        "rke": gm.rke(X),
        "rrke": gm.rrke(X, Y),
        "intdiv": gm.intdiv(X),
        "vendi_from_gram": gm.vendi_from_gram(gm.gram(X)),
        "vendi_from_eigenvalues": gm.vendi_from_eigenvalues([0.5, 0.5]),
        "kernel_sum": gm.kernel_sum(X),
        "fd": gm.fd(X, Y),
        "gaussian_kl": gm.gaussian_kl(X, Y),
        "mmd": gm.mmd(X, Y),
        "knn_kl_divergence": gm.knn_kl_divergence(X, Y),
        "knn_entropy": gm.knn_entropy(X),
        "authenticity": gm.authenticity(X, Y),
        "frechet_from_statistics": gm.frechet_from_statistics(X.mean(0), np.cov(X.T), Y.mean(0), np.cov(Y.T)),
    }
    for name, score in scores.items():
        assert type(score) is gm.Score, name
        assert set(score.as_dict()) >= {"value", "metric", "backend", "n", "details"}, name
    assert gm.DiversityScore is gm.Score  # the 0.1.0 name still works


def test_gaussian_kl_is_the_kl_of_fake_from_real():
    """gaussian_kl(real, fake) = KL(N_fake || N_real): real is the reference (issue 11 renamed p, q)."""
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(200, 1)), 2.0 * rng.normal(size=(150, 1)) + 1.0
    s_real, s_fake = np.var(real, ddof=1), np.var(fake, ddof=1)
    m_real, m_fake = real.mean(), fake.mean()
    closed = 0.5 * (s_fake / s_real + (m_real - m_fake) ** 2 / s_real - 1 + np.log(s_real / s_fake))
    assert gm.gaussian_kl(real, fake) == pytest.approx(closed, rel=1e-10)
    with pytest.raises(ValueError, match="^fake: "):
        gm.gaussian_kl(real, fake[:1])
