"""Where the context term costs, and one way to spare generalists that lost (package folds, mode I, 5 x 3).

    python research/quality/context_term.py cost        # held-out tasks whose metrics change with the term,
                                                        # and the term against none, per task
    python research/quality/context_term.py breadth K   # candidates rated on tasks of >= K modalities count as
                                                        # in context everywhere (from the training records)
    python research/quality/context_term.py evidence L  # outside its contexts a rated candidate gets the bonus
                                                        # times d / (d + L), d = datasets it was rated on
    python research/quality/context_term.py modality    # a domain's context widened to every task of the
                                                        # modalities its training tasks have
    python research/quality/context_term.py inherit     # a never-rated candidate is in the contexts of the
                                                        # rated candidates of its cold-start group
    python research/quality/context_term.py specialists [ref] # only specialists (catalogue pretraining a medical
                                                        # domain) wait for a rating on a task of a modality
                                                        # the query's domain has; generalists are in context
                                                        # everywhere; per task against the shipped term
    python research/quality/context_term.py share L [ref] # every candidate is in the contexts of its group
                                                        # at cold-start level L (0 arch+adapt, 1 arch,
                                                        # 2 family+adapt, 3 family), per task against the
                                                        # shipped term (ref: leaving sources out)

A trailing ``--two-level`` runs the cold start of Updates 5 and 6 (``cold_start_across_adaptations=False``), so
their numbers reproduce; without it, today's defaults.
"""
import sys

import numpy as np
import pandas as pd

import medicalrec.recommenders.medicalrec_transformer as transformer
from medicalrec import constants as C
from medicalrec.bench.defaults import shipped_data_path
from medicalrec.bench.loading import load_bench
from medicalrec.features import FIRST_VALUE_TOKEN
from package_variants import paired_lines, per_task


def medicalrec_per_task(records, params: dict, group_by: str | None = None) -> pd.DataFrame:
    """In process (one worker), so that the patched context table of ``spare_broad_candidates`` is the one used."""
    return per_task(records, "medicalrec", params, group_by=group_by, workers=1)


def distinct_per_candidate(data, column, field: str, n_models: int) -> np.ndarray:
    """``[n_models]``: how many distinct values of ``field`` the training records that rated each candidate have."""
    rated = data.records[C.RELEVANCE].notna().to_numpy()
    values = data.records[field].astype(str).to_numpy()[rated]
    columns = column[data.record_model[rated]]
    counts = np.zeros(n_models)
    for m in np.unique(columns):
        counts[m] = len(np.unique(values[columns == m]))
    return counts


def spare_broad_candidates(min_modalities: int) -> None:
    """Make the package's context table count candidates rated on >= ``min_modalities`` modalities as generalists
    (in this process only)."""
    original = transformer._context_support

    def support(encoder, data, column, generalist, bonus):
        breadth = distinct_per_candidate(data, column, C.MODALITY, len(generalist))
        return original(encoder, data, column, breadth >= min_modalities, bonus)

    transformer._context_support = support


def scale_bonus_by_evidence(pseudo_datasets: float) -> None:
    """Give a rated candidate, outside the contexts it was rated in, ``bonus * d / (d + pseudo_datasets)`` (d: the
    datasets training rated it on): one rated on many collections is trusted almost everywhere, a niche winner
    rated on one or two stays below the query's own context (in this process only)."""
    original = transformer._context_support

    def support(encoder, data, column, generalist, bonus):
        position, table = original(encoder, data, column, generalist, bonus)
        if position < 0:
            return position, table
        evidence = distinct_per_candidate(data, column, C.DATASET, table.shape[1])
        partial = bonus * evidence / (evidence + pseudo_datasets)
        values = table[FIRST_VALUE_TOKEN:]
        table[FIRST_VALUE_TOKEN:] = np.where(values > 0, values, partial[None, :])
        return position, table

    transformer._context_support = support


def widen_through_modality() -> None:
    """In mode I the context is the domain (51 values, some of one dataset): count a candidate in the context of a
    domain when training rated it on a task of any modality that domain's training tasks have (in this process
    only). A held-out OrganMNIST task then credits models rated on other abdominal CT tasks too."""
    original = transformer._context_support

    def support(encoder, data, column, generalist, bonus):
        position, table = original(encoder, data, column, generalist, bonus)
        if position < 0 or encoder.features[position] != C.DOMAIN:
            return position, table
        rated = data.records[C.RELEVANCE].notna().to_numpy()
        tokens = encoder.tokens(data.records)[rated, position]
        modality = data.records[C.MODALITY].astype(str).to_numpy()[rated]
        columns = column[data.record_model[rated]]
        for token in np.unique(tokens[tokens >= FIRST_VALUE_TOKEN]):
            table[token, columns[np.isin(modality, np.unique(modality[tokens == token]))]] = bonus
        return position, table

    transformer._context_support = support


