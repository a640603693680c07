"""Every column name the code base uses, in one place (spec: ``shared/spec/bench-schema.md``).

Schema changes start here, together with the README and the tests that depend on them.
"""

SCHEMA_VERSION = "2"  # 2: the optional ``dataset`` column

# Identity of a record.
REF = "ref"
TASK = "task"
MODEL = "model"
DATASET = "dataset"  # the underlying image collection; optional; folds of the task protocol group by it

# Task description.
DOMAIN = "domain"
MODALITY = "modality"
TASK_TYPE = "task_type"
N_SAMPLES = "n_samples"
N_TRAIN = "n_train"
N_TEST = "n_test"
N_VAL = "n_val"
K_FOLD = "k_fold"
WIDTH = "width"
HEIGHT = "height"
CHANNELS = "channels"
N_CLASSES = "n_classes"
AUGMENTATION = "augmentation"
# The first of these a feature mode has is a query's context: the transformer's context term ranks
# the models rated in the query's context first.
CONTEXT_FEATURES = (MODALITY, DOMAIN)

# Reported performance (fractions in [0, 1]).
ACCURACY = "accuracy"
PRECISION = "precision"
RECALL = "recall"
F1 = "f1"
AUC = "auc"
BALANCED_ACCURACY = "balanced_accuracy"

# Columns the code derives; never read from a file.
TASK_ID = "task_id"
RELEVANCE = "relevance"
RELEVANCE_METRIC = "relevance_metric"

# Provenance of a record (file and commit it was read from): kept as an extra column, never a feature.
ORIGIN = "origin"

CATEGORICAL_COLUMNS = (DOMAIN, MODALITY, TASK_TYPE)
BOOLEAN_COLUMNS = (AUGMENTATION,)
COUNT_COLUMNS = (N_SAMPLES, N_TRAIN, N_TEST, N_VAL, K_FOLD, WIDTH, HEIGHT, CHANNELS, N_CLASSES)
METRIC_COLUMNS = (ACCURACY, PRECISION, RECALL, F1, AUC, BALANCED_ACCURACY)
TEXT_COLUMNS = (REF, TASK, MODEL, DATASET)

# Canonical column order of a bench file.
CANONICAL_COLUMNS = (
    REF, TASK, DOMAIN, MODALITY, TASK_TYPE,
    N_SAMPLES, N_TRAIN, N_TEST, N_VAL, K_FOLD, WIDTH, HEIGHT, CHANNELS, N_CLASSES,
    AUGMENTATION, ACCURACY, PRECISION, RECALL, F1, AUC, BALANCED_ACCURACY, MODEL, DATASET,
)

# Columns that describe a task rather than one model's result on it: records of one ref that agree
# on all of them form one task when a file has no ``task`` column.
TASK_DESCRIPTION_COLUMNS = (
    DOMAIN, MODALITY, TASK_TYPE, N_SAMPLES, N_TRAIN, N_TEST, N_VAL, K_FOLD,
    WIDTH, HEIGHT, CHANNELS, N_CLASSES,
)

# Order in which the task protocol picks the relevance metric of a task (spec, "task" protocol).
RELEVANCE_PRIORITY = (AUC, ACCURACY, BALANCED_ACCURACY, F1)

TASK_TYPES = ("binary", "multi-class", "multi-label", "ordinal")

# Evaluation.
PROTOCOL_RECORD = "record"
PROTOCOL_TASK = "task"
PROTOCOLS = (PROTOCOL_RECORD, PROTOCOL_TASK)
RECORD_KS = (1, 5, 10, 20, 50, 100)
TASK_KS = (1, 3, 5)

# Scoring output.
RANK = "rank"
SCORE = "score"

# Default metric: what ``train`` selects the shipped mode by and ``promote`` compares.
DEFAULT_METRIC = "NDCG@5"

