"""Report.plot: the figure of an evaluation (matplotlib, an optional extra; skipped without it)."""

from __future__ import annotations

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.report.demo import make_demo


def test_plot_writes_a_png_with_every_panel(tmp_path):
    pytest.importorskip("matplotlib")
    train, real, generated = make_demo(n=300, seed=1)
    report = gm.evaluate(
        real, generated["faithful"], train=train, metrics=["prdc", "alpha_precision", "diversity_curve", "fd"]
    )
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


def _table_texts_and_title(figure):
    """(every cell text, the title's and the table's extents in pixels) of the figure's table panel."""
    ax = next(ax for ax in figure.axes if ax.tables)
    renderer = figure.canvas.get_renderer()
    table = ax.tables[0]
    texts = [cell.get_text().get_text() for cell in table.get_celld().values()]
    return texts, ax.title.get_window_extent(renderer), table.get_window_extent(renderer)


@pytest.mark.parametrize("metrics", ["all", ["fd"], ["prdc", "kid", "authenticity"]])
def test_the_table_stays_under_its_title(metrics):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from genmetrics.report.plot import draw_report

    train, real, generated = make_demo(n=300, seed=1)
    report = gm.evaluate(real, generated["faithful"], train=train, metrics=metrics)
    figure = draw_report(report)
    try:
        figure.canvas.draw()
        texts, title, table = _table_texts_and_title(figure)
        assert table.y1 <= title.y0, (table, title)  # the header row below the title, not over it
        assert table.y0 >= 0  # and the last row inside the figure
        assert len(texts) == 2 * (len(report.numbers()) + 1)
    finally:
        plt.close(figure)


def test_the_table_says_what_each_authenticity_was_measured_against():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from genmetrics.report.plot import draw_report

    train, real, generated = make_demo(n=300, seed=1)
    figure = draw_report(
        gm.evaluate(real, generated["faithful"], train=train, metrics=["alpha_precision", "authenticity"])
    )
    try:
        texts = _table_texts_and_title(figure)[0]
    finally:
        plt.close(figure)
    assert "authenticity (against train)" in texts and "alpha_precision.authenticity (against real)" in texts


def _clusters(sizes, d=8, seed=0):
    """Rows of well-separated tight clusters (cluster j of sizes[j] rows) and each row's cluster."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.eye(len(sizes), d)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(labels)
    return centres[labels] + 0.05 * rng.standard_normal((labels.size, d)), labels


def test_diversity_modes_entry_names_rows_of_the_sets_as_given():
    # real is subsampled to fake's size for diversity: the modes' sample indices must still be rows of real itself,
    # so every mode's samples lie in one cluster of the full real set (indices into the subsample would not)
    # orthogonal centres: under the cosine kernel K is block diagonal, one mode a cluster (sizes apart, so that no
    # two modes share an eigenvalue)
    real, real_labels = _clusters([220, 120, 60], seed=0)
    fake, fake_labels = _clusters([110, 40, 0], seed=1)
    report = gm.evaluate(real, fake, metrics=["diversity_modes"])
    modes = report["diversity_modes"]
    assert real.shape[0] != fake.shape[0]
    for name, labels, n_clusters in (("real", real_labels, 3), ("fake", fake_labels, 2)):
        indices = np.asarray(modes[name]["indices"])
        leading = indices[:n_clusters, :5]  # the most central samples of each leading mode
        assert indices.max() < labels.size
        assert all(np.unique(labels[rows]).size == 1 for rows in leading), (name, labels[leading])
        assert np.unique(labels[leading[:, 0]]).size == n_clusters  # one mode per cluster
    assert "diversity_modes" not in gm.evaluate(real, fake, metrics="standard")


def test_plot_draws_the_modes_panel(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from genmetrics.report.plot import draw_report

    real, _ = _clusters([90, 60, 30])
    fake, _ = _clusters([120, 60, 0], seed=1)
    report = gm.evaluate(real, fake, metrics=["fd", "diversity_modes"])
    figure = draw_report(report)
    try:
        modes_axes = [ax for ax in figure.axes if ax.get_title().startswith("top modes")]
        assert len(figure.axes) == 2 and len(modes_axes) == 1
        bars = modes_axes[0].patches
        eigenvalues = np.concatenate(
            [np.asarray(report["diversity_modes"][s]["eigenvalues"]) for s in ("real", "fake")]
        )
        np.testing.assert_allclose(sorted(bar.get_width() for bar in bars), np.sort(eigenvalues))
        labels = [t.get_text() for t in modes_axes[0].texts]
        first = np.asarray(report["diversity_modes"]["fake"]["indices"])[0, :5]
        assert " " + ", ".join(map(str, first)) in labels
    finally:
        plt.close(figure)
