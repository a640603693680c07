"""Figures of an evaluation summary (``report.summarize``), saved as PNG with matplotlib's Agg
backend (imported inside each function so that importing this module costs nothing).

The transformer is drawn thick, in red and on top, because it is the model the project ships; the
baselines share a muted colour cycle.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C

HIGHLIGHT_COLOUR = "#d62728"
_BASELINE_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
)
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "h")


# The project's own model: registered as ``medicalrec`` (class ``MedicalRecTransformer``).
HIGHLIGHTED = ("medicalrec",)


def _is_highlighted(name: str) -> bool:
    return name.lower() in HIGHLIGHTED or "transformer" in name.lower()


def _styles(recommenders: list[str]) -> dict[str, dict]:
    styles, i = {}, 0
    for name in recommenders:
        if _is_highlighted(name):
            styles[name] = {"color": HIGHLIGHT_COLOUR, "linewidth": 3.0, "zorder": 10, "marker": "o", "markersize": 7}
        else:
            styles[name] = {
                "color": _BASELINE_COLOURS[i % len(_BASELINE_COLOURS)], "linewidth": 1.4, "zorder": 2,
                "marker": _MARKERS[i % len(_MARKERS)], "markersize": 4, "alpha": 0.85,
            }
            i += 1
    return styles


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:
    """Lay out, write as PNG (whatever the path's suffix: reports write to temporary files) and free
    the figure (every plot ends here)."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _grid(n_panels: int) -> tuple[int, int]:
    cols = min(n_panels, 2)
    return int(np.ceil(n_panels / cols)), cols


def plot_at_k(summary: pd.DataFrame, family: str, path: str | Path, title: str | None = None,
              subtitle: str | None = None) -> Path:
    """``family@K`` (e.g. ``HitRate``) against K: one panel per mode, one line per recommender
    (the mean), the transformer's band ± one standard deviation over folds. ``subtitle`` says which
    data and scheme. Returns ``path``."""
    plt = _pyplot()
    pattern = re.compile(rf"^{re.escape(family)}@(\d+)$")
    rows = summary[summary[C.METRIC].str.match(pattern.pattern)].copy()
    rows["k"] = rows[C.METRIC].str.extract(pattern.pattern, expand=False).astype(int)
    modes = list(dict.fromkeys(rows[C.MODE]))
    recommenders = list(dict.fromkeys(rows[C.RECOMMENDER]))
    styles = _styles(recommenders)
    ks = sorted(rows["k"].unique())
    # zoom on the data (in steps of 0.1) so that close curves stay apart; 0 when values reach it
    lowest = float(rows["mean"].min()) if rows["mean"].notna().any() else 0.0
    bottom = max(0.0, np.floor((lowest - 0.05) * 10) / 10)
    n_rows, n_cols = _grid(max(len(modes), 1))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5.2 * n_cols + 2.6, 3.8 * n_rows), squeeze=False, sharey=True)
    for i, (ax, mode) in enumerate(zip(axes.flat, modes)):
        part = rows[rows[C.MODE] == mode]
        for name in recommenders:
            line = part[part[C.RECOMMENDER] == name].sort_values("k")
            if not line.empty:
                ax.plot(line["k"], line["mean"], label=name, **styles[name])
                if _is_highlighted(name) and line["std"].notna().any():
                    std = line["std"].fillna(0.0)
                    ax.fill_between(line["k"], line["mean"] - std, line["mean"] + std,
                                    color=styles[name]["color"], alpha=0.15, linewidth=0, zorder=1)
        ax.set_title(f"mode {mode}")
        ax.set_xlabel("K (cut-off)")
        if i % n_cols == 0:
            ax.set_ylabel(f"{family}@K (mean over folds)")
        if len(ks) > 1 and ks[-1] / max(ks[0], 1) > 20:
            ax.set_xscale("log")
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.minorticks_off()
        ax.set_ylim(bottom, 1.02)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(modes):]:
        ax.set_visible(False)
    protocol = summary[C.PROTOCOL].iloc[0] if C.PROTOCOL in summary and len(summary) else ""
    heading = title or f"{family}@K, {protocol} protocol".strip(", ")
    fig.suptitle(heading + (f"\n{subtitle}" if subtitle else ""), fontsize=12)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="recommender")
    return _save(plt, fig, path)