# Defaults the command line shows and the library uses (here, so ``medicalrec --help`` reads them
# without importing the modules that use them).
DEFAULT_MODEL_NAME = "medicalrec"  # registered model name, and the MLflow experiment of training
PRODUCTION_ALIAS = "production"  # the registry alias batch scoring reads
DEFAULT_MODEL_URI = f"models:/{DEFAULT_MODEL_NAME}@{PRODUCTION_ALIAS}"
DEFAULT_FOLDS = 5  # grouped cross-validation folds
DEFAULT_TOP_K = 10  # models per scored task
DEFAULT_SCORING_CHUNK = 50_000  # task rows read and scored at a time
DEFAULT_MAX_PROBLEMS = 100  # bad values listed before the list stops
DEFAULT_GENERATED_RECORDS = 5_000  # synthetic records of ``bench generate``
DEFAULT_GENERATOR_CHUNK = 50_000  # synthetic records built and written at a time
DEFAULT_DESCRIBE_TOP = 10  # models and domains ``bench describe`` lists

# Scoring output: one row per task and ranked model (batch files, Spark, the pyfunc model).
SUPPORT = "support"  # training records of the model on the nearest training tasks
NEAREST_TASKS = "nearest_tasks"  # "ref / task | ..." of the nearest training tasks
DISTANCE = "distance"  # to the nearest training task
CONFIDENCE = "confidence"  # low | ok | high
# What a candidate is expected to score (``serving.expectation``: the metric is in the name) and
# what it costs (``catalogue``); the same on every row of a candidate.
EXPECTED = "expected_auc"
EXPECTED_LOW = "expected_low"  # 80% interval
EXPECTED_HIGH = "expected_high"
EXPECTED_TASKS = "expected_tasks"  # training tasks behind expected_auc (0: the corpus median stands in)
PARAMS_M = "params_m"  # parameters, millions
GFLOPS = "gflops"  # inference GFLOPs for one image at the model's input size
TRAINED_PARAMS_M = "trained_params_m"  # parameters the adaptation trains (a probe: only its head)
PARETO = "pareto"  # no other candidate is expected to be at least as good at no more cost (empty: cost unknown)
CANDIDATE_COLUMNS = (EXPECTED, EXPECTED_LOW, EXPECTED_HIGH, EXPECTED_TASKS, PARAMS_M, GFLOPS, TRAINED_PARAMS_M, PARETO)
# ``score --evidence side``: the ranked rows without the per-task evidence, and that evidence once
# per task in a side file (join on task_id).
RANKED_COLUMNS = (TASK_ID, RANK, MODEL, SCORE, SUPPORT) + CANDIDATE_COLUMNS
OUTPUT_COLUMNS = RANKED_COLUMNS + (NEAREST_TASKS, DISTANCE, CONFIDENCE)
EVIDENCE_COLUMNS = (TASK_ID, NEAREST_TASKS, DISTANCE, CONFIDENCE)
# The same, one row per task (the pyfunc model's output="per_task", what mlflow.pyfunc.spark_udf
# needs): models, scores, support and the candidate columns are arrays in rank order, the evidence
# columns appear once.
RANKED_MODELS = "models"
RANKED_SCORES = "scores"
PER_TASK_COLUMNS = (TASK_ID, RANKED_MODELS, RANKED_SCORES, SUPPORT) + CANDIDATE_COLUMNS + (NEAREST_TASKS, DISTANCE,
                                                                                        CONFIDENCE)
OUTPUT_LONG, OUTPUT_PER_TASK = "long", "per_task"  # values of the pyfunc model's "output" param
# Rejected input rows of ``score --on-error skip``.
REJECT_COLUMNS = ("row", TASK_ID, "column", "value", "reason")

# Evaluation results (``evaluation.crossval`` and ``evaluation.report``).
PROTOCOL = "protocol"
MODE = "mode"
RECOMMENDER = "recommender"
REPEAT = "repeat"
FOLD = "fold"
METRIC = "metric"
VALUE = "value"
KEY_COLUMNS = (PROTOCOL, MODE, RECOMMENDER, REPEAT, FOLD)
RESULT_COLUMNS = (*KEY_COLUMNS, METRIC, VALUE, "n_queries", "fit_seconds")
SUMMARY_COLUMNS = (PROTOCOL, MODE, RECOMMENDER, METRIC, "mean", "std", "n", "n_tasks", "p_value", "wins", "losses",
                   "fit_seconds")
TIMING_COLUMNS = (*KEY_COLUMNS, "fit_seconds", "score_seconds")
