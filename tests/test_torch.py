"""genmetrics.torch: differentiable Vendi and RKE (issue 12): values against genmetrics, gradients against
gradcheck and finite differences, degenerate spectra, the memory bank, weights, float32, validation."""

import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import genmetrics as gm  # noqa: E402
from genmetrics import torch as gmt  # noqa: E402
from genmetrics.compat import vendi_score  # noqa: E402

KERNELS = ["cosine", "linear", "rbf", "laplacian", "polynomial"]
ORDERS = [0.5, 1, 2, math.inf]


def data(n=7, d=3, seed=0, dtype=None):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=generator, dtype=dtype or torch.float64)


def bandwidth_of(kernel):
    return 1.3 if kernel in ("rbf", "laplacian") else None


def central_differences(f, X, h):
    grad = torch.zeros_like(X)
    for index in np.ndindex(*X.shape):
        step = torch.zeros_like(X)
        step[index] = h
        grad[index] = (f(X + step) - f(X - step)) / (2 * h)
    return grad


def test_import_genmetrics_does_not_import_torch():
    code = "import genmetrics, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("q", [0, 0.3, 0.5, 0.8, 1, 1.3, 2, 7, 1e300, math.inf])
@pytest.mark.parametrize("bandwidth", [None, 0.9])
def test_vendi_equals_genmetrics(kernel, q, bandwidth):
    X = data(9, 4)
    value = gmt.vendi(X, q=q, kernel=kernel, bandwidth=bandwidth)
    expected = float(gm.vendi(X.numpy(), q=q, kernel=kernel, bandwidth=bandwidth, method="exact"))
    assert value.dtype == torch.float64 and value.ndim == 0
    assert float(value) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("bandwidth", [None, 0.9])