def plot_regret(results: pd.DataFrame, path: str | Path, metric: str = "Regret@1", title: str | None = None,
                subtitle: str | None = None) -> Path:
    """Box plot per recommender of ``metric`` over folds (every repeat's folds: the spread), one
    panel per mode, in the metric's own units (a fraction: 0.02 = 2 points of AUC or accuracy lost).
    ``results``: fold-level rows (``evaluation.Evaluation.results``). Lower is better."""
    plt = _pyplot()
    rows = results[results[C.METRIC] == metric]
    modes = list(dict.fromkeys(rows[C.MODE]))
    recommenders = list(dict.fromkeys(rows[C.RECOMMENDER]))
    styles = _styles(recommenders)
    n_rows, n_cols = _grid(max(len(modes), 1))
    width = max(5.2, 0.45 * len(recommenders) + 1.5)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width * n_cols, 3.9 * n_rows), squeeze=False, sharey=True)
    for i, (ax, mode) in enumerate(zip(axes.flat, modes)):
        part = rows[rows[C.MODE] == mode]
        values = [part.loc[part[C.RECOMMENDER] == name, C.VALUE].dropna().to_numpy(dtype=float) for name in recommenders]
        boxes = ax.boxplot(values, patch_artist=True, widths=0.6, showmeans=True,
                           medianprops={"color": "#333333"},
                           meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "#333333", "markersize": 4})
        for box, name in zip(boxes["boxes"], recommenders):
            box.set_facecolor(styles[name]["color"])
            box.set_alpha(1.0 if _is_highlighted(name) else 0.6)
            if _is_highlighted(name):
                box.set_linewidth(2.0)
        ax.set_xticks(np.arange(1, len(recommenders) + 1))
        ax.set_xticklabels(recommenders, rotation=45, ha="right", fontsize=8)
        for label in ax.get_xticklabels():
            if _is_highlighted(label.get_text()):
                label.set_fontweight("bold")
                label.set_color(HIGHLIGHT_COLOUR)
        ax.set_title(f"mode {mode}")
        if i % n_cols == 0:
            ax.set_ylabel(f"{metric} per fold (fraction, lower is better)", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(modes):]:
        ax.set_visible(False)
    heading = title or f"{metric}: relevance lost by trusting the first recommendation (box: folds; diamond: mean)"
    fig.suptitle(heading + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    return _save(plt, fig, path)


def plot_expected(predictions: pd.DataFrame, path: str | Path, metric: str = "AUC", subtitle: str | None = None) -> Path:
    """Held-out actual against expected (``expectation.held_out_predictions``), each pair a dot,
    inside its 80% interval drawn as a vertical bar; the diagonal is a perfect expectation. A dot
    off its bar is a miss of the interval; the share of hits is in the title."""
    plt = _pyplot()
    p = predictions
    hit = (p["actual"] >= p["low"]) & (p["actual"] <= p["high"])
    fig, ax = plt.subplots(figsize=(6.0, 5.6))
    ax.vlines(p["expected"], p["low"], p["high"], color="#bbbbbb", linewidth=0.6, alpha=0.25, zorder=1)
    ax.scatter(p.loc[hit, "expected"], p.loc[hit, "actual"], s=7, color=HIGHLIGHT_COLOUR, alpha=0.45,
               label="inside its interval", zorder=2)
    ax.scatter(p.loc[~hit, "expected"], p.loc[~hit, "actual"], s=7, color="#444444", alpha=0.6,
               label="outside", zorder=3)
    ax.plot([0, 1], [0, 1], color="#333333", linewidth=1.0, linestyle="--", zorder=4)
    low = float(min(p["actual"].min(), p["low"].min(), 0.4))
    ax.set_xlim(low, 1.0)
    ax.set_ylim(low, 1.0)
    ax.set_xlabel(f"expected {metric} (before training)")
    ax.set_ylabel(f"{metric} reported on the held-out dataset")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    heading = f"Expected {metric} on datasets never seen: {hit.mean():.0%} of (task, model) pairs inside the 80% interval"
    ax.set_title(heading + (f"\n{subtitle}" if subtitle else ""), fontsize=9)
    return _save(plt, fig, path)
