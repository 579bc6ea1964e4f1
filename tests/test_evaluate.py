"""gm.evaluate and its Report: the demo's failures are caught by the right metrics, the report's API and exports,
the warnings it collects, the choice of metrics, and that every number is the individual function's own.

Fast (a few seconds): sets of a few hundred rows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.report.demo import make_demo
from genmetrics.report.evaluate import (
    EXPENSIVE,
    METRIC_GROUPS,
    METRICS,
    NEEDS_TRAIN,
    STANDARD,
    VIEWS,
    MetricEntry,
    Report,
    label,
)

KNN_METRICS = ("prdc", "precision_recall", "alpha_precision")


def _data(n=300, m=None, d=8, t=None, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    m = n if m is None else m
    t = n if t is None else t
    real = rng.standard_normal((n, d)).astype(dtype)
    fake = (0.9 * rng.standard_normal((m, d)) + 0.2).astype(dtype)
    train = rng.standard_normal((t, d)).astype(dtype)
    return real, fake, train


@pytest.fixture(scope="module")
def small():
    """real 300 x 8, fake 200 x 8 (unequal sizes), train 250 x 8."""
    return _data(n=300, m=200, t=250)


@pytest.fixture(scope="module")
def small_report(small):
    real, fake, train = small
    return gm.evaluate(real, fake, train=train)


# ----------------------------------------------------------------------------------------------------------
# the demo: each failure is caught by its metric
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_numbers():
    train, real, generated = make_demo(n=600, seed=0)
    assert set(generated) == {"faithful", "mode collapse", "memoriser", "noisy"}
    reports = {name: gm.evaluate(real, fake, train=train) for name, fake in generated.items()}
    for report in reports.values():
        assert set(STANDARD) <= {e.name for e in report.entries}, report.warnings
    return {name: report.numbers() for name, report in reports.items()}, reports


def _lowest(numbers, key):
    return min(numbers, key=lambda name: numbers[name][key])


def test_demo_memoriser_has_the_lowest_authenticity(demo_numbers):
    numbers, _ = demo_numbers
    assert _lowest(numbers, "authenticity") == "memoriser"
    others = [numbers[g]["authenticity"] for g in numbers if g != "memoriser"]
    assert numbers["memoriser"]["authenticity"] < 0.05 < min(others)


@pytest.mark.parametrize("key", ["prdc.recall", "prdc.coverage", "vendi.fake", "rke.fake"])
def test_demo_mode_collapse_has_the_lowest_recall_coverage_and_diversity(demo_numbers, key):
    numbers, _ = demo_numbers
    assert _lowest(numbers, key) == "mode collapse", {g: numbers[g][key] for g in numbers}
    assert numbers["mode collapse"][key] < 0.9 * numbers["faithful"][key]


@pytest.mark.parametrize("key", ["prdc.precision", "prdc.density"])
def test_demo_noisy_has_the_lowest_precision_and_density(demo_numbers, key):
    numbers, _ = demo_numbers
    assert _lowest(numbers, key) == "noisy", {g: numbers[g][key] for g in numbers}
    assert numbers["noisy"][key] < 0.7 * numbers["faithful"][key]


def test_demo_noisy_is_seen_by_the_distances(demo_numbers):
    numbers, _ = demo_numbers
    assert numbers["noisy"]["fd"] > numbers["faithful"]["fd"]
    assert numbers["noisy"]["kid.mean"] > numbers["faithful"]["kid.mean"]


@pytest.mark.parametrize(
    "key", ["authenticity", "prdc.recall", "prdc.coverage", "prdc.precision", "prdc.density", "vendi.fake", "rke.fake"]
)
def test_demo_faithful_is_never_the_worst(demo_numbers, key):
    numbers, _ = demo_numbers
    assert _lowest(numbers, key) != "faithful"


def test_demo_report_accessors_agree(demo_numbers):
    numbers, reports = demo_numbers
    for name, report in reports.items():
        assert report["prdc"]["recall"] == numbers[name]["prdc.recall"]
        assert report["vendi"]["fake"] == numbers[name]["vendi.fake"]
        assert report["authenticity"] == numbers[name]["authenticity"]
        assert report.info["n_train"] == report.info["n_real"] == report.info["n_fake"] == 600
        assert report.info["d"] == 64
        # equal sizes, no duplicates, enough samples: only KID's note that its subsets are the whole sets
        assert len(report.warnings) == 1 and report.warnings[0].startswith("kid: both sets have 600 samples")


# ----------------------------------------------------------------------------------------------------------
# the Report API
# ----------------------------------------------------------------------------------------------------------


def test_getitem_and_contains(small_report):
    r = small_report
    assert isinstance(r["prdc"], dict)
    assert set(r["prdc"]) == {"precision", "recall", "density", "coverage"}
    assert isinstance(r["fd"], float)
    assert "prdc" in r and "fd" in r and "authenticity" in r
    assert "bogus" not in r and "prdc.recall" not in r
    with pytest.raises(KeyError, match="bogus"):
        r["bogus"]


def test_numbers_are_scalars_by_dotted_name(small_report):
    numbers = small_report.numbers()
    for key in (
        "prdc.precision",
        "prdc.recall",
        "prdc.density",
        "prdc.coverage",
        "precision_recall.precision",
        "precision_recall.recall",
        "alpha_precision.delta_precision_alpha",
        "alpha_precision.delta_coverage_beta",
        "alpha_precision.authenticity",
        "authenticity",
        "vendi.real",
        "vendi.fake",
        "rke.real",
        "rke.fake",
        "fd",
        "kid.mean",
        "kid.std",
        "cmmd",
        "gaussian_kl",
        "knn_kl.real_fake",
        "knn_kl.fake_real",
    ):
        assert key in numbers, key
    for key, value in numbers.items():
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)
    # arrays (the alpha-precision curves) are not numbers
    assert not any(key.startswith("alpha_precision.alphas") or key.endswith("_curve") for key in numbers)
    assert numbers["prdc.recall"] == small_report["prdc"]["recall"]
    assert numbers["kid.mean"] == small_report["kid"]["mean"]


def test_info_fields(small, small_report):
    real, fake, train = small
    info = small_report.info
    assert info["n_real"] == 300 and info["n_fake"] == 200 and info["n_train"] == 250
    assert info["d"] == 8
    assert info["dtype"] == "float64"
    assert info["backend"] in ("cpu", "numpy")
    assert info["seed"] == 0
    assert info["genmetrics"] == gm.__version__
    r = gm.evaluate(real.astype(np.float32), fake.astype(np.float32), metrics="fd", seed=7, backend="numpy")
    assert r.info["dtype"] == "float32" and r.info["n_train"] is None and r.info["seed"] == 7
    assert r.info["backend"] == "numpy"
    # mixed precision is computed in the wider dtype
    assert gm.evaluate(real.astype(np.float32), fake, metrics="fd").info["dtype"] == "float64"


def test_report_is_frozen(small_report):
    with pytest.raises(dataclasses.FrozenInstanceError):
        small_report.info = {}


def test_to_dict_and_to_json_round_trip(small_report):
    d = small_report.to_dict()
    assert set(d) == {"info", "warnings", "metrics"}
    assert list(d["metrics"]) == [e.name for e in small_report.entries]
    assert json.loads(small_report.to_json()) == d
    assert json.loads(json.dumps(d)) == d  # plain Python all the way down
    entry = d["metrics"]["prdc"]
    assert entry["group"] == "fidelity" and entry["parameters"] == {"k": 5}
    assert entry["value"]["recall"] == small_report["prdc"]["recall"]
    assert entry["seconds"] >= 0
    alpha = d["metrics"]["alpha_precision"]["value"]
    assert isinstance(alpha["alphas"], list) and all(isinstance(a, float) for a in alpha["alphas"])
    assert alpha["alphas"] == pytest.approx(np.asarray(small_report["alpha_precision"]["alphas"]).tolist())
    curve = d["metrics"]["diversity_curve"]["value"]["fake"]
    assert isinstance(curve["sizes"], list) and all(isinstance(s, int) for s in curve["sizes"])
    assert d["warnings"] == list(small_report.warnings)
    assert d["info"] == small_report.info


def test_to_json_plain_values():
    """NumPy scalars and arrays become numbers and lists; inf and NaN become strings (JSON has neither)."""
    entries = (
        MetricEntry("fd", "distance", np.float64(np.inf), {"k": np.int64(3)}, 0.5),
        MetricEntry(
            "kid",
            "distance",
            {"mean": np.float32(0.25), "std": float("nan"), "values": np.array([1.0, -np.inf, 2.5])},
            {},
            0.0,
        ),
    )
    report = Report(entries, {"n_real": 3, "n_fake": 3, "n_train": None, "d": 2, "backend": "numpy"}, ("a note",))
    d = json.loads(report.to_json())
    assert d["metrics"]["fd"]["value"] == "inf"
    assert d["metrics"]["fd"]["parameters"] == {"k": 3}
    assert d["metrics"]["kid"]["value"] == {"mean": 0.25, "std": "nan", "values": [1.0, "-inf", 2.5]}
    assert d["warnings"] == ["a note"]
    assert d["info"]["n_train"] is None
    assert report.to_dict() == d
    assert report.numbers()["fd"] == math.inf
    assert "kid.values" not in report.numbers()  # an array, not a number


def test_to_json_writes_the_file(small_report, tmp_path):
    path = tmp_path / "report.json"
    text = small_report.to_json(path)
    assert path.read_text().strip() == text.strip()
    assert json.loads(path.read_text()) == small_report.to_dict()
    path2 = tmp_path / "compact.json"
    small_report.to_json(str(path2), indent=None)
    assert json.loads(path2.read_text()) == small_report.to_dict()


def test_to_markdown_has_a_row_per_number_and_the_warnings(small_report):
    text = small_report.to_markdown()
    assert str(small_report) == text
    lines = text.splitlines()
    assert lines[0].startswith("Real: 300 samples, generated: 200, training: 250; d = 8; backend")
    assert "| group | metric | value | parameters | seconds |" in lines
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| group")]
    numbers = small_report.numbers()
    assert len(rows) == len(numbers)
    named = [row.split("|")[2].strip() for row in rows]
    assert named == [label(name) for name in numbers]
    group_of = {e.name: e.group for e in small_report.entries}
    for row, name in zip(rows, numbers):
        assert row.split("|")[1].strip() == group_of[name.split(".")[0]]
    assert any("k=5" in row for row in rows if "prdc.recall" in row)
    assert small_report.warnings  # unequal sizes
    assert "Warnings:" in lines
    for w in small_report.warnings:
        assert f"- {w}" in lines


def test_markdown_without_train_and_without_warnings():
    real, fake, _ = _data(n=100)
    r = gm.evaluate(real, fake, metrics=["fd", "prdc"])
    text = r.to_markdown()
    assert "training" not in text.splitlines()[0]
    assert r.warnings == () and "Warnings" not in text


# ----------------------------------------------------------------------------------------------------------
# warnings
# ----------------------------------------------------------------------------------------------------------


def test_unequal_sizes_warn_and_diversity_uses_the_smaller_size(small, small_report):
    real, fake, _ = small
    notes = [w for w in small_report.warnings if "equal size" in w]
    assert len(notes) == 1 and "200" in notes[0]
    params = {e.name: e.parameters for e in small_report.entries}
    assert params["vendi"]["n"] == 200 and params["rke"]["n"] == 200
    assert int(np.max(small_report["diversity_curve"]["real"]["sizes"])) == 200
    assert int(np.max(small_report["diversity_curve"]["fake"]["sizes"])) == 200
    # the smaller set is used whole
    assert small_report["vendi"]["fake"] == pytest.approx(float(gm.vendi(fake, kernel="cosine")), rel=1e-10)
    # the larger is subsampled: the other way round, the real set is whole
    r = gm.evaluate(real[:150], fake, metrics="vendi")
    assert r.entries[0].parameters["n"] == 150
    assert r["vendi"]["real"] == pytest.approx(float(gm.vendi(real[:150], kernel="cosine")), rel=1e-10)


def test_equal_sizes_or_no_diversity_do_not_warn(small):
    real, fake, _ = small
    assert not any("equal size" in w for w in gm.evaluate(real[:200], fake, metrics="diversity").warnings)
    assert not any("equal size" in w for w in gm.evaluate(real, fake, metrics=["prdc", "fd"]).warnings)


def test_the_equal_size_subsample_is_seeded(small):
    real, fake, _ = small
    a = gm.evaluate(real, fake, metrics="vendi", seed=1)["vendi"]["real"]
    b = gm.evaluate(real, fake, metrics="vendi", seed=1)["vendi"]["real"]
    assert a == b


def test_duplicates_warn_in_the_report(small):
    real, fake, _ = small
    k = 5
    fake = fake.copy()
    fake[: k + 1] = fake[0]  # k + 1 copies: each has k exact duplicates, a k-NN ball of radius 0
    with pytest.warns(gm.DuplicatePointsWarning) as record:
        gm.prdc(real, fake, k=k)
    expected = [f"prdc: {w.message}" for w in record if issubclass(w.category, gm.DuplicatePointsWarning)]
    assert expected
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        report = gm.evaluate(real, fake, metrics=["prdc", "fd"], k=k)
    for message in expected:
        assert message in report.warnings
    assert any("exact duplicates" in w and "fake" in w for w in report.warnings)
    # collected in the report, not emitted a second time
    assert not [w for w in leaked if issubclass(w.category, gm.DuplicatePointsWarning)]
    assert "prdc" in report and "fd" in report
    # k copies (k - 1 duplicates each) are not enough
    fake[k:] = np.random.default_rng(5).standard_normal((fake.shape[0] - k, fake.shape[1]))
    assert not any("duplicates" in w for w in gm.evaluate(real, fake, metrics="prdc", k=k).warnings)


def test_too_few_samples_for_k_skip_the_knn_metrics():
    real, fake, train = _data(n=4, d=2)
    report = gm.evaluate(real, fake, train=train, k=5)
    notes = [w for w in report.warnings if "k-NN metrics skipped" in w]
    assert len(notes) == 1 and "k = 5" in notes[0]
    for name in KNN_METRICS:
        assert name not in report
    for name in ("authenticity", "vendi", "rke", "fd", "kid", "cmmd"):
        assert name in report, (name, report.warnings)
    assert all(math.isfinite(v) for v in report.numbers().values())


@pytest.mark.parametrize("n, skipped", [(5, True), (6, False)])
def test_knn_skip_boundary(n, skipped):
    real, fake, _ = _data(n=n, d=2)
    report = gm.evaluate(real, fake, metrics="fidelity", k=5)
    assert ("prdc" not in report) == skipped
    assert any("k-NN metrics skipped" in w for w in report.warnings) == skipped


def test_a_metric_the_data_do_not_allow_is_skipped_with_a_warning():
    real, fake, _ = _data(n=30, d=40)  # n <= d: singular covariances, no Gaussian KL
    report = gm.evaluate(real, fake)
    assert "gaussian_kl" not in report
    notes = [w for w in report.warnings if w.startswith("gaussian_kl skipped")]
    assert len(notes) == 1 and "ridge" in notes[0]
    for name in ("prdc", "fd", "kid", "cmmd", "vendi", "rke"):
        assert name in report, (name, report.warnings)


# ----------------------------------------------------------------------------------------------------------
# which metrics
# ----------------------------------------------------------------------------------------------------------


def _names(report):
    return [e.name for e in report.entries]


def test_metrics_all(small, small_report):
    real, fake, train = small
    assert _names(small_report) == list(STANDARD)  # the default: every metric but the costly ones and the views
    assert set(STANDARD) | set(EXPENSIVE) | set(VIEWS) == set(METRICS)
    assert _names(gm.evaluate(real, fake, metrics="all")) == [x for x in METRICS if x not in NEEDS_TRAIN]
    for e in small_report.entries:
        assert e.group == next(g for g, names in METRIC_GROUPS.items() if e.name in names)


@pytest.mark.parametrize("group", list(METRIC_GROUPS))
def test_metrics_group(small, group):
    real, fake, train = small
    assert _names(gm.evaluate(real, fake, train=train, metrics=group)) == list(METRIC_GROUPS[group])


def test_metrics_single_and_list(small):
    real, fake, train = small
    assert _names(gm.evaluate(real, fake, metrics="fd")) == ["fd"]
    assert _names(gm.evaluate(real, fake, metrics=["kid", "prdc"])) == ["kid", "prdc"]
    assert _names(gm.evaluate(real, fake, metrics=("cmmd",))) == ["cmmd"]


def test_metrics_list_with_groups_and_all(small):
    real, fake, train = small
    assert _names(gm.evaluate(real, fake, train=train, metrics=["memorisation", "fd"])) == [
        "authenticity",
        "ct_score",
        "fls",
        "fd",
    ]
    assert _names(gm.evaluate(real, fake, train=train, metrics=["all"])) == list(METRICS)


@pytest.mark.parametrize("metrics", ["bogus", ["prdc", "bogus"], ["prdc.recall"], [3], "Fidelity"])
def test_unknown_metric_is_a_value_error_naming_metrics(small, metrics):
    real, fake, _ = small
    with pytest.raises(ValueError, match="metrics"):
        gm.evaluate(real, fake, metrics=metrics)


def test_authenticity_only_with_train(small):
    real, fake, train = small
    assert "authenticity" not in gm.evaluate(real, fake, metrics=["authenticity", "fd"])
    assert _names(gm.evaluate(real, fake, train=train, metrics="authenticity")) == ["authenticity"]
    # alpha_precision still reports its own authenticity, against the real set
    r = gm.evaluate(real, fake, metrics="alpha_precision")
    assert "alpha_precision.authenticity" in r.numbers()


def test_timings_and_parameters(small, small_report):
    real, fake, _ = small
    for e in small_report.entries:
        assert isinstance(e.seconds, float) and e.seconds >= 0
        assert isinstance(e.parameters, dict)
    params = {e.name: e.parameters for e in small_report.entries}
    assert params["prdc"]["k"] == 5
    assert params["precision_recall"]["k"] == 3
    assert params["kid"]["subset_size"] == 200 and params["kid"]["subsets"] == 100
    assert params["vendi"]["kernel"] == "cosine"
    sigma = params["rke"]["bandwidth"]
    assert params["rke"]["kernel"] == "rbf" and sigma > 0
    assert sigma == pytest.approx(gm.rke(real).bandwidth, rel=1e-12)  # the median heuristic on the real set
    assert params["cmmd"]["bandwidth"] == 10.0
    r = gm.evaluate(real, fake, metrics="fidelity", k=7)
    params = {e.name: e.parameters for e in r.entries}
    assert params["prdc"]["k"] == 7 and params["precision_recall"]["k"] == 3
    r = gm.evaluate(real, fake, metrics="precision_recall", k=2)
    assert r.entries[0].parameters["k"] == 2


def test_kid_subset_size_is_capped_at_1000():
    real, fake, _ = _data(n=1100, m=1050, d=4)
    r = gm.evaluate(real, fake, metrics="kid")
    assert r.entries[0].parameters["subset_size"] == 1000


@pytest.mark.parametrize("bad", [dict(k=0), dict(k=2.5), dict(seed=-1), dict(backend="nope")])
def test_bad_arguments(small, bad):
    real, fake, _ = small
    with pytest.raises((ValueError, TypeError), match=next(iter(bad))):
        gm.evaluate(real, fake, metrics="fd", **bad)


def test_bad_inputs_name_the_argument(small):
    real, fake, train = small
    with pytest.raises(ValueError, match="fake"):
        gm.evaluate(real, fake[:, :5])
    with pytest.raises(ValueError, match="train"):
        gm.evaluate(real, fake, train=train[:, :5])
    bad = fake.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="fake"):
        gm.evaluate(real, bad)


def test_progress_bar(small, capsys):
    pytest.importorskip("tqdm")
    real, fake, _ = small
    r = gm.evaluate(real, fake, metrics=["fd", "prdc"], progress=True)
    assert _names(r) == ["fd", "prdc"]


# ----------------------------------------------------------------------------------------------------------
# evaluate adds nothing to the math
# ----------------------------------------------------------------------------------------------------------


def test_numbers_equal_the_individual_functions():
    real, fake, train = _data(n=250, d=6, t=200)
    seed = 3
    r = gm.evaluate(real, fake, train=train, seed=seed)
    approx = dict(rel=1e-10, abs=1e-13)

    p = gm.prdc(real, fake, k=5)
    assert r["prdc"] == {"precision": p.precision, "recall": p.recall, "density": p.density, "coverage": p.coverage}
    pr = gm.precision_recall(real, fake, k=3)
    assert r["precision_recall"] == {"precision": pr.precision, "recall": pr.recall}
    a = gm.alpha_precision(real, fake)
    assert r["alpha_precision"]["delta_precision_alpha"] == pytest.approx(a.delta_precision_alpha, **approx)
    assert r["alpha_precision"]["delta_coverage_beta"] == pytest.approx(a.delta_coverage_beta, **approx)
    assert r["alpha_precision"]["authenticity"] == pytest.approx(a.authenticity, **approx)
    np.testing.assert_allclose(r["alpha_precision"]["alphas"], a.alphas)
    assert r["authenticity"] == pytest.approx(gm.authenticity(train, fake), **approx)

    assert r["vendi"]["real"] == pytest.approx(float(gm.vendi(real, kernel="cosine")), **approx)
    assert r["vendi"]["fake"] == pytest.approx(float(gm.vendi(fake, kernel="cosine")), **approx)
    sigma = gm.rke(real).bandwidth
    assert r["rke"]["real"] == pytest.approx(float(gm.rke(real, bandwidth=sigma)), **approx)
    assert r["rke"]["fake"] == pytest.approx(float(gm.rke(fake, bandwidth=sigma)), **approx)
    curve = gm.diversity_curve(fake, metric="vendi", kernel="cosine", n_boot=10, seed=seed)
    np.testing.assert_array_equal(r["diversity_curve"]["fake"]["sizes"], curve.sizes)
    np.testing.assert_allclose(r["diversity_curve"]["fake"]["mean"], curve.mean, rtol=1e-10)

    assert r["fd"] == pytest.approx(gm.fd(real, fake), **approx)
    kid = gm.kid(real, fake, subsets=100, subset_size=250, seed=seed)
    assert r["kid"]["mean"] == pytest.approx(kid.mean, **approx)
    assert r["kid"]["std"] == pytest.approx(kid.std, **approx)
    assert r["cmmd"] == pytest.approx(float(gm.mmd(real, fake, preset="cmmd")), **approx)
    assert r["gaussian_kl"] == pytest.approx(gm.gaussian_kl(real, fake), **approx)
    assert r["knn_kl"]["real_fake"] == pytest.approx(gm.knn_kl_divergence(real, fake), **approx)
    assert r["knn_kl"]["fake_real"] == pytest.approx(gm.knn_kl_divergence(fake, real), **approx)


def test_kid_subsets_follow_the_seed():
    real, fake, _ = _data(n=120, m=110, d=4)
    # subset_size = min(1000, n, m) = 110: the real subsets differ with the seed
    a = gm.evaluate(real, fake, metrics="kid", seed=1)["kid"]
    b = gm.evaluate(real, fake, metrics="kid", seed=2)["kid"]
    # each seed's numbers are gm.kid's with that seed (called directly: an independent computation)
    for got, seed in ((a, 1), (b, 2)):
        want = gm.kid(real, fake, subset_size=110, seed=seed)
        assert got["mean"] == pytest.approx(want.mean, rel=1e-10, abs=1e-13), seed
        assert got["std"] == pytest.approx(want.std, rel=1e-10, abs=1e-13), seed
    assert a["mean"] != b["mean"]


def test_deterministic_for_a_seed(small):
    real, fake, train = small
    strip = lambda r: {k: v["value"] for k, v in r.to_dict()["metrics"].items()}  # noqa: E731
    assert strip(gm.evaluate(real, fake, train=train, seed=4)) == strip(gm.evaluate(real, fake, train=train, seed=4))


# ----------------------------------------------------------------------------------------------------------
# inputs and backends
# ----------------------------------------------------------------------------------------------------------


def test_inputs_are_not_modified():
    real, fake, train = _data(n=150, m=120, t=100, dtype=np.float32)
    fake64 = fake.astype(np.float64)
    copies = [real.copy(), fake64.copy(), train.copy()]
    for X in (real, fake64, train):
        X.setflags(write=False)  # a write would raise
    gm.evaluate(real, fake64, train=train)
    for X, copy in zip((real, fake64, train), copies):
        np.testing.assert_array_equal(X, copy)
        assert X.dtype == copy.dtype


def test_non_contiguous_and_list_inputs():
    real, fake, _ = _data(n=100, d=8)
    big = np.zeros((200, 16))
    big[::2, ::2] = real
    view = big[::2, ::2]
    assert not view.flags.c_contiguous
    a = gm.evaluate(view, fake, metrics=["prdc", "fd"])
    b = gm.evaluate(real, fake, metrics=["prdc", "fd"])
    assert a["prdc"] == b["prdc"] and a["fd"] == pytest.approx(b["fd"], rel=1e-12)
    c = gm.evaluate(real.tolist(), fake.tolist(), metrics=["prdc"])
    assert c["prdc"] == b["prdc"]


def test_numpy_and_cpu_backends_agree(both_backends):
    real, fake, train = _data(n=200, m=180, t=150, d=6, dtype=np.float32)
    metrics = ["prdc", "precision_recall", "alpha_precision", "authenticity", "fd", "vendi"]
    reports = {b: gm.evaluate(real, fake, train=train, metrics=metrics, backend=b) for b in both_backends}
    cpu, numpy_ = reports["cpu"], reports["numpy"]
    assert cpu.info["backend"] == "cpu" and numpy_.info["backend"] == "numpy"
    # k-NN decisions are exact (float64 re-checks near every threshold): the same counts on every engine
    assert cpu["prdc"] == numpy_["prdc"]
    assert cpu["precision_recall"] == numpy_["precision_recall"]
    assert cpu["authenticity"] == numpy_["authenticity"]
    for key in ("delta_precision_alpha", "delta_coverage_beta", "authenticity"):
        assert cpu["alpha_precision"][key] == pytest.approx(numpy_["alpha_precision"][key], rel=1e-9, abs=1e-12)
    assert cpu["fd"] == pytest.approx(numpy_["fd"], rel=1e-6)
    assert cpu["vendi"]["fake"] == pytest.approx(numpy_["vendi"]["fake"], rel=1e-4)


def test_evaluate_on_the_emulated_gpu_equals_the_cpu():
    """The whole evaluate() on GPU arrays (the emulated CUDA engine of tests/_fake_gpu.py) gives the CPU's numbers."""
    from _fake_gpu import installed

    train, real, generated = make_demo(n=300, seed=2)
    want = gm.evaluate(real, generated["faithful"], train=train, backend="cpu").numbers()
    with installed() as gpu:
        report = gm.evaluate(gpu.device(real), gpu.device(generated["faithful"]), train=gpu.device(train))
    assert report.info["backend"] == "cuda"
    got = report.numbers()
    assert got.keys() == want.keys()
    # KID is a difference of float32 kernel sums: on this data each engine is ~7e-6 (relative) from the float64 KID,
    # and the cpu engine's symmetric tiles (syrk) round differently from the emulated GPU's products
    loose = {"kid.mean": 3e-5, "kid.std": 3e-5}
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=loose.get(name, 1e-6), abs=1e-9), name