def test_rke_equals_genmetrics(kernel, bandwidth):
    X = data(9, 4)
    value = gmt.rke(X, kernel=kernel, bandwidth=bandwidth)
    expected = float(gm.rke(X.numpy(), kernel=kernel, bandwidth=bandwidth))
    assert float(value) == pytest.approx(expected, rel=1e-10, abs=1e-10)
    assert float(value) == pytest.approx(float(gmt.vendi(X, q=2, kernel=kernel, bandwidth=bandwidth)), rel=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("q", [*ORDERS, 0.3, 0.8, 1.3, 7])
def test_vendi_gradcheck(kernel, q):
    X = data(7, 3, seed=1).requires_grad_()  # random data: lambda_max is simple
    assert torch.autograd.gradcheck(lambda Z: gmt.vendi(Z, q=q, kernel=kernel, bandwidth=bandwidth_of(kernel)), (X,))


@pytest.mark.parametrize("kernel", KERNELS)
def test_rke_gradcheck(kernel):
    X = data(7, 3, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda Z: gmt.rke(Z, kernel=kernel, bandwidth=bandwidth_of(kernel)), (X,))


@pytest.mark.parametrize("kernel", ["linear", "cosine"])
@pytest.mark.parametrize("q", ORDERS)
@pytest.mark.parametrize("shape", [(4, 6), (6, 6), (9, 2)])
def test_dot_product_kernels_exact_and_dual(kernel, q, shape):
    # d < n goes through the d x d dual, d >= n through the n x n matrix: both equal genmetrics' exact value
    X = data(*shape, seed=11)
    expected = float(gm.vendi(X.numpy(), q=q, kernel=kernel, method="exact"))
    assert float(gmt.vendi(X, q=q, kernel=kernel)) == pytest.approx(expected, rel=1e-10)
    assert torch.autograd.gradcheck(lambda Z: gmt.vendi(Z, q=q, kernel=kernel), (X.clone().requires_grad_(),))


def test_gradcheck_rank_deficient_q_below_one():
    # linear kernel, d < n: n - d zero eigenvalues below the rank tolerance (counted as 0, no gradient)
    X = data(8, 2, seed=3).requires_grad_()
    assert torch.autograd.gradcheck(lambda Z: gmt.vendi(Z, q=0.5, kernel="linear"), (X,))


def naive_vendi(Z, q, kernel, bandwidth=1.3):
    """Plain autograd through torch.linalg.eigvalsh, as guidance code does it."""
    if kernel == "rbf":
        K = torch.exp(-((Z[:, None] - Z[None]) ** 2).sum(-1) / (2 * bandwidth**2))
    else:
        U = Z / Z.norm(dim=1, keepdim=True)
        K = U @ U.T
    w = torch.linalg.eigvalsh(K / K.trace()).clamp_min(0)  # round-off negatives
    if q == 1:
        return torch.exp(-torch.special.xlogy(w, w).sum())
    return (w**q).sum() ** (1 / (1 - q))


@pytest.mark.parametrize("kernel", ["rbf", "cosine"])
@pytest.mark.parametrize("q", [1, 2, math.inf])
@pytest.mark.parametrize("seed", [0, 1])
def test_duplicated_rows_gradient_equals_finite_differences(kernel, q, seed):
    X0 = data(6, 3, seed=seed)
    X0[3] = X0[0]
    X0[5] = X0[1]
    X = X0.clone().requires_grad_()
    gmt.vendi(X, q=q, kernel=kernel, bandwidth=1.3).backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all())
    expected = central_differences(lambda Z: gmt.vendi(Z, q=q, kernel=kernel, bandwidth=1.3), X0, 1e-5)
    torch.testing.assert_close(X.grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", ["rbf", "cosine"])
def test_duplicated_rows_q_below_one(kernel):
    # q < 1 is not differentiable where rows coincide (lambda^q of a new eigenvalue ~ h^2 grows like |h|^(2q)):
    # the gradient is the symmetric one, which central differences approach (up to the noise of sqrt(round-off))
    X0 = data(6, 3)
    X0[3] = X0[0]
    X = X0.clone().requires_grad_()
    gmt.vendi(X, q=0.5, kernel=kernel, bandwidth=1.3).backward()
    expected = central_differences(lambda Z: gmt.vendi(Z, q=0.5, kernel=kernel, bandwidth=1.3), X0, 1e-4)
    torch.testing.assert_close(X.grad, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("kernel", ["rbf", "cosine"])
@pytest.mark.parametrize("q", [0.5, 1])
def test_collapsed_batch_finite_where_eigvalsh_autograd_is_not(kernel, q):
    X0 = data(1, 3).repeat(6, 1)  # every row the same: K is all ones, five zero eigenvalues
    X = X0.clone().requires_grad_()
    value = gmt.vendi(X, q=q, kernel=kernel, bandwidth=1.3)
    assert value.item() == pytest.approx(1.0, abs=1e-12)
    value.backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all())
    assert float(X.grad.abs().max()) < 1e-12  # a collapse is a stationary point
    if q == 1:
        expected = central_differences(lambda Z: gmt.vendi(Z, q=q, kernel=kernel, bandwidth=1.3), X0, 1e-5)
        torch.testing.assert_close(X.grad, expected, rtol=0, atol=1e-6)
    Y = X0.clone().requires_grad_()
    naive = naive_vendi(Y, q, kernel)
    assert naive.item() == pytest.approx(1.0, abs=1e-6)  # same value (up to round-off counted at q < 1) ...
    naive.backward()
    assert Y.grad is not None and not bool(torch.isfinite(Y.grad).all())  # ... but NaN/inf gradient


@pytest.mark.parametrize("q", [0.5, 1, 2])
def test_repeated_eigenvalues_gradcheck(q):
    # orthogonal rows under the cosine kernel: K = I, one eigenvalue repeated n times
    X = (torch.eye(5, dtype=torch.float64) * 2.0).requires_grad_()
    assert torch.autograd.gradcheck(lambda Z: gmt.vendi(Z, q=q, kernel="cosine"), (X,))


@pytest.mark.parametrize("kernel", ["cosine", "rbf", "laplacian"])
@pytest.mark.parametrize("q", [0.5, 1, math.inf])
def test_memory_bank(kernel, q):
    X = data(5, 3, seed=4).requires_grad_()
    bank = data(8, 3, seed=5).requires_grad_()
    value = gmt.vendi(X, q=q, kernel=kernel, memory_bank=bank)
    joined = np.concatenate([X.detach().numpy(), bank.detach().numpy()])
    assert value.item() == pytest.approx(float(gm.vendi(joined, q=q, kernel=kernel, method="exact")), rel=1e-10)
    value.backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all()) and float(X.grad.abs().max()) > 0
    assert bank.grad is None
    r = gmt.rke(X, kernel=kernel, memory_bank=bank)
    assert r.item() == pytest.approx(float(gm.rke(joined, kernel=kernel)), rel=1e-10)
    r.backward()
    assert bank.grad is None


