"""medicalrec: recommend the classifier to train for a medical image classification task.

Three lifecycles, one package:

* **evaluation** (``medicalrec.evaluation``): how well recommenders do, offline: metrics,
  cross-validation under the record and task protocols, statistics, reports and plots;
* **serving** (``medicalrec.serving``): scoring task descriptions with an exported bundle on ONNX
  Runtime (a file, a Spark job, or the MLflow pyfunc model), with evidence per recommendation;
  imports neither torch nor ``mlops``;
* **mlops** (``medicalrec.mlops``): the MLflow training sweep, ONNX export with a parity check,
  the registry and quality-gated promotion.

They share ``bench`` (records, loading, modes, tasks, splits, the generator), ``features`` (the
encoder and the one task distance), ``recommenders`` (the MedicalRec transformer and 12 baselines),
``constants`` (every column name and the default metric) and ``errors``; ``cli`` is the one front
door (the MLproject entry points hand their parameters to it). Data flows one way:
bench -> features -> recommenders -> evaluation / mlops (export, registry) -> serving (bundle).
Nothing here imports torch or mlflow at import time; the CLI stays instant.
"""

__version__ = "0.1.0"
