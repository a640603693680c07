"""What is in a bench file: size, tasks, models, how much of each feature mode is actually reported.

``describe`` returns a JSON-serialisable dict (for ``--json`` and for tests); ``format_describe`` turns
it into a short terminal report.
"""

from __future__ import annotations

import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.loading import Bench
from medicalrec.bench.modes import MODES
from medicalrec.bench.tasks import add_relevance

DEFAULT_TOP = C.DEFAULT_DESCRIBE_TOP


def describe(bench_or_frame: Bench | pd.DataFrame, top: int = DEFAULT_TOP) -> dict:
    """Counts, missingness per column and per feature mode, the most evaluated models and domains.

    Per mode: ``mean_missing`` is the mean over records of the fraction of the mode's features that
    are missing; ``complete`` the fraction of records that report every feature of the mode. Columns
    absent from a frame count as entirely missing.
    """
    if isinstance(bench_or_frame, Bench):
        frame, source, notes = bench_or_frame.frame, bench_or_frame.source, list(bench_or_frame.notes)
    else:
        frame, source, notes = bench_or_frame, None, []
    n = len(frame)
    missing = pd.DataFrame(
        {c: frame[c].isna() if c in frame else pd.Series(True, index=frame.index) for c in C.CANONICAL_COLUMNS},
        index=frame.index,
    )
    frame = add_relevance(frame) if n else frame.assign(**{C.TASK_ID: pd.Series(dtype=object)})

    modes = {}
    for name, mode in MODES.items():
        block = missing[list(mode.features)]
        modes[name] = {
            "features": list(mode.features),
            "mean_missing": _fraction(block.to_numpy().mean()) if n else None,
            "complete": _fraction((~block.any(axis=1)).mean()) if n else None,
        }

    tasks = frame[C.TASK_ID]
    metrics = {}
    if n:
        per_task = frame.groupby(C.TASK_ID, sort=False)[C.RELEVANCE_METRIC].first()
        metrics = {str(k): int(v) for k, v in per_task.fillna("none").value_counts().items()}

    return {
        "source": source,
        "records": n,
        "tasks": int(tasks.nunique()),
        "models": int(frame[C.MODEL].nunique()) if C.MODEL in frame else 0,
        "refs": int(frame[C.REF].nunique()) if C.REF in frame else 0,
        "datasets": int(frame[C.DATASET].nunique()) if C.DATASET in frame else 0,
        "domains": int(frame[C.DOMAIN].nunique()) if C.DOMAIN in frame else 0,
        "missingness": {c: (_fraction(missing[c].mean()) if n else None) for c in C.CANONICAL_COLUMNS},
        "modes": modes,
        "relevance_metrics": metrics,
        "top_models": _top(frame, C.MODEL, tasks, top),
        "top_domains": _top(frame, C.DOMAIN, tasks, top),
        "notes": notes,
    }


def _fraction(value: float) -> float:
    return float(value)


def _top(frame: pd.DataFrame, column: str, tasks: pd.Series, top: int) -> list[dict]:
    """``[{name, records, tasks}]``, most records first, ties by name."""
    if column not in frame or frame.empty:
        return []
    present = frame[column].notna()
    grouped = pd.DataFrame({"name": frame.loc[present, column].astype(str), "task": tasks[present]})
    table = grouped.groupby("name").agg(records=("task", "size"), tasks=("task", "nunique")).reset_index()
    table = table.sort_values(["records", "name"], ascending=[False, True], kind="stable").head(top)
    return [
        {"name": str(row.name), "records": int(row.records), "tasks": int(row.tasks)}
        for row in table.itertuples(index=False)
    ]


def format_describe(d: dict) -> str:
    """The dict of ``describe`` as a readable terminal report."""
    lines = []
    if d.get("source"):
        lines.append(f"file: {d['source']}")
    lines.append(
        f"records: {d['records']:,}   tasks: {d['tasks']:,}   models: {d['models']:,}   "
        f"refs: {d['refs']:,}   datasets: {d['datasets']:,}   domains: {d['domains']:,}"
    )
    if d["relevance_metrics"]:
        lines.append("task relevance metric: " + ", ".join(f"{k} {v}" for k, v in d["relevance_metrics"].items()))
    lines.append("")
    lines.append("feature modes       mean missing   complete records")
    for name, mode in d["modes"].items():
        lines.append(
            f"  {name:<4} ({len(mode['features']):>2} features)  {_percent(mode['mean_missing']):>10}   "
            f"{_percent(mode['complete']):>10}"
        )
    lines.append("")
    lines.append("missing values per column")
    for column, fraction in d["missingness"].items():
        lines.append(f"  {column:<18} {_percent(fraction):>8}")
    for title, key in (("top models", "top_models"), ("top domains", "top_domains")):
        if d[key]:
            lines.append("")
            lines.append(f"{title} (records, tasks)")
            width = max(len(item["name"]) for item in d[key])
            for item in d[key]:
                lines.append(f"  {item['name']:<{width}}  {item['records']:>6}  {item['tasks']:>5}")
    if d.get("notes"):
        lines.append("")
        lines.append("notes")
        lines.extend(f"  {note}" for note in d["notes"])
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
