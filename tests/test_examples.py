"""The worked examples in examples/: a small, seeded version of each, checking the direction of its result."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import mode_collapse  # noqa: E402

# (B) of the example, the sampler with DiversityGuidance; (A), training the MLP with DiversityLoss, takes
# ~10 s per run on 2 cores and is left to the example itself
N = 400
PRECISION_FLOOR = 0.9


@pytest.fixture(scope="module")
def real():
    return mode_collapse.real_data(N, seed=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_diversity_guidance_recovers_the_modes(real, seed):
    before = mode_collapse.measure(real, mode_collapse.guided_samples(N, guide=False, seed=seed))
    after = mode_collapse.measure(real, mode_collapse.guided_samples(N, guide=True, scale=2.0, seed=seed))
    # PRDC recall is already ~0.98 before (the sparse minority modes have wide k-NN balls): it must not drop
    assert after["recall"] >= before["recall"] - 0.03, (before, after)
    assert after["coverage"] > before["coverage"] + 0.15, (before, after)
    assert after["vendi"] > before["vendi"] + 3.0, (before, after)
    assert after["modes"] >= 9 and after["modes"] >= before["modes"] + 3, (before, after)
    assert after["precision"] >= PRECISION_FLOOR, (before, after)