def patch_context_with_groups(rewrite) -> None:
    """Patch the package's context table (in this process only): ``rewrite(table, levels, rated, names)`` gets the
    table ``[vocabulary, n_models]``, the candidates' four cold-start levels, which candidates training rated and
    their names, and returns the table to use."""
    original_support, original_candidates = transformer._context_support, transformer._candidates
    names: list[str] = []

    def candidates(*args, **kwargs):
        names[:] = original_candidates(*args, **kwargs)
        return list(names)

    def support(encoder, data, column, generalist, bonus):
        position, table = original_support(encoder, data, column, generalist, bonus)
        if position < 0:
            return position, table
        levels = transformer._levels(transformer._attribute_codes(names)[0], across_adaptations=True)
        rated = np.zeros(len(names), dtype=bool)
        rated[column[data.record_model[data.records[C.RELEVANCE].notna().to_numpy()]]] = True
        return position, rewrite(table, levels, rated, names)

    transformer._candidates, transformer._context_support = candidates, support


def inherit_through_groups() -> None:
    """A never-rated candidate gets no context bonus, so item cold start can place it only below every candidate
    rated in the query's context. Here it is in the contexts where the rated candidates of its architecture +
    adaptation group (else of its architecture under any adaptation) were rated."""

    def rewrite(table, levels, rated, names):
        for m in np.flatnonzero(~rated):
            for level in levels[:2]:
                members = rated & (level == level[m])
                if members.any():
                    table[:, m] = table[:, members].max(axis=1)
                    break
        return table

    patch_context_with_groups(rewrite)


def share_through_groups(level_index: int, generic_only: bool = False) -> None:
    """Every candidate is in the contexts where any candidate of its group at cold-start level ``level_index`` was
    rated. A 3D ResNet-18 rated on other CT collections then counts as rated on an OrganMNIST3D query if a
    ResNet-18 was rated on abdominal CT; a fetal-ultrasound zero-shot model stays outside a dermoscopy query
    unless its architecture was rated there. ``generic_only``: only candidates whose catalogue pretraining is not a
    medical domain (``_generalists``) take their group's contexts; a specialist (pathology, medical, radiology
    pretraining) keeps its own."""

    def rewrite(table, levels, rated, names):
        level = levels[level_index]
        receiving = transformer._generalists(names) if generic_only else np.ones(len(names), dtype=bool)
        shared = table.copy()
        for group in np.unique(level):
            members = level == group
            shared[:, members & receiving] = table[:, members].max(axis=1, keepdims=True)
        return shared

    patch_context_with_groups(rewrite)


def print_paired(label: str, shipped: pd.DataFrame, other: pd.DataFrame) -> None:
    """Means of the shipped term and of ``other``, and per metric the held-out tasks where ``other`` is higher and
    lower (lower is better for Regret@1) with the Wilcoxon signed-rank p-value."""
    print("shipped context term", shipped.mean().round(4).to_dict())
    print(label, other.mean().round(4).to_dict())
    print("\n".join(paired_lines(shipped, other)))


def main() -> None:
    records = load_bench(shipped_data_path()).frame
    base = {"cold_start_across_adaptations": False} if sys.argv[-1] == "--two-level" else {}
    if sys.argv[1] == "cost":
        shipped = medicalrec_per_task(records, base)
        without = medicalrec_per_task(records, {**base, "context_bonus": 0.0})
        diff = shipped - without
        pd.set_option("display.width", 250)
        print(diff[(diff != 0).any(axis=1)].sort_values("NDCG@5").round(4).to_string())
        print_paired("no context term", shipped, without)
    elif sys.argv[1] == "modality":
        widen_through_modality()
        print("domain context widened through modality", medicalrec_per_task(records, base).mean().round(4).to_dict())
    elif sys.argv[1] == "inherit":
        inherit_through_groups()
        print("context inherited through cold-start groups", medicalrec_per_task(records, base).mean().round(4).to_dict())
    elif sys.argv[1] == "share":
        group_by = "ref" if "ref" in sys.argv[3:] else None
        shipped = medicalrec_per_task(records, base, group_by)
        share_through_groups(int(sys.argv[2]), generic_only="generic" in sys.argv[3:])
        shared = medicalrec_per_task(records, base, group_by)
        who = " by generic candidates" if "generic" in sys.argv[3:] else ""
        print_paired(f"context shared at cold-start level {sys.argv[2]}{who}", shipped, shared)
    elif sys.argv[1] == "specialists":
        group_by = "ref" if "ref" in sys.argv[2:] else None
        shipped = medicalrec_per_task(records, base, group_by)
        widen_through_modality()
        other = medicalrec_per_task(records, {**base, "context_generalists": True}, group_by)
        print_paired("specialists wait for a rating in the query's modality", shipped, other)
        print("\n".join(["against no context term:"] + paired_lines(
            medicalrec_per_task(records, {**base, "context_bonus": 0.0}, group_by), other)))
    elif sys.argv[1] == "evidence":
        scale_bonus_by_evidence(float(sys.argv[2]))
        print(f"evidence, {sys.argv[2]} pseudo-datasets", medicalrec_per_task(records, base).mean().round(4).to_dict())
    else:
        spare_broad_candidates(int(sys.argv[2]))
        print(f"breadth >= {sys.argv[2]} modalities", medicalrec_per_task(records, base).mean().round(4).to_dict())


if __name__ == "__main__":
    main()