@pytest.mark.parametrize("q", [0.5, 1, 2])
def test_memory_bank_gradcheck(q):
    X = data(4, 3, seed=6).requires_grad_()
    bank = data(5, 3, seed=7)
    assert torch.autograd.gradcheck(lambda Z: gmt.vendi(Z, q=q, kernel="rbf", bandwidth=1.1, memory_bank=bank), (X,))
    assert torch.autograd.gradcheck(lambda Z: gmt.rke(Z, bandwidth=1.1, memory_bank=bank), (X,))


@pytest.mark.parametrize("kernel", KERNELS)
def test_rke_memory_bank_all_kernels(kernel):
    # the bank's own block is computed without autograd: same value and gradient as the whole matrix
    X = data(4, 3, seed=14).requires_grad_()
    bank = data(6, 3, seed=15)
    bw = bandwidth_of(kernel)
    joined = np.concatenate([X.detach().numpy(), bank.numpy()])
    value = gmt.rke(X, kernel=kernel, bandwidth=bw, memory_bank=bank)
    assert value.item() == pytest.approx(float(gm.rke(joined, kernel=kernel, bandwidth=bw)), rel=1e-10)
    assert torch.autograd.gradcheck(lambda Z: gmt.rke(Z, kernel=kernel, bandwidth=bw, memory_bank=bank), (X,))
    value.backward()
    whole = X.detach().clone().requires_grad_()
    gmt.vendi(whole, q=2, kernel=kernel, bandwidth=bw, memory_bank=bank).backward()
    torch.testing.assert_close(X.grad, whole.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("q", [0.5, 1, 2, math.inf])
def test_weights(q):
    X = data(6, 3, seed=8)
    bank = data(3, 3, seed=9)
    p = torch.tensor([0.3, 0.1, 0.1, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1], dtype=torch.float64)
    value = gmt.vendi(X, q=q, kernel="rbf", bandwidth=1.2, memory_bank=bank, weights=p)
    K = gm.gram(np.concatenate([X.numpy(), bank.numpy()]), kernel="rbf", bandwidth=1.2)
    expected = vendi_score.score_K(np.asarray(K), q=q, p=p.numpy())
    assert float(value) == pytest.approx(expected, rel=1e-10)
    uniform = gmt.vendi(X, q=q, kernel="rbf", bandwidth=1.2, memory_bank=bank, weights=np.full(9, 1 / 9))
    plain = gmt.vendi(X, q=q, kernel="rbf", bandwidth=1.2, memory_bank=bank)
    assert float(uniform) == pytest.approx(float(plain), rel=1e-12)
    assert torch.autograd.gradcheck(
        lambda Z: gmt.vendi(Z, q=q, kernel="rbf", bandwidth=1.2, memory_bank=bank, weights=p),
        (X.clone().requires_grad_(),),
    )


@pytest.mark.parametrize("kernel", ["linear", "cosine"])
@pytest.mark.parametrize("q", [0.5, 1, 2, math.inf])
@pytest.mark.parametrize("d", [2, 12])
def test_weights_dot_product(kernel, q, d):
    X = data(6, d, seed=12)
    bank = data(3, d, seed=13)
    p = np.array([0.3, 0.1, 0.1, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1])
    value = gmt.vendi(X, q=q, kernel=kernel, memory_bank=bank, weights=p)
    joined = np.concatenate([X.numpy(), bank.numpy()])
    expected = vendi_score.score_X(joined, q=q, p=p, normalize=kernel == "cosine")
    assert float(value) == pytest.approx(expected, rel=1e-10)
    assert torch.autograd.gradcheck(
        lambda Z: gmt.vendi(Z, q=q, kernel=kernel, memory_bank=bank, weights=p), (X.clone().requires_grad_(),)
    )


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("q", ORDERS)
def test_float32(kernel, q):
    X64 = data(10, 4, seed=10)
    X32 = X64.to(torch.float32).requires_grad_()
    value = gmt.vendi(X32, q=q, kernel=kernel)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(float(gmt.vendi(X64, q=q, kernel=kernel)), rel=1e-4)
    value.backward()
    assert X32.grad is not None and X32.grad.dtype == torch.float32 and bool(torch.isfinite(X32.grad).all())
    r = gmt.rke(X32, kernel=kernel)
    assert r.dtype == torch.float32
    assert r.item() == pytest.approx(float(gmt.rke(X64, kernel=kernel)), rel=1e-4)


def test_validation():
    X = data(5, 3)
    with pytest.raises(TypeError, match="X"):
        gmt.vendi(X.numpy())
    with pytest.raises(TypeError, match="X"):
        gmt.rke([[1.0, 2.0]])
    with pytest.raises(TypeError, match="X"):
        gmt.vendi(torch.ones(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="q"):
        gmt.vendi(X, q=-1)
    with pytest.raises(ValueError, match="kernel"):
        gmt.vendi(X, kernel="sigmoid")
    with pytest.raises(ValueError, match="bandwidth"):
        gmt.vendi(X, kernel="rbf", bandwidth=0)
    with pytest.raises(ValueError, match="bandwidth"):
        gmt.rke(X, bandwidth=-1.0)
    with pytest.raises(ValueError, match="X"):
        gmt.vendi(X[0])
    with pytest.raises(ValueError, match="X"):
        gmt.vendi(torch.full((3, 2), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="X"):
        gmt.vendi(torch.zeros(3, 2, dtype=torch.float64), kernel="cosine")
    with pytest.raises(ValueError, match="memory_bank"):
        gmt.vendi(X, memory_bank=data(4, 2))
    with pytest.raises(TypeError, match="memory_bank"):
        gmt.vendi(X, memory_bank=np.ones((4, 3)))
    with pytest.raises(ValueError, match="weights"):
        gmt.vendi(X, weights=np.ones(4))
    with pytest.raises(ValueError, match="weights"):
        gmt.vendi(X, weights=-np.ones(5))
    with pytest.raises(TypeError, match="gamma"):
        gmt.vendi(X, kernel="rbf", gamma=1.0)


def test_single_row_and_half_precision():
    one = data(1, 3).requires_grad_()
    value = gmt.vendi(one, kernel="cosine")
    assert value.item() == 1.0
    value.backward()
    assert one.grad is not None and float(one.grad.abs().max()) == 0
    X16 = data(6, 3).to(torch.bfloat16)
    assert gmt.vendi(X16).dtype == torch.bfloat16


# ----------------------------------------------------------------------------------------------------------
# conditional scores: the Hadamard (product) kernel


def _reference_vendi_of(K, q):
    """float64 NumPy: VS_q of K / trace(K), eigenvalues below n eps p_max dropped."""
    w = np.linalg.eigvalsh(K / np.trace(K))
    p = np.clip(w, 0, None)
    p = p[p > len(p) * np.finfo(np.float64).eps * p.max()]
    p = p / p.sum()
    if q == 1:
        return float(np.exp(-(p * np.log(p)).sum()))
    if math.isinf(q):
        return float(1 / p.max())
    return float((p**q).sum() ** (1 / (1 - q)))


def _gram(A, kernel, bandwidth=None):
    return np.asarray(gm.gram(A.detach().numpy(), kernel=kernel, bandwidth=bandwidth))


@pytest.mark.parametrize("q", [0.5, 1, 2, math.inf])
@pytest.mark.parametrize(
    ("kernel", "condition_kernel"), [("cosine", "cosine"), ("rbf", "cosine"), ("laplacian", "rbf")]
)
def test_conditional_vendi_is_the_entropy_difference(q, kernel, condition_kernel):
    X, T = data(10, 4, seed=20), data(10, 3, seed=21)
    bx, bt = bandwidth_of(kernel), bandwidth_of(condition_kernel)
    value = gmt.conditional_vendi(
        X, T, q=q, kernel=kernel, bandwidth=bx, condition_kernel=condition_kernel, condition_bandwidth=bt
    )
    Kx, Kt = _gram(X, kernel, bx), _gram(T, condition_kernel, bt)
    expected = _reference_vendi_of(Kx * Kt, q) / _reference_vendi_of(Kt, q)
    assert float(value) == pytest.approx(expected, rel=1e-9)
    if q == 2:
        r = gmt.conditional_rke(
            X, T, kernel=kernel, bandwidth=bx, condition_kernel=condition_kernel, condition_bandwidth=bt
        )
        assert float(r) == pytest.approx(expected, rel=1e-9)


def test_conditional_scores_limits():
    # one condition for every sample: nothing is explained by it, the conditional score is the plain one;
    # one distinct, orthogonal condition per sample: everything is, the conditional score is 1
    X = data(8, 5, seed=22)
    same = torch.ones(8, 3, dtype=torch.float64)
    assert float(gmt.conditional_vendi(X, same)) == pytest.approx(float(gmt.vendi(X)), rel=1e-12)
    assert float(gmt.conditional_rke(X, same, bandwidth=1.0)) == pytest.approx(
        float(gmt.rke(X, bandwidth=1.0)), rel=1e-12
    )
    orthogonal = torch.eye(8, dtype=torch.float64)
    assert float(gmt.conditional_vendi(X, orthogonal)) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("q", [0.5, 1, 2])
def test_conditional_gradcheck_and_bank(q):
    X, T = data(6, 3, seed=23).requires_grad_(), data(6, 2, seed=24)
    bank = (data(4, 3, seed=25), data(4, 2, seed=26))
    options = {"kernel": "rbf", "bandwidth": 1.2}
    assert torch.autograd.gradcheck(lambda Z: gmt.conditional_vendi(Z, T, q=q, memory_bank=bank, **options), (X,))
    assert torch.autograd.gradcheck(lambda Z: gmt.conditional_rke(Z, T, memory_bank=bank, **options), (X,))
    joined = gmt.conditional_vendi(torch.cat([X, bank[0]]), torch.cat([T, bank[1]]), q=q, **options)
    assert gmt.conditional_vendi(X, T, q=q, memory_bank=bank, **options).item() == pytest.approx(
        joined.item(), rel=1e-12
    )


def test_conditional_validation():
    X, T = data(6, 3), data(6, 2)
    with pytest.raises(ValueError, match="^T: has 5 rows"):
        gmt.conditional_vendi(X, T[:5])
    with pytest.raises(TypeError, match="^T"):
        gmt.conditional_vendi(X, T.numpy())
    with pytest.raises(TypeError, match="^memory_bank"):
        gmt.conditional_vendi(X, T, memory_bank=data(3, 3))
    with pytest.raises(ValueError, match="^memory_bank"):
        gmt.conditional_rke(X, T, memory_bank=(data(3, 3), data(4, 2)))
    with pytest.raises(ValueError, match=r"^memory_bank\[1\]"):
        gmt.conditional_rke(X, T, memory_bank=(data(3, 3), data(3, 5)))


# ----------------------------------------------------------------------------------------------------------
# DiversityGuidance: the cached bank equals the score recomputed from scratch


GUIDANCE_CASES = [  # (score, q, kernel, d): rke; vendi through the d x d dual; vendi on the whole matrix
    ("rke", 2, "rbf", 3),
    ("rke", 2, "linear", 3),
    ("rke", 2, "polynomial", 3),
    ("vendi", 1, "cosine", 3),
    ("vendi", 0.5, "linear", 3),
    ("vendi", 1, "cosine", 40),
    ("vendi", math.inf, "rbf", 3),
    ("vendi", 1, "laplacian", 3),
]


@pytest.mark.parametrize(("score", "q", "kernel", "d"), GUIDANCE_CASES)
def test_guidance_appends_match_recomputing(score, q, kernel, d):
    bw = bandwidth_of(kernel)
    initial = data(7, d, seed=30)
    guidance = gmt.DiversityGuidance(score=score, q=q, kernel=kernel, bandwidth=bw, memory_bank=initial)
    stateless = gmt.vendi if score == "vendi" else gmt.rke
    options = {"kernel": kernel, "bandwidth": bw, **({"q": q} if score == "vendi" else {})}
    accepted = [initial]
    for step in range(4):
        X = data(5, d, seed=31 + step)
        bank = torch.cat(accepted)
        expected = stateless(X, memory_bank=bank, **options)
        assert float(guidance(X)) == pytest.approx(float(expected), rel=1e-10)
        leaf = X.clone().requires_grad_()
        torch.log(stateless(leaf, memory_bank=bank, **options)).backward()
        torch.testing.assert_close(guidance.gradient(X), leaf.grad, rtol=1e-8, atol=1e-12)
        guidance.append(X[:3] if step % 2 else X)  # batches of different sizes
        accepted.append(X[:3] if step % 2 else X)
    assert len(guidance) == sum(len(a) for a in accepted)
    torch.testing.assert_close(guidance.memory_bank, torch.cat(accepted))


def test_conditional_guidance_appends_match_recomputing():
    bank = (data(6, 3, seed=40), data(6, 2, seed=41))
    for score, function in (("rke", gmt.conditional_rke), ("vendi", gmt.conditional_vendi)):
        guidance = gmt.DiversityGuidance(score=score, kernel="rbf", bandwidth=1.1, conditional=True, memory_bank=bank)
        rows, conditions = [bank[0]], [bank[1]]
        for step in range(3):
            X, T = data(4, 3, seed=42 + step), data(4, 2, seed=50 + step)
            expected = function(X, T, kernel="rbf", bandwidth=1.1, memory_bank=(torch.cat(rows), torch.cat(conditions)))
            assert float(guidance(X, T)) == pytest.approx(float(expected), rel=1e-10)
            guidance.append(X, T)
            rows.append(X)
            conditions.append(T)


def test_guidance_engine_bank_sums_match_torch():
    # a CPU bank with a unit-diagonal kernel gets its sum of squares from the compiled engine: same RKE as the
    # float64 NumPy reference on the joined rows, in float32 and float64
    for dtype in (torch.float32, torch.float64):
        bank = data(300, 6, seed=60, dtype=dtype)
        X = data(5, 6, seed=61, dtype=dtype)
        for kernel in ("rbf", "cosine", "laplacian"):
            bw = bandwidth_of(kernel)
            value = gmt.rke(X, kernel=kernel, bandwidth=bw, memory_bank=bank)
            K = _gram(torch.cat([X, bank]).to(torch.float64), kernel, bw)
            expected = np.trace(K) ** 2 / (K * K).sum()
            tolerance = 1e-10 if dtype == torch.float64 else 1e-5
            assert float(value) == pytest.approx(expected, rel=tolerance)


def test_guidance_bandwidth_fixed_at_first_batch():
    bank = data(30, 4, seed=62)
    guidance = gmt.DiversityGuidance(score="rke", memory_bank=bank)
    X = data(6, 4, seed=63)
    first = guidance(X)
    expected = gm.engine.kernels.median_heuristic_bandwidth(torch.cat([X, bank]).numpy())
    assert guidance.bandwidth == pytest.approx(expected, rel=1e-12)
    guidance.append(10 * data(20, 4, seed=64))  # a wider bank does not change the kernel
    assert guidance.bandwidth == pytest.approx(expected, rel=1e-12)
    assert float(first) == pytest.approx(float(gmt.rke(X, bandwidth=expected, memory_bank=bank)), rel=1e-12)


def test_guidance_rescale_and_shapes():
    bank = data(20, 12, seed=65)
    guidance = gmt.DiversityGuidance(score="vendi", kernel="rbf", bandwidth=3.0, memory_bank=bank, scale=0.5)
    X = data(4, 12, seed=66)
    raw = guidance.gradient(X, scale=1.0)
    unit = guidance.gradient(X, rescale="sample", scale=1.0)
    torch.testing.assert_close(torch.linalg.vector_norm(unit, dim=1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(unit, raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True))
    reference = data(4, 12, seed=67)
    matched = guidance.gradient(X, rescale="batch", reference=reference)
    assert float(torch.linalg.vector_norm(matched)) == pytest.approx(0.5 * float(torch.linalg.vector_norm(reference)))
    torch.testing.assert_close(guidance.gradient(X), 0.5 * raw)
    # images: one flattened row per sample, the gradient in the input's shape
    images = X.reshape(4, 3, 2, 2)
    torch.testing.assert_close(guidance.gradient(images, scale=1.0), raw.reshape(4, 3, 2, 2))
    with torch.no_grad():  # works inside a sampler's no_grad loop
        assert bool(torch.isfinite(guidance.gradient(X)).all())


def test_guidance_collapsed_batch_is_finite():
    # a batch of one repeated row: autograd through eigvalsh gives NaN here (see above); the guidance does not
    guidance = gmt.DiversityGuidance(score="vendi", kernel="rbf", bandwidth=1.0, memory_bank=data(5, 3, seed=68))
    X = data(1, 3, seed=69).repeat(6, 1)
    grad = guidance.gradient(X)
    assert bool(torch.isfinite(grad).all())


def test_guidance_validation():
    X = data(4, 3)
    with pytest.raises(ValueError, match="^score"):
        gmt.DiversityGuidance(score="entropy")
    with pytest.raises(ValueError, match="^q"):
        gmt.DiversityGuidance(score="rke", q=0.5)
    with pytest.raises(ValueError, match="^rescale"):
        gmt.DiversityGuidance(rescale="global")
    with pytest.raises(ValueError, match="^scale"):
        gmt.DiversityGuidance(scale=0)
    with pytest.raises(TypeError, match="^memory_bank"):
        gmt.DiversityGuidance(memory_bank=(X, X))
    with pytest.raises(TypeError, match="^memory_bank"):
        gmt.DiversityGuidance(conditional=True, memory_bank=X)
    guidance = gmt.DiversityGuidance(bandwidth=1.0)
    guidance.append(X)
    with pytest.raises(ValueError, match="^X: has 5 features"):
        guidance(data(4, 5))
    with pytest.raises(ValueError, match="^condition"):
        guidance(X, X)
    with pytest.raises(ValueError, match="^reference"):
        guidance.gradient(X, reference=X[:2], rescale="sample")
    with pytest.raises(ValueError, match="^reference"):
        guidance.gradient(X, reference=X)
    conditional = gmt.DiversityGuidance(conditional=True, bandwidth=1.0)
    with pytest.raises(ValueError, match="^condition"):
        conditional(X)
    with pytest.raises(ValueError, match="^condition: has 2 rows"):
        conditional(X, X[:2])
    cosine = gmt.DiversityGuidance(score="vendi", kernel="cosine")
    with pytest.raises(ValueError, match="^X: row 1 has zero norm"):
        cosine.append(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


# ----------------------------------------------------------------------------------------------------------
# DiversityLoss


def test_diversity_loss():
    X = data(8, 4, seed=70).requires_grad_()
    bank = data(5, 4, seed=71)
    loss = gmt.DiversityLoss("vendi", q=0.5, kernel="rbf", bandwidth=1.5, memory_bank=bank)
    value = loss(X)
    expected = -torch.log(gmt.vendi(X, q=0.5, kernel="rbf", bandwidth=1.5, memory_bank=bank))
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    value.backward()
    assert X.grad is not None and bool(torch.isfinite(X.grad).all())
    assert set(loss.state_dict()) == {"bank"}
    torch.testing.assert_close(loss.state_dict()["bank"], bank)
    rke_loss = gmt.DiversityLoss("rke", bandwidth=1.5)
    assert float(rke_loss(X)) == pytest.approx(-math.log(float(gmt.rke(X, bandwidth=1.5))), rel=1e-12)
    assert "score='rke'" in repr(rke_loss)
    # conditional: the bank as a pair of buffers
    T = data(8, 2, seed=72)
    pair = (bank, data(5, 2, seed=73))
    conditional = gmt.DiversityLoss("rke", bandwidth=1.5, memory_bank=pair)
    expected = -torch.log(gmt.conditional_rke(X, T, bandwidth=1.5, memory_bank=pair))
    assert float(conditional(X, T)) == pytest.approx(float(expected), rel=1e-12)
    with pytest.raises(ValueError, match="^condition"):
        conditional(X)
    with pytest.raises(ValueError, match="^condition"):
        loss(X, T)
    with pytest.raises(ValueError, match="^score"):
        gmt.DiversityLoss("fid")


def test_diversity_loss_raises_diversity():
    # a few steps of gradient descent on the loss alone spread a collapsed set: the score rises
    X = (0.01 * data(16, 2, seed=74)).requires_grad_()
    loss = gmt.DiversityLoss("rke", bandwidth=0.5)
    before = float(gmt.rke(X, bandwidth=0.5))
    optimizer = torch.optim.Adam([X], lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        loss(X).backward()
        optimizer.step()
    assert float(gmt.rke(X, bandwidth=0.5)) > 2 * before
