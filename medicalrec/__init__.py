"""medicalrec: recommend the classifier to train for a medical image classification task.

The package is layered so that data flows one way:
bench (records, modes, splits) -> features -> recommenders -> export -> registry -> scoring.
Nothing here imports torch or mlflow at import time; the CLI stays instant.
"""

__version__ = "0.1.0"
