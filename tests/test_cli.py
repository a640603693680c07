"""The command line: exit codes and one-line errors for the user-facing paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from medicalrec import constants as C
from medicalrec.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_help_lists_every_command_and_imports_nothing_heavy():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("bench", "evaluate", "train", "promote", "score"):
        assert command in result.output
    probe = "import sys, medicalrec.cli; print(sorted(m for m in ('torch', 'mlflow', 'onnxruntime', 'sklearn', 'pandas') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_describe_the_shipped_data_as_json():
    """No file: the public corpus the product ships; a shipped name: that file."""
    result = run("bench", "describe", "--json")
    assert result.exit_code == 0, result.output
    description = json.loads(result.output)
    assert (description["records"], description["tasks"], description["models"], description["datasets"]) == (4393, 295, 383, 98)
    description = json.loads(run("bench", "describe", "decathlon", "--json").output)
    assert (description["records"], description["tasks"], description["models"]) == (70, 10, 7)


def test_bad_parameters_are_one_line_and_exit_2():
    for args, fragment in [
        (("evaluate", "--folds", "abc", "--models", "popularity"), "folds"),
        (("evaluate", "--modes", "V"), "unknown mode"),
        (("evaluate", "--models", "nope"), "unknown recommender"),
        (("bench", "describe", "no-such-file.csv"), "no-such-file.csv"),
    ]:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.output


def test_validate_reports_row_column_and_value(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Ref,Model,#Sample,#Train\npaper,ResNet,100,200\npaper,VGG,abc,10\n")
    result = run("bench", "validate", str(bad))
    assert result.exit_code == 2
    assert "row 2" in result.output and "'#Train'" in result.output and "200" in result.output
    assert "row 3" in result.output and "abc" in result.output


def test_score_with_a_missing_input_file_exits_2_and_writes_nothing(tmp_path, scoring_bundle):
    _, bundle, _ = scoring_bundle
    output = tmp_path / "recs.csv"
    result = run("score", "--model", str(bundle.directory), "--input", str(tmp_path / "missing.csv"),
                 "--output", str(output), "--quiet")
    assert result.exit_code == 2
    assert "missing.csv" in result.output
    assert not output.exists()


def test_scoring_a_local_bundle_does_not_load_mlflow(tmp_path, scoring_bundle):
    """A nightly job scoring an exported bundle pays no MLflow import and leaves no mlflow.db."""
    _, bundle, records = scoring_bundle
    tasks = tmp_path / "tasks.csv"
    records.drop(columns=[C.MODEL]).head(5).to_csv(tasks, index=False)
    probe = ("import sys; from medicalrec.cli import main\n"
             f"main(['score', '--model', {str(bundle.directory)!r}, '--input', {str(tasks)!r}, "
             f"'--output', {str(tmp_path / 'recs.csv')!r}, '--quiet'], standalone_mode=False)\n"
             "print('mlflow' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=tmp_path).stdout.strip()
    assert loaded == "False"
    assert len(pd.read_csv(tmp_path / "recs.csv")) == 5 * 10
    assert not (tmp_path / "mlflow.db").exists()


def test_score_refuses_a_misspelled_feature_column_and_writes_nothing(tmp_path, scoring_bundle):
    _, bundle, _ = scoring_bundle
    tasks, output = tmp_path / "tasks.csv", tmp_path / "recs.csv"
    tasks.write_text("task_id,domian,modality,n_samples\nt1,Skin disease,Dermoscopy,2000\n")
    result = run("score", "--model", str(bundle.directory), "--input", str(tasks), "--output", str(output), "--quiet")
    assert result.exit_code == 2
    assert "column 'domian' is not a bench column but reads like 'domain'" in result.output
    assert not output.exists()
    validated = run("bench", "validate", "--scoring-input", str(tasks))
    assert validated.exit_code == 2 and "reads like 'domain'" in validated.output


def test_score_of_a_header_only_file_writes_a_header_only_output_and_exits_0(tmp_path, scoring_bundle):
    """A night without new tasks is not an alert: yesterday's output is replaced by an empty one."""
    _, bundle, _ = scoring_bundle
    tasks, output = tmp_path / "tasks.csv", tmp_path / "recs.csv"
    tasks.write_text("task_id,domain,n_samples\n")
    output.write_text("yesterday\n")
    result = run("score", "--model", str(bundle.directory), "--input", str(tasks), "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "no tasks" in result.output
    assert output.read_text().splitlines() == [",".join(C.OUTPUT_COLUMNS)]


def test_score_top_k_must_be_a_positive_number_or_all(tmp_path):
    result = run("score", "--input", "x.csv", "--output", "y.csv", "--top-k", "0")
    assert result.exit_code == 2 and "at least 1" in result.output


def test_train_and_evaluate_share_validation_before_any_work(tmp_path, monkeypatch):
    """Seeds are >= 0 and folds are N >= 2 or 'loo' on both commands (exit 2, one line, no store)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for command in ("train", "evaluate"):
        for args, fragment in [(("--seed", "-1"), "--seed"), (("--folds", "0"), "loo"), (("--folds", "x"), "loo")]:
            result = run(command, *args)
            assert result.exit_code == 2, (command, args, result.output)
            assert fragment in result.output
    assert not (tmp_path / "mlflow.db").exists()


def test_train_refuses_a_bad_candidates_file_before_any_work(tmp_path, monkeypatch):
    """--candidates: a missing file, a file of only comments, or names given twice (also in
    --transformer-params) exit 2 with one line naming the problem, and no store is made."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    comments = tmp_path / "comments.txt"
    comments.write_text("# nothing yet\n\n")
    names = tmp_path / "names.txt"
    names.write_text("ConvNeXt-T (fine-tune)\n")
    for args, fragment in [(("--candidates", str(tmp_path / "absent.txt")), "absent.txt"),
                           (("--candidates", str(comments)), "holds no candidate names"),
                           (("--candidates", str(names), "--transformer-params", '{"candidates": ["x"]}'),
                            "candidates given twice")]:
        result = run("train", *args)
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.output
    assert not (tmp_path / "mlflow.db").exists()


def test_entry_point_shim_translates_mlproject_parameters():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "entrypoints"))
    try:
        from _cli import cli_args
    finally:
        sys.path.pop(0)
    argv = ["--model-name", "m", "--version", "latest", "--force", "false", "--data", "none", "--rollback", "true"]
    assert cli_args(argv, flags=("--force", "--rollback"), optional=("--version", "--data")) == \
        ["--model-name", "m", "--rollback"]
    assert cli_args(["--version", "3", "--force", "TRUE"], flags=("--force",), optional=("--version",)) == \
        ["--version", "3", "--force"]