def test_vendi_of_both_sets_uses_one_bandwidth():
    """rbf Vendi compares sets on one kernel: a set three times as spread out must score far higher."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((300, 8)), 3 * rng.standard_normal((300, 8))
    report = gm.evaluate(X, Y, metrics=["vendi"], kernel="rbf")
    sigma = report.entries[0].parameters["bandwidth"]
    assert report["vendi"]["fake"] == pytest.approx(float(gm.vendi(Y, kernel="rbf", bandwidth=sigma)), rel=1e-9)
    assert report["vendi"]["fake"] > 10 * report["vendi"]["real"]


def test_metrics_of_the_wrong_type_are_named():
    with pytest.raises(TypeError, match="metrics"):
        gm.evaluate(np.zeros((10, 2)) + np.arange(10)[:, None], np.ones((10, 2)) * np.arange(10)[:, None], metrics=5)


# ----------------------------------------------------------------------------------------------------------
# settings are checked before any work; only the data may skip a metric
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Every metric function evaluate() may call fails the test if called."""
    import genmetrics.curves
    import genmetrics.distances
    import genmetrics.diversity
    import genmetrics.fidelity
    import genmetrics.information

    def forbidden(*args, **kwargs):
        raise AssertionError("a metric ran before the settings were checked")

    for module, names in (
        (genmetrics.fidelity, ("prdc", "precision_recall", "alpha_precision", "authenticity")),
        (genmetrics.diversity, ("vendi", "rke")),
        (genmetrics.curves, ("diversity_curve",)),
        (genmetrics.distances, ("fd", "kid", "mmd", "gaussian_kl")),
        (genmetrics.information, ("knn_kl_divergence",)),
    ):
        for name in names:
            monkeypatch.setattr(module, name, forbidden)


