"""The explicit registry of recommenders: name -> class, in the order reports list them."""

from __future__ import annotations

from importlib import import_module

from medicalrec.errors import ConfigError

# name -> "module:Class"; modules are imported on demand so that listing names stays cheap.
# MedicalRec first, then the baselines from trivial to learned, then the two references.
RECOMMENDERS: dict[str, str] = {
    "medicalrec": "medicalrec.recommenders.medicalrec_transformer:MedicalRecTransformer",
    "random": "medicalrec.recommenders.random_ranker:RandomRanker",
    "popularity": "medicalrec.recommenders.popularity:Popularity",
    "domain_popularity": "medicalrec.recommenders.domain_popularity:DomainPopularity",
    "best_mean_relevance": "medicalrec.recommenders.best_mean_relevance:BestMeanRelevance",
    "knn_tasks": "medicalrec.recommenders.knn_tasks:KnnTasks",
    "logistic_regression": "medicalrec.recommenders.logistic_regression:LogisticRegression",
    "random_forest": "medicalrec.recommenders.random_forest:RandomForest",
    "gradient_boosting": "medicalrec.recommenders.gradient_boosting:GradientBoosting",
    "mlp": "medicalrec.recommenders.mlp:MLP",
    "factorization_machine": "medicalrec.recommenders.factorization_machine:FactorizationMachine",
    "deepfm": "medicalrec.recommenders.deep_fm:DeepFM",
    "two_tower": "medicalrec.recommenders.two_tower:TwoTower",
    # Two stronger references for the transformer to beat.
    "lambda_mart": "medicalrec.recommenders.lambda_mart:LambdaMart",
    "prior_knn_residual": "medicalrec.recommenders.prior_knn_residual:PriorKnnResidual",
}


def recommender_names() -> list[str]:
    return list(RECOMMENDERS)


def get_recommender_class(name: str):
    if name not in RECOMMENDERS:
        raise ConfigError(f"unknown recommender {name!r}; choose from {', '.join(RECOMMENDERS)}")
    module, klass = RECOMMENDERS[name].split(":")
    return getattr(import_module(module), klass)


def create(name: str, seed: int = 0, **params):
    return get_recommender_class(name)(seed=seed, **params)


def parse_recommenders(text: str) -> list[str]:
    """``"all"`` or a comma list -> names in registry order as given; unknown names fail fast."""
    if text.strip().lower() == "all":
        return recommender_names()
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise ConfigError(f"no recommender given in {text!r}; choose from {', '.join(RECOMMENDERS)} or 'all'")
    for name in names:
        get_recommender_class(name)
    return list(dict.fromkeys(names))
