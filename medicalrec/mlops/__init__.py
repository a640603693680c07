"""MLOps: training sweeps under MLflow, export, registration and promotion.

* ``tracking``: where runs and registered models live, metric keys, the scoring-run record;
* ``training``: the ``train`` sweep (validate, cross-validate, log, select, refit, ship);
* ``export``: ONNX export of the transformer with a torch-vs-ONNX Runtime parity check;
* ``model``: the MLflow model of a bundle (signature, input example, models-from-code logging);
* ``registry``: aliases, quality-gated promotion and rollback.
"""