@pytest.mark.parametrize(
    "bad, error",
    [
        (dict(kernel="nope"), ValueError),
        (dict(kernel=3), TypeError),
        (dict(progress="no"), TypeError),
        (dict(progress=1), TypeError),
        (dict(ridge=-1.0), ValueError),
        (dict(ridge=float("nan")), ValueError),
        (dict(ridge="0.1"), TypeError),
        (dict(ridge=True), TypeError),
    ],
)
def test_bad_settings_raise_before_any_work(small, no_work, bad, error):
    real, fake, train = small
    with pytest.raises(error, match=next(iter(bad))):
        gm.evaluate(real, fake, train=train, **bad)


@pytest.mark.parametrize("threads", ["abc", "1.5"])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_bad_num_threads_raises_before_any_work(small, no_work, monkeypatch, threads, backend):
    # numpy never reads the setting, cpu reads it inside each metric: both must raise, not skip metrics
    if backend == "cpu" and not gm.backends()["cpu"][0]:
        pytest.skip("compiled backend unavailable")
    real, fake, _ = small
    monkeypatch.setenv("GENMETRICS_NUM_THREADS", threads)
    with pytest.raises(ValueError, match="GENMETRICS_NUM_THREADS"):
        gm.evaluate(real, fake, metrics=["fd", "prdc"], backend=backend)


