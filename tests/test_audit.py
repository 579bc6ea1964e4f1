"""Sample-level auditing (issue 13, part 1): gm.audit, the per-sample outputs of prdc and authenticity, and the
``genmetrics audit`` command, against brute-force float64 references (tests/reference_fidelity.py) on integer
lattices, where every distance is exact and ties are decided exactly."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import genmetrics as gm
from reference_fidelity import ref_distances, ref_kth_radius
from test_cli import assert_usage_error, run_cli

BACKENDS = ["cpu", "numpy"]


def lattice(seed, n, d, high=6):
    """Small integers: exact float64 distances, many ties and duplicates."""
    return np.random.default_rng(seed).integers(0, high, size=(n, d)).astype(np.float64)


def ref_per_sample(real, fake, train, k, alpha):
    """Every judgement of gm.audit from the definitions, by brute force."""
    D = ref_distances(real, fake)  # (n, m)
    r = ref_kth_radius(real, k)
    real_balls = (D < r[:, None]).sum(axis=0)
    center = real.mean(axis=0)
    real_norms = np.sqrt(np.sum((real - center) ** 2, axis=1))
    fake_norms = np.sqrt(np.sum((fake - center) ** 2, axis=1))
    in_support = fake_norms <= np.quantile(real_norms, alpha)
    authentic = None
    if train is not None:
        T = ref_distances(train, fake)
        rho = ref_kth_radius(train, 1)
        star = np.argmin(T, axis=0)  # ties: the lower index
        authentic = ~(T[star, np.arange(fake.shape[0])] < rho[star])
    return real_balls, in_support, authentic


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_train", [False, True])
def test_audit_judgements_equal_the_definitions(backend, with_train):
    real, fake, train = lattice(0, 60, 3), lattice(1, 50, 3, high=8), lattice(2, 40, 3)
    result = gm.audit(real, fake, train=train if with_train else None, alpha=0.9, k=3, backend=backend)
    real_balls, in_support, authentic = ref_per_sample(real, fake, train if with_train else None, 3, 0.9)
    np.testing.assert_array_equal(result.real_balls_per_fake, real_balls)
    np.testing.assert_array_equal(result.in_real_balls, real_balls > 0)
    np.testing.assert_array_equal(result.in_support, in_support)
    expected_keep = in_support.copy()
    if with_train:
        np.testing.assert_array_equal(result.authentic, authentic)
        expected_keep &= authentic
    else:
        assert result.authentic is None
    np.testing.assert_array_equal(result.keep, expected_keep)
    np.testing.assert_array_equal(result.keep_indices, np.flatnonzero(expected_keep))
    assert result.n_kept == expected_keep.sum() and result.n_fake == 50 and result.n_real == 60
    np.testing.assert_array_equal(result.realism, gm.precision_recall(real, fake, k=3, backend=backend).realism)


def test_audit_before_and_after_are_the_public_metrics():
    rng = np.random.default_rng(3)
    real, train = rng.normal(size=(300, 6)), rng.normal(size=(300, 6))
    fake = np.concatenate([rng.normal(size=(200, 6)), 4 * rng.normal(size=(60, 6)), train[:40] + 1e-4])
    result = gm.audit(real, fake, train=train, k=4)
    kept = fake[result.keep_indices]
    for label, subset in (("before", fake), ("after", kept)):
        numbers = getattr(result, label)
        p = gm.prdc(real, subset, k=4)
        a = gm.alpha_precision(real, subset)
        expected = {
            "alpha_precision": a.delta_precision_alpha,
            "beta_coverage": a.delta_coverage_beta,
            "authenticity": float(gm.authenticity(train, subset)),
            "precision": p.precision,
            "recall": p.recall,
            "density": p.density,
            "coverage": p.coverage,
            "fd": float(gm.fd(real, subset)),
        }
        assert list(numbers) == list(gm.audit.__globals__["AUDIT_METRICS"])
        for name, value in expected.items():
            assert numbers[name] == pytest.approx(value, rel=1e-12, abs=1e-12), (label, name)
    # the copies and the far samples are the ones rejected, and what the filter selects on improves
    assert not result.keep[260:].any()
    assert result.keep[260:].size == 40 and (~result.in_support[200:260]).sum() >= 50
    assert result.after["authenticity"] > result.before["authenticity"]
    assert result.after["alpha_precision"] > result.before["alpha_precision"]
    assert result.after["precision"] > result.before["precision"]
    assert result.skipped == {}


def test_audit_criteria_and_alpha():
    real, fake = lattice(4, 80, 2), lattice(5, 70, 2, high=10)
    balls = gm.audit(real, fake, criteria="real_balls")
    np.testing.assert_array_equal(balls.keep, balls.in_real_balls)
    both = gm.audit(real, fake, criteria=("support", "real_balls", "support"))
    assert both.criteria == ("support", "real_balls")
    np.testing.assert_array_equal(both.keep, both.in_support & both.in_real_balls)
    whole = gm.audit(real, fake, alpha=1)
    real_norms = np.sqrt(((real - real.mean(axis=0)) ** 2).sum(axis=1))
    assert whole.support_radius == real_norms.max()
    # "authentic" without train: nothing is judged a copy
    np.testing.assert_array_equal(gm.audit(real, fake, criteria=("authentic",)).keep, np.ones(70, dtype=bool))


def test_audit_skips_what_the_kept_set_cannot_give():
    rng = np.random.default_rng(6)
    real = rng.normal(size=(100, 4))
    fake = np.concatenate([rng.normal(size=(3, 4)) * 0.1, 50 + rng.normal(size=(40, 4))])
    result = gm.audit(real, fake, k=5)
    assert result.n_kept == 3
    assert set(result.skipped) == {"precision", "recall", "density", "coverage"}
    assert "k = 5" in result.skipped["precision"] and "fd" in result.after
    nothing = gm.audit(real, 50 + rng.normal(size=(10, 4)), k=3)
    assert nothing.n_kept == 0 and nothing.after == {} and set(nothing.skipped) == set(nothing.before)
    assert "kept 0 of 10" in repr(nothing)
    assert "skipped" in nothing.table()


def test_audit_leaves_inputs_alone_and_is_read_only():
    real, fake = lattice(7, 30, 3), lattice(8, 30, 3)
    before = real.copy(), fake.copy()
    result = gm.audit(real, fake, k=2)
    np.testing.assert_array_equal(real, before[0])
    np.testing.assert_array_equal(fake, before[1])
    with pytest.raises(TypeError):
        result.before["precision"] = 1.0  # type: ignore[index]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(4, 30),
    m=st.integers(4, 30),
    d=st.integers(1, 4),
    k=st.integers(1, 3),
    alpha=st.sampled_from([0.5, 0.9, 1.0]),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_audit_property(n, m, d, k, alpha, seed, dtype):
    real, fake, train = (lattice(seed + i, size, d).astype(dtype) for i, size in enumerate((n, m, n)))
    result = gm.audit(real, fake[::-1], train=train, alpha=alpha, k=k)  # non-contiguous fake
    real_balls, in_support, authentic = ref_per_sample(
        real.astype(np.float64), fake[::-1].astype(np.float64), train.astype(np.float64), k, alpha
    )
    np.testing.assert_array_equal(result.real_balls_per_fake, real_balls)
    np.testing.assert_array_equal(result.authentic, authentic)
    np.testing.assert_array_equal(result.keep, in_support & authentic)


def test_audit_errors_name_the_argument():
    real, fake = lattice(9, 20, 3), lattice(10, 20, 3)
    for alpha in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="^alpha: "):
            gm.audit(real, fake, alpha=alpha)
    with pytest.raises(TypeError, match="^alpha: "):
        gm.audit(real, fake, alpha="high")
    with pytest.raises(ValueError, match="^criteria: "):
        gm.audit(real, fake, criteria=("support", "quality"))
    with pytest.raises(ValueError, match="^criteria: "):
        gm.audit(real, fake, criteria=())
    with pytest.raises(ValueError, match="^train"):
        gm.audit(real, fake, train=lattice(11, 20, 4))
    with pytest.raises(ValueError, match="^train: needs at least 2"):
        gm.audit(real, fake, train=lattice(11, 1, 3))
    with pytest.raises(ValueError, match="^k"):
        gm.audit(real, fake, k=20)


# ----------------------------------------------------------------------------------------------------------
# per-sample outputs of the existing functions


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("inclusive", [False, True])
def test_prdc_per_sample(backend, inclusive):
    real, fake, k = lattice(12, 50, 2), lattice(13, 45, 2), 4
    result = gm.prdc(real, fake, k=k, inclusive=inclusive, per_sample=True, backend=backend)
    D = ref_distances(real, fake)
    r, s = ref_kth_radius(real, k), ref_kth_radius(fake, k)
    inside_real = (D <= r[:, None]) if inclusive else (D < r[:, None])
    inside_fake = (D <= s[None, :]) if inclusive else (D < s[None, :])
    np.testing.assert_array_equal(result.real_balls_per_fake, inside_real.sum(axis=0))
    np.testing.assert_array_equal(result.fake_balls_per_real, inside_fake.sum(axis=1))
    np.testing.assert_array_equal(result.covered, inside_real.any(axis=1))
    assert result.precision == np.mean(result.real_balls_per_fake > 0)
    assert result.recall == np.mean(result.fake_balls_per_real > 0)
    assert result.density == result.real_balls_per_fake.sum() / (k * 45)
    assert result.coverage == np.mean(result.covered)
    plain = gm.prdc(real, fake, k=k, inclusive=inclusive, backend=backend)
    assert plain == result and plain.real_balls_per_fake is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_authenticity_per_sample(backend):
    train, fake = lattice(14, 40, 3), np.concatenate([lattice(14, 40, 3)[:10], lattice(15, 30, 3)])
    score = gm.authenticity(train, fake, per_sample=True, backend=backend)
    _, _, authentic = ref_per_sample(train, fake, train, 1, 0.5)
    np.testing.assert_array_equal(score.details["authentic"], authentic)
    assert float(score) == np.mean(authentic)
    normal = np.random.default_rng(17).normal(size=(40, 3))
    copies = gm.authenticity(normal, np.concatenate([normal[:10], normal[:10] + 1e-9]), per_sample=True)
    assert not copies.details["authentic"].any()
    T = ref_distances(train, fake)
    np.testing.assert_array_equal(score.details["nearest_train_index"], np.argmin(T, axis=0))
    np.testing.assert_array_equal(score.details["nearest_train_distance"], T.min(axis=0))
    assert "<bool array (40,)>" in repr(score)
    with pytest.raises(TypeError, match="^per_sample"):
        gm.authenticity(train, fake, per_sample="yes")


# ----------------------------------------------------------------------------------------------------------
# genmetrics audit


def test_cli_audit(tmp_path):
    rng = np.random.default_rng(16)
    real, train = rng.normal(size=(120, 5)), rng.normal(size=(120, 5))
    fake = np.concatenate([rng.normal(size=(80, 5)), 5 * rng.normal(size=(20, 5)), train[:10]]).astype(np.float32)
    paths = {}
    for name, array in (("real", real), ("train", train), ("fake", fake)):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], array)
    out, report = tmp_path / "kept.npy", tmp_path / "audit.json"
    result = run_cli("audit", paths["real"], paths["fake"], "--train", paths["train"], "--out", out, "--json", report)
    assert result.returncode == 0, result.stderr
    expected = gm.audit(real, fake, train=train)
    np.testing.assert_array_equal(np.load(out), expected.keep_indices)
    summary = json.loads(report.read_text())
    assert summary["n_kept"] == expected.n_kept and summary["keep_indices"] == expected.keep_indices.tolist()
    assert summary["rejected"]["copies"] == int((~expected.authentic).sum())
    assert summary["after"]["authenticity"] == pytest.approx(expected.after["authenticity"])
    assert f"kept {expected.n_kept} of 110" in result.stdout and "authenticity" in result.stdout
    # outputs are never written over an input or an existing file without --force
    assert_usage_error(run_cli("audit", paths["real"], paths["fake"], "--out", paths["real"]), "real.npy")
    assert_usage_error(run_cli("audit", paths["real"], paths["fake"], "--out", out), "exists")
    assert_usage_error(
        run_cli("audit", paths["real"], paths["fake"], "--alpha", "2", "--out", tmp_path / "a.npy"), "alpha"
    )
    assert_usage_error(run_cli("audit", paths["real"], paths["fake"], "--criteria", "vibes"), "criteria")


def test_audit_on_the_emulated_gpu(fake_gpu):
    """The same judgements on backend="cuda" and "cupy" (tests/_fake_gpu.py), host and device inputs."""
    import cupy  # the fake one, installed by the fixture

    real, fake, train = lattice(20, 60, 3), lattice(21, 50, 3, high=8), lattice(22, 40, 3)
    expected = gm.audit(real, fake, train, alpha=0.9, k=3, backend="cpu")
    for backend in ("cuda", "cupy"):
        for inputs in ((real, fake, train), tuple(cupy.asarray(a) for a in (real, fake, train))):
            got = gm.audit(*inputs, alpha=0.9, k=3, backend=backend)
            for name in ("in_support", "authentic", "real_balls_per_fake", "keep", "keep_indices"):
                np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=(backend, name))
            for name, value in expected.after.items():
                assert got.after[name] == pytest.approx(value, rel=1e-9), (backend, name)