def test_entry_points_and_cli_give_the_same_one_line_error(tmp_path):
    """A bad parameter through the MLproject shim is the CLI's own message and exit code."""
    script = Path(__file__).resolve().parents[1] / "entrypoints" / "score.py"
    shim = subprocess.run([sys.executable, str(script), "--input", "x.csv", "--output", "y.csv", "--top-k", "0"],
                          capture_output=True, text=True, cwd=tmp_path)
    direct = run("score", "--input", "x.csv", "--output", "y.csv", "--top-k", "0")
    assert shim.returncode == direct.exit_code == 2
    assert "at least 1" in shim.stderr and "at least 1" in direct.output


def test_every_mlproject_parameter_is_an_option_of_its_command_with_the_same_default():
    """MLproject repeats the CLI's options (it cannot leave one out); each ``--option {param}`` must
    name a real option, and a default other than 'none' must be the CLI's own, so a nightly job
    set up through ``mlflow run`` can reach every option ``medicalrec score --help`` lists."""
    import re

    import yaml

    project = yaml.safe_load((Path(__file__).resolve().parents[1] / "MLproject").read_text())
    for entry, spec in project["entry_points"].items():
        command = main.commands["train" if entry == "evaluate" else entry]  # evaluate = train --no-register
        options = {opt: p for p in command.params for opt in p.opts}
        pairs = re.findall(r"(--[\w-]+) \{(\w+)\}", spec["command"])
        assert {param for _, param in pairs} == set(spec["parameters"]), entry
        for option, param in pairs:
            assert option in options, (entry, option)
            default = spec["parameters"][param].get("default")
            cli_default = options[option].default
            if str(default).lower() not in ("none", "latest", "false") and cli_default is not None:
                assert str(default) == str(cli_default), (entry, option, default, cli_default)
    scored = {option for option, _ in re.findall(r"(--[\w-]+) \{(\w+)\}", project["entry_points"]["score"]["command"])}
    assert {"--on-error", "--device", "--chunk-size", "--evidence"} <= scored