def test_options_are_keyword_only(small):
    real, fake, _ = small
    with pytest.raises(TypeError):
        gm.evaluate(real, fake, None, "fd")


def test_a_metric_error_that_names_a_setting_is_raised_not_skipped():
    # tiny values: the covariances are rescaled up by about 2^330, so a ridge of 1e300 overflows float64
    real, fake, _ = _data(n=50, d=4)
    with pytest.raises(ValueError, match="ridge"):
        gm.evaluate(real * 1e-100, fake * 1e-100, metrics=["fd", "gaussian_kl"], ridge=1e300)


def test_ridge_enables_gaussian_kl_on_singular_covariances():
    real, fake, _ = _data(n=30, d=40)  # n <= d: singular covariances
    skipped = gm.evaluate(real, fake, metrics="gaussian_kl")
    assert "gaussian_kl" not in skipped
    # the note names the set and the argument that helps
    assert len(skipped.warnings) == 1 and skipped.warnings[0].startswith("gaussian_kl skipped: fake:")
    assert "pass ridge > 0" in skipped.warnings[0]
    report = gm.evaluate(real, fake, metrics="gaussian_kl", ridge=0.1)  # the advice works
    assert report.warnings == ()
    assert report["gaussian_kl"] == pytest.approx(gm.gaussian_kl(real, fake, ridge=0.1), rel=1e-12)
    assert report.entries[0].parameters["ridge"] == 0.1
    assert gm.evaluate(real[:, :4], fake[:, :4], metrics="gaussian_kl").entries[0].parameters["ridge"] == 0.0


