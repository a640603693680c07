"""What a sweep measured, for people: the summary table (mean ± std over folds, paired p-value),
the Markdown comparison, the timing breakdown and the report folder (CSV, Markdown, PNG plots)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.evaluation import metrics as M
from medicalrec.evaluation.crossval import REFERENCE, Evaluation, metric_names
from medicalrec.evaluation.statistics import task_means, wilcoxon_p, wins_losses


CELL_LEGEND = (
    f"Cells: mean ± std over folds; (p=..., W:L) two-sided Wilcoxon signed-rank p-value of the per-task "
    f"values against {REFERENCE}, and the held-out tasks where the recommender is better (W) and worse "
    f"(L) than it."
)


def summarize(evaluation: Evaluation, reference: str = REFERENCE) -> pd.DataFrame:
    """One row per (protocol, mode, recommender, metric), input order kept (``SUMMARY_COLUMNS``).

    * ``mean``: task protocol, the mean over held-out tasks of each task's mean over repeats;
      record protocol, the mean over folds.
    * ``std``, ``n``: standard deviation (ddof 1) and count of the fold values (all repeats).
    * ``n_tasks``: tasks behind the mean (task protocol).
    * ``p_value``: task protocol, ``wilcoxon_p`` of the per-task values against ``reference`` on
      the same tasks and mode (NaN for the reference itself, or when it was not evaluated);
      ``wins``/``losses``: the tasks where the recommender is better / worse than the reference
      (the direction a two-sided p-value does not say).
    """
    results = evaluation.results
    keys = [C.PROTOCOL, C.MODE, C.RECOMMENDER, C.METRIC]
    grouped = results.groupby(keys, sort=False)
    summary = grouped[C.VALUE].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    summary["fit_seconds"] = grouped["fit_seconds"].mean()
    summary["n_tasks"] = np.nan
    summary["p_value"] = np.nan
    summary["wins"] = np.nan
    summary["losses"] = np.nan
    if not evaluation.per_task.empty:
        means = task_means(evaluation.per_task)
        long = means.melt(id_vars=[C.PROTOCOL, C.MODE, C.RECOMMENDER, C.TASK_ID], var_name=C.METRIC)
        per_metric = long.groupby(keys, sort=False)[C.VALUE]
        summary["mean"] = per_metric.mean().reindex(summary.index)
        summary["n_tasks"] = per_metric.count().reindex(summary.index)
        wide = long.pivot_table(index=[C.PROTOCOL, C.MODE, C.METRIC, C.TASK_ID], columns=C.RECOMMENDER,
                                values=C.VALUE, dropna=False)
        if reference in wide:
            for (protocol, mode, recommender, metric) in summary.index:
                if recommender == reference or recommender not in wide:
                    continue
                block = wide.loc[(protocol, mode, metric)]
                ours, theirs = block[recommender].to_numpy(), block[reference].to_numpy()
                key = (protocol, mode, recommender, metric)
                summary.loc[key, "p_value"] = wilcoxon_p(ours, theirs)
                summary.loc[key, ["wins", "losses"]] = wins_losses(ours, theirs, M.lower_is_better(metric))
    return summary.reset_index()[list(C.SUMMARY_COLUMNS)]


def timing_breakdown(evaluation: Evaluation) -> pd.DataFrame:
    """Where a sweep's time goes: per recommender, fits, total and mean fit and score seconds
    (summed over modes, repeats and folds), slowest first."""
    timings = evaluation.timings
    table = timings.groupby(C.RECOMMENDER, sort=False).agg(
        fits=("fit_seconds", "size"), fit_seconds=("fit_seconds", "sum"), score_seconds=("score_seconds", "sum"),
        mean_fit_seconds=("fit_seconds", "mean"))
    table["share"] = (table["fit_seconds"] + table["score_seconds"]) / max(
        float(table["fit_seconds"].sum() + table["score_seconds"].sum()), 1e-12)
    return table.sort_values("fit_seconds", ascending=False).reset_index()


def _cell(mean: float, std: float, decimals: int, p_value: float = float("nan"), wins: float = float("nan"),
          losses: float = float("nan")) -> str:
    if pd.isna(mean):
        return "n/a"
    text = f"{mean:.{decimals}f}" if pd.isna(std) else f"{mean:.{decimals}f} ± {std:.{decimals}f}"
    if pd.isna(p_value):
        return text
    record = "" if pd.isna(wins) else f", {int(wins)}:{int(losses)}"
    return f"{text} (p={p_value:.2g}{record})"


def to_markdown(summary: pd.DataFrame, metrics: Sequence[str] | None = None, decimals: int = 3) -> str:
    """A Markdown table: one row per (mode, recommender), one column per metric with
    ``mean ± std`` (std over folds) and, where the summary has one, the paired p-value against the
    reference. The best mean per mode and metric is bold (lowest for Regret@1)."""
    if metrics is None:
        present = list(dict.fromkeys(summary[C.METRIC]))
        protocols = list(dict.fromkeys(summary[C.PROTOCOL])) if C.PROTOCOL in summary else list(C.PROTOCOLS)
        known = [m for p in protocols if p in C.PROTOCOLS for m in metric_names(p)]
        metrics = [m for m in dict.fromkeys(known) if m in present] + [m for m in present if m not in known]
    metrics = list(metrics)
    table = summary.set_index([C.MODE, C.RECOMMENDER, C.METRIC])
    rows = list(dict.fromkeys(zip(summary[C.MODE], summary[C.RECOMMENDER])))
    best: dict[tuple[str, str], float] = {}
    for (mode, metric), column in summary.groupby([C.MODE, C.METRIC], sort=False)["mean"]:
        if column.notna().any():
            best[(mode, metric)] = column.min() if M.lower_is_better(metric) else column.max()
    header = [C.MODE, C.RECOMMENDER, *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(metrics)) + "|"]
    for mode, recommender in rows:
        cells = [str(mode), str(recommender)]
        for metric in metrics:
            key = (mode, recommender, metric)
            if key not in table.index:
                cells.append("n/a")
                continue
            row = table.loc[key]
            text = _cell(row["mean"], row["std"], decimals, row.get("p_value", float("nan")),
                         row.get("wins", float("nan")), row.get("losses", float("nan")))
            if not pd.isna(row["mean"]) and round(row["mean"], decimals) == round(best.get((mode, metric), np.nan), decimals):
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def describe_scheme(evaluation: Evaluation, data_label: str | None = None) -> str:
    """One line a reader needs beside any number: data, grouping, folds x repeats, tasks."""
    results = evaluation.results
    protocol = results[C.PROTOCOL].iloc[0] if len(results) else ""
    n_tasks = evaluation.per_task[C.TASK_ID].nunique() if not evaluation.per_task.empty else None
    parts = [data_label or "", f"{protocol} protocol", f"folds grouped by {evaluation.grouping}",
             f"{evaluation.n_folds} folds x {evaluation.repeats} repeat(s)"]
    if n_tasks:
        parts.append(f"{n_tasks} held-out tasks")
    return ", ".join(p for p in parts if p)


def write_report(evaluation: Evaluation, out_dir: str | Path, data_label: str | None = None) -> dict[str, Path]:
    """Write ``results.csv``, ``per_task.csv`` (task protocol), ``timings.csv``, ``summary.csv``,
    ``summary.md`` and the plots, all or none (``atomic_outputs``: a failed run leaves an earlier
    report whole, not a mix of old and new files); returns name -> path."""
    from medicalrec.atomic import write_together
    from medicalrec.evaluation import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(evaluation)
    scheme = describe_scheme(evaluation, data_label)
    sections = [f"{scheme}. {CELL_LEGEND}\n"]
    for protocol, part in summary.groupby(C.PROTOCOL, sort=False):
        sections.append(f"## {protocol} protocol\n\n" + to_markdown(part, metric_names(protocol)))
    writers = {
        "results": (out / "results.csv", lambda path: evaluation.results.to_csv(path, index=False)),
        "summary": (out / "summary.csv", lambda path: summary.to_csv(path, index=False)),
        "markdown": (out / "summary.md", lambda path: path.write_text("\n".join(sections))),
        "timings": (out / "timings.csv", lambda path: timing_breakdown(evaluation).to_csv(path, index=False)),
    }
    if not evaluation.per_task.empty:
        writers["per_task"] = (out / "per_task.csv", lambda path: evaluation.per_task.to_csv(path, index=False))
    for protocol, part in summary.groupby(C.PROTOCOL, sort=False):
        folds = evaluation.results[evaluation.results[C.PROTOCOL] == protocol]
        for family in (M.HIT_RATE, M.NDCG):
            writers[f"{protocol}_{family.lower()}"] = (
                out / f"{protocol}_{family.lower()}_at_k.png",
                lambda path, part=part, family=family: plots.plot_at_k(part, family, path, subtitle=scheme))
        if protocol == C.PROTOCOL_TASK:
            writers[f"{protocol}_regret"] = (out / f"{protocol}_regret.png",
                                             lambda path, folds=folds: plots.plot_regret(folds, path, subtitle=scheme))
    return write_together(writers)



def comparison_table(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (mode, recommender): ``metric`` mean and std over folds and the mean fit time,
    best first within each mode (lowest first for ``Regret@1``)."""
    rows = summary[summary[C.METRIC] == metric][[C.MODE, C.RECOMMENDER, "mean", "std", "n", "fit_seconds"]]
    rows = rows.rename(columns={"mean": metric, "std": f"{metric}_std", "n": "folds"})
    mode_order = {m: i for i, m in enumerate(dict.fromkeys(summary[C.MODE]))}
    sign = 1.0 if M.lower_is_better(metric) else -1.0
    key = rows[metric].to_numpy(dtype=float) * sign
    order = np.lexsort((np.nan_to_num(key, nan=np.inf), rows[C.MODE].map(mode_order).to_numpy()))
    return rows.iloc[order].reset_index(drop=True)
