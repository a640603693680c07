"""Evaluation: how well recommenders do, measured offline.

* ``metrics``: the ranking metrics of both protocols (pure numpy);
* ``crossval``: cross-validation under the record and task protocols (``evaluate``);
* ``statistics``: per-task means over repeats, the paired Wilcoxon test;
* ``report``: the summary table, Markdown, timings and the report folder;
* ``plots``: the PNG plots of a report.
"""