# ----------------------------------------------------------------------------------------------------------
# what the report says of its numbers
# ----------------------------------------------------------------------------------------------------------


def test_kid_on_whole_sets_says_its_std_is_zero_by_construction():
    real, fake, _ = _data(n=200, d=4)
    report = gm.evaluate(real, fake, metrics="kid")
    parameters = report.entries[0].parameters
    assert parameters["subsets"] == 1 and "by construction" in parameters["std"]
    assert report["kid"]["std"] == 0
    notes = [w for w in report.warnings if w.startswith("kid:")]
    assert len(notes) == 1 and "200 samples" in notes[0] and "kid.std is 0" in notes[0]
    assert "by construction" in report.to_markdown()
    # unequal sizes: 100 different subsets of the larger set, a real spread, nothing to say
    report = gm.evaluate(real, fake[:150], metrics="kid")
    assert report.entries[0].parameters["subsets"] == 100 and "std" not in report.entries[0].parameters
    assert not [w for w in report.warnings if w.startswith("kid:")]


def test_both_authenticities_say_what_they_were_measured_against(small_report):
    rows = {row.split("|")[2].strip(): row for row in small_report.to_markdown().splitlines() if row.startswith("| ")}
    assert "authenticity (against train)" in rows and "alpha_precision.authenticity (against real)" in rows
    assert "authenticity" not in rows and "alpha_precision.authenticity" not in rows
    metrics = small_report.to_dict()["metrics"]
    assert metrics["authenticity"]["parameters"]["against"] == "train"
    assert metrics["alpha_precision"]["parameters"]["authenticity_against"] == "real"
    # numbers() keeps the plain names (the demo and scripts index by them)
    assert {"authenticity", "alpha_precision.authenticity"} <= set(small_report.numbers())


def test_markdown_shows_each_metric_time_once(small_report):
    rows = [
        row.split("|")
        for row in small_report.to_markdown().splitlines()
        if row.startswith("| ") and not row.startswith("| group")
    ]
    shown = [cells[5].strip() for cells in rows]
    first = 0
    for entry in small_report.entries:
        count = len(entry.numbers())
        assert float(shown[first]) == pytest.approx(entry.seconds, rel=5e-3, abs=1e-12), entry.name
        assert shown[first + 1 : first + count] == [""] * (count - 1)  # one time for the numbers computed together
        first += count
    assert first == len(rows)
