"""Report.plot: the figure of an evaluation (matplotlib, an optional extra; skipped without it)."""
from __future__ import annotations

import numpy as np
import pytest

import genmetrics as gm
from genmetrics._demo import make_demo


def test_plot_writes_a_png_with_every_panel(tmp_path):
    pytest.importorskip("matplotlib")
    train, real, generated = make_demo(n=300, seed=1)
    report = gm.evaluate(real, generated["faithful"], train=train,
                         metrics=["prdc", "alpha_precision", "diversity_curve", "fd"])
    path = tmp_path / "report.png"
    assert report.plot(path) == path
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    assert width >= 3 * 5 * 120 - 10  # three panels of 5 inches at 120 dpi


def test_plot_without_curves_draws_the_table_alone(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    report = gm.evaluate(rng.standard_normal((100, 4)), rng.standard_normal((80, 4)), metrics=["fd"])
    path = report.plot(tmp_path / "table.png")
    assert int.from_bytes(path.read_bytes()[16:20], "big") < 2 * 5 * 120
