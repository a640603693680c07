"""Serving: scoring task descriptions with an exported model, with ONNX Runtime and no torch.

* ``bundle``: the scoring bundle (ONNX graph + JSON metadata) and how to find one from a model URI;
* ``evidence``: the nearest training tasks behind a recommendation, and its confidence;
* ``scorer``: the ONNX Runtime scorer and the one builder of the ranked output table;
* ``batch``: ``score_file``, the nightly job on one file, and the input checks both engines run;
* ``spark``: the same scorer as a Spark job;
* ``files``: the output writers, formula escaping and the file checksum (the atomic write is ``medicalrec.atomic``);
* ``pyfunc``: the MLflow pyfunc model (logged as code by ``mlops.model``).

Nothing here imports torch or ``medicalrec.mlops`` (``tests/test_layout.py``).
"""
