"""The figure of a :class:`genmetrics.evaluate.Report` (matplotlib, an optional extra: ``genmetrics[plot]``).

Up to four panels: the alpha-precision and beta-coverage curves against the diagonal (Alaa et al. 2022), the
Vendi score of the real and generated sets against the sample size with their bootstrap bands, the top modes of
both sets (``diversity_modes``: the eigenvalues behind the Vendi score and the samples that load most on each),
and the table of every number in the report (under its title, the authenticity rows saying what they were
measured against).
"""

from __future__ import annotations

import numpy as np

#: The height of a row of the metric table (7 pt text).
ROW_INCHES = 0.17


def _matplotlib():
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")  # files only: no screen needed
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise ImportError("Report.plot needs matplotlib: pip install 'genmetrics[plot]'") from None
    return plt


def _alpha_panel(ax, value):
    alphas = np.asarray(value["alphas"])
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="ideal")
    ax.plot(alphas, np.asarray(value["alpha_precision_curve"]), label="α-precision")
    ax.plot(alphas, np.asarray(value["beta_coverage_curve"]), label="β-coverage")
    ax.set_xlabel("α, β")
    ax.set_ylabel("share of samples")
    ax.set_title(
        f"Δα-precision {value['delta_precision_alpha']:.3f}, Δβ-coverage {value['delta_coverage_beta']:.3f}", fontsize=9
    )
    ax.legend(fontsize=8)


def _curve_panel(ax, value):
    for name, curve in value.items():
        sizes = np.asarray(curve["sizes"])
        (line,) = ax.plot(sizes, np.asarray(curve["mean"]), marker="o", markersize=3, label=name)
        ax.fill_between(
            sizes, np.asarray(curve["lower"]), np.asarray(curve["upper"]), color=line.get_color(), alpha=0.2
        )
    ax.set_xscale("log")
    ax.set_xlabel("sample size n")
    ax.set_ylabel("Vendi score")
    ax.set_title("diversity against n (compare at equal n)", fontsize=9)
    ax.legend(fontsize=8)


def _modes_panel(ax, value):
    """The top modes of each set (eigenvalues of K / trace(K), the mass behind the Vendi score), a pair of bars a
    rank, each labelled with the indices of the samples that load most on it: the view of what the modes are when
    the samples (images) are not at hand."""
    ranks = max(len(np.asarray(side["eigenvalues"])) for side in value.values())
    positions = np.arange(ranks)[::-1]
    height = 0.8 / max(len(value), 1)
    for offset, (name, side) in enumerate(value.items()):
        eigenvalues = np.asarray(side["eigenvalues"])
        y = positions[: len(eigenvalues)] + 0.4 - height * (offset + 0.5)
        ax.barh(y, eigenvalues, height=height, label=name)
        for y_i, w, rows in zip(y, eigenvalues, np.asarray(side["indices"])):
            ax.text(w, y_i, " " + ", ".join(map(str, rows[:5])), va="center", fontsize=6)
    ax.set_yticks(positions, [f"mode {i + 1}" for i in range(ranks)])
    ax.set_xlabel("eigenvalue of K / trace(K)")
    ax.set_title("top modes (labels: the samples that load most)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")


def _table_rows(report):
    """[metric label, value] of every scalar number of the report."""
    from .evaluate import label  # noqa: PLC0415 (evaluate imports this module lazily)

    return [
        [label(name), f"{value:.4g}"] for name, value in report.numbers().items() if isinstance(value, (int, float))
    ]


def _table_panel(ax, report):
    ax.axis("off")
    rows = _table_rows(report)
    if rows:
        # a bbox inside the axes, from their top down, so that the table stays under the title (loc="center" lets a
        # long table run over it); rows of ROW_INCHES, or less where the axes are shorter
        axes_inches = ax.get_position().height * ax.figure.get_figheight()
        height = min(1.0, ROW_INCHES * (len(rows) + 1) / axes_inches)
        table = ax.table(
            cellText=rows,
            colLabels=["metric", "value"],
            cellLoc="left",
            colWidths=[0.72, 0.28],
            bbox=[0.0, 1.0 - height, 1.0, height],
        )
        table.auto_set_font_size(False)
        table.set_fontsize(7)
    info = report.info
    ax.set_title(f"real {info['n_real']}, generated {info['n_fake']}, d = {info['d']} ({info['backend']})", fontsize=9)


def draw_report(report):
    """The report's figure (a matplotlib Figure, laid out, not saved); the caller closes it."""
    plt = _matplotlib()
    panels = []
    if "alpha_precision" in report:
        panels.append(lambda ax: _alpha_panel(ax, report["alpha_precision"]))
    if "diversity_curve" in report:
        panels.append(lambda ax: _curve_panel(ax, report["diversity_curve"]))
    if "diversity_modes" in report:
        panels.append(lambda ax: _modes_panel(ax, report["diversity_modes"]))
    panels.append(lambda ax: _table_panel(ax, report))
    # tall enough for every table row under the title
    height = max(4.5, ROW_INCHES * (len(_table_rows(report)) + 1) + 1.5)
    figure, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), height), squeeze=False)
    for draw, ax in zip(panels, axes[0]):
        draw(ax)
    figure.tight_layout()
    return figure


def plot_report(report, path):
    """Draw the report's panels and save the figure to ``path`` (format from the extension); returns the path."""
    plt = _matplotlib()
    figure = draw_report(report)
    try:
        figure.savefig(path, dpi=120)
    finally:
        plt.close(figure)
    return path
