"""What a user sees first: the package's model fitted on the whole shipped corpus (mode I), top 5 for one task of
each of a few domains, with each candidate's catalogue pretraining, for each given context bonus.

    python research/quality/first_screen.py 0 1.0 [--level-ridge 0.5] [--share-level L] [--specialists]

``--share-level L`` counts every candidate in the contexts of its cold-start group at level L
(``context_term.py share L``); ``--specialists`` makes only specialists wait for a rating in the query's modality
(``context_term.py specialists``).
"""
import argparse

from medicalrec.bench.defaults import shipped_data_path
from medicalrec.bench.loading import load_bench
from medicalrec.bench.tasks import task_queries
from medicalrec.catalogue import Catalogue
from medicalrec.recommenders import create

DOMAINS = ["Skin disease", "COVID-19", "Glaucoma", "Fracture", "Obstetrics (fetal brain planes)", "Lung cancer",
           "Brain diagnostic"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bonuses", nargs="+", type=float)
    parser.add_argument("--level-ridge", type=float, default=None, help="default: the package's")
    parser.add_argument("--share-level", type=int, default=None, help="default: no sharing (the package's)")
    parser.add_argument("--specialists", action="store_true", help="default: every candidate waits (the package's)")
    args = parser.parse_args()
    if args.share_level is not None:
        import context_term

        context_term.share_through_groups(args.share_level)
    if args.specialists:
        import context_term

        context_term.widen_through_modality()
    records = load_bench(shipped_data_path()).frame
    queries = task_queries(records).drop_duplicates("domain").set_index("domain").loc[DOMAINS].reset_index()
    catalogue = Catalogue.load()
    extra = {} if args.level_ridge is None else {"level_ridge": args.level_ridge}
    if args.specialists:
        extra["context_generalists"] = True
    for bonus in args.bonuses:
        model = create("medicalrec", seed=0, context_bonus=bonus, **extra).fit(records, "I")
        print(f"== context bonus {bonus}")
        for domain, top in zip(DOMAINS, model.recommend(queries, 5)):
            print(f"  {domain}: " + " | ".join(f"{name} [{catalogue.attributes(name).pretraining}]" for name, _ in top))


if __name__ == "__main__":
    main()
