"""The layout's promises, checked: serving imports neither torch nor mlops (a scoring machine needs
neither), recommenders import neither serving nor mlops, bench imports nothing above it, and
importing the package and its CLI is cheap."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import medicalrec.serving

SERVING_MODULES = sorted(f"medicalrec.serving.{m.name}" for m in pkgutil.iter_modules(medicalrec.serving.__path__))


def _loaded_after_import(module: str, prefixes: tuple[str, ...]) -> list[str]:
    """Modules starting with one of ``prefixes`` that are loaded after importing ``module`` in a
    fresh interpreter."""
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            f"print('\\n'.join(m for m in sys.modules if m.startswith({prefixes!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_serving_has_the_documented_modules():
    assert {m.rsplit(".", 1)[1] for m in SERVING_MODULES} >= {"batch", "bundle", "evidence", "files", "scorer", "spark"}


@pytest.mark.parametrize("module", [m for m in SERVING_MODULES if not m.endswith(".pyfunc")])
def test_serving_imports_neither_torch_nor_mlops(module):
    assert _loaded_after_import(module, ("torch", "medicalrec.mlops", "onnxruntime", "mlflow")) == []


def test_pyfunc_model_imports_neither_torch_nor_mlops():
    # The pyfunc model is loaded by MLflow, so mlflow itself is expected; torch and mlops are not.
    assert _loaded_after_import("medicalrec.serving.pyfunc", ("torch", "medicalrec.mlops")) == []


def test_recommenders_import_neither_serving_nor_mlops():
    assert _loaded_after_import("medicalrec.recommenders", ("medicalrec.serving", "medicalrec.mlops")) == []


def test_bench_imports_nothing_above_it():
    """The data layer is the bottom of the flow: loading, validating and generating a corpus need no
    recommender, evaluation, serving or MLflow code. Read from the source, so that an import inside
    a function counts too."""
    import ast
    from pathlib import Path

    import medicalrec.bench

    above = ("medicalrec.recommenders", "medicalrec.evaluation", "medicalrec.serving", "medicalrec.mlops", "medicalrec.cli")
    for path in Path(medicalrec.bench.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.startswith(above)], f"{path.name}:{node.lineno} imports {names}"


def test_cli_import_is_light():
    assert _loaded_after_import("medicalrec.cli", ("torch", "mlflow", "onnxruntime", "sklearn")) == []
