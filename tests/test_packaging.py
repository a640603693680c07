"""What each install holds: scoring runs without the training packages (torch above all), the training
commands say in one line how to get them, and pyproject.toml, conda.yaml, the README's set-up commands
and .ci/run agree with each other and with what the code imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pandas as pd
import pytest
import yaml

from medicalrec.cli import TRAINING_PACKAGES

ROOT = Path(__file__).resolve().parents[1]


def _without(packages: tuple[str, ...], code: str) -> str:
    """``code`` run by an interpreter where importing any of ``packages`` fails as if not installed
    (``None`` in ``sys.modules``)."""
    return f"import sys\nfor name in {packages!r}:\n    sys.modules[name] = None\n{code}"


def _cli(packages: tuple[str, ...], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = _without(packages, f"from medicalrec.cli import main\nmain(args={args!r}, prog_name='medicalrec')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def _requirements() -> dict[str, list[str]]:
    """pyproject.toml's requirements: ``base`` and one list per extra."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"base": project["dependencies"], **project["optional-dependencies"]}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_scoring_needs_none_of_the_training_packages(scoring_bundle, tmp_path):
    from medicalrec.bench.tasks import task_queries
    from medicalrec.serving.batch import score_file

    _, bundle, records = scoring_bundle
    task_queries(records).head(25).reset_index().to_csv(tmp_path / "tasks.csv", index=False)
    helped = _cli(TRAINING_PACKAGES, ["--help"], tmp_path)
    assert helped.returncode == 0 and "score" in helped.stdout, helped.stderr
    scored = _cli(TRAINING_PACKAGES, ["score", "--model", str(bundle.directory), "--input", "tasks.csv",
                                      "--output", "recs.csv", "--top-k", "5", "--quiet"], tmp_path)
    assert scored.returncode == 0, scored.stderr
    score_file(bundle.directory, tmp_path / "tasks.csv", tmp_path / "expected.csv", top_k=5)  # torch importable here
    assert (tmp_path / "recs.csv").read_bytes() == (tmp_path / "expected.csv").read_bytes()
    assert len(pd.read_csv(tmp_path / "recs.csv")) == 25 * 5
    # promote (the registry and its rescoring) and the pyfunc model import without them too.
    modules = ["medicalrec.mlops.registry", "medicalrec.evaluation.crossval", "medicalrec.mlops.export",
               "medicalrec.mlops.model", "medicalrec.serving.pyfunc", "medicalrec.serving.spark"]
    code = _without(TRAINING_PACKAGES, "\n".join(f"import {m}" for m in modules))
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr


@pytest.mark.parametrize("command", [
    ["train", "--data", "decathlon", "--modes", "I"],
    ["evaluate", "--data", "decathlon", "--modes", "I", "--out", "reports"],
])
def test_training_commands_without_torch_say_install_the_train_extra(command, tmp_path):
    result = _cli(("torch",), command, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: medicalrec {command[0]} needs the training extra (missing: torch): pip install 'medicalrec[train]' "
        "(pip install -e '.[train]' in a checkout)"]
    assert list(tmp_path.iterdir()) == []  # no store, no report


def test_every_import_is_declared_and_training_packages_are_the_train_extra():
    requirements = _requirements()
    declared = {group: {_name(r) for r in reqs} for group, reqs in requirements.items()}
    distributions = {name: {d.lower().replace("_", "-") for d in dists}
                     for name, dists in packages_distributions().items()}
    imported = set()
    for path in (ROOT / "medicalrec").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = sorted(n for n in imported if n not in sys.stdlib_module_names and n != "medicalrec")
    runtime = declared["base"] | declared["train"] | declared["spark"]
    undeclared = [n for n in third_party if not distributions.get(n, {n}) & runtime]
    assert undeclared == []
    assert {d for n in TRAINING_PACKAGES for d in distributions[n]} == declared["train"]
    assert "torch" not in declared["base"] and "torch==2.13.0" in requirements["train"]


def test_conda_environment_is_the_package_with_its_training_extra():
    requirements = _requirements()
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip = next(item["pip"] for item in conda["dependencies"] if isinstance(item, dict))
    assert sorted(pip) == sorted(requirements["base"] + requirements["train"])


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set-up on a fresh machine (two commands)", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert commands == ['python -m pip install -e ".[train]" && mlflow run . -e train --env-manager local --experiment-name medicalrec',
                        'python -m pip install -e ".[train,test,spark]" && python -m pytest -q']
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [commands[1]]
    extras = set(_requirements()) - {"base"}
    for command in commands:
        for group in re.findall(r'"\.\[([^\]]+)\]"', command):
            assert set(group.split(",")) <= extras
