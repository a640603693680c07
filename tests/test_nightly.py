"""The nightly job as an on-call engineer meets it: the README's cron line through ``mlflow run``
against a real registered model, a ``kill -9`` followed by a clean run, paths a run must never
write (its own input, a folder, a folder it may not write), output and rejects replaced together,
every row rejected (exit 3), and bundles whose two files do not belong together."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from medicalrec import constants as C
from medicalrec.cli import EXIT_NOTHING_SCORED, main
from medicalrec.errors import ConfigError, ModelError
from medicalrec.serving.batch import rejects_path_for, score_file
from medicalrec.serving.bundle import METADATA_FILE, read_bundle

ROOT = Path(__file__).resolve().parents[1]
CRON_INPUT, CRON_OUTPUT = "/data/tasks/today.csv", "/data/recs/today.csv"
TINY = {"max_epochs": 2, "d_model": 16, "n_heads": 2, "n_layers": 1, "dim_feedforward": 32, "inner_folds": 0,
        "catalogue_candidates": False}
FEATURES = [C.DOMAIN, C.MODALITY, C.TASK_TYPE, C.N_SAMPLES, C.N_CLASSES, C.WIDTH, C.HEIGHT]


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def _tasks(records: pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    from medicalrec.bench.tasks import task_queries

    queries = task_queries(records).reset_index(drop=True)[FEATURES]
    if n is not None:
        queries = pd.concat([queries] * (n // len(queries) + 1), ignore_index=True).head(n)
    queries.insert(0, C.TASK_ID, [f"task-{i:06d}" for i in range(len(queries))])
    return queries


def readme_cron_command() -> list[str]:
    """The command of the README's cron line (section "Batch scoring"): what runs after ``cd ... &&``
    and before the log redirection."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Batch scoring"):]
    line = next(line for line in section.splitlines() if re.match(r"[\d*,/-]+ [\d*,/-]+ [\d*,/-]+ [\d*,/-]+ [\d*,/-]+ cd ", line))
    return shlex.split(line.split("&&", 1)[1].split(">>", 1)[0])


# ---------------------------------------------------------------------------------------------
# The cron line, end to end


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """A sqlite store whose ``medicalrec`` model (alias production) is a real transformer with 7
    candidates, fewer than the default top_k of 10, logged and registered as training does."""
    import mlflow

    from medicalrec.bench.defaults import DECATHLON, shipped_data_path
    from medicalrec.bench.loading import load_bench
    from medicalrec.mlops.export import export_bundle
    from medicalrec.mlops.model import input_example, log_bundle_model
    from medicalrec.recommenders.medicalrec_transformer import MedicalRecTransformer

    directory = tmp_path_factory.mktemp("nightly")
    records = load_bench(shipped_data_path(DECATHLON)).frame
    transformer = MedicalRecTransformer(seed=0, **TINY).fit(records, "III")
    bundle = export_bundle(transformer, directory / "bundle", records, records.head(10))
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # conftest puts MLflow's globals back after the module
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("training", artifact_location=(directory / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = log_bundle_model(directory / "bundle", input_example(records))
    version = mlflow.register_model(info.model_uri, "medicalrec")
    mlflow.MlflowClient().set_registered_model_alias("medicalrec", "production", version.version)
    return {"uri": uri, "records": records, "models": bundle.models, "directory": directory}


@pytest.mark.slow
def test_the_readme_cron_line_succeeds_with_fewer_candidates_than_top_k(production, tmp_path):
    """Top-k 10 by default, 7 candidates: exit 0, 7 models per task, and the run (FINISHED) keeps
    ``top_k`` as the launcher logged it, with the 7 under ``top_k_effective``."""
    import mlflow

    command = readme_cron_command()
    assert command[:4] == ["mlflow", "run", ".", "-e"] and CRON_INPUT in " ".join(command)
    tasks = _tasks(production["records"])
    source, output = tmp_path / "today.csv", tmp_path / "recs" / "today.csv"
    output.parent.mkdir()
    tasks.to_csv(source, index=False)
    command = [sys.executable, "-m", "mlflow", *command[1:]]
    command = [part.replace(CRON_INPUT, str(source)).replace(CRON_OUTPUT, str(output)) for part in command]
    env = {**os.environ, "MLFLOW_TRACKING_URI": production["uri"], "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_RUN_ID", None)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr

    recommendations = pd.read_csv(output)
    assert recommendations[C.TASK_ID].unique().tolist() == tasks[C.TASK_ID].tolist()
    assert recommendations[C.RANK].tolist() == list(range(1, 8)) * len(tasks)
    assert set(recommendations[C.MODEL]) == set(production["models"]) and len(production["models"]) == 7

    client = mlflow.MlflowClient(production["uri"])
    runs = [run for experiment in client.search_experiments() for run in client.search_runs([experiment.experiment_id])
            if run.data.tags.get("medicalrec.job") == "score"]
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    params = runs[0].data.params
    assert (params["top_k"], params["top_k_effective"], params["model_version"]) == ("10", "7", "1")
    assert runs[0].data.metrics["rows_scored"] == len(tasks)


@pytest.mark.parametrize("top_k", ["0", "-3"])
def test_top_k_below_one_is_exit_2_at_both_doors(scoring_bundle, tmp_path, top_k):
    """``all`` asks for every model; 0 and negative numbers are an error, not a silent "all"."""
    _, bundle, _ = scoring_bundle
    source = tmp_path / "t.csv"
    source.write_text("task_id,domain\nt1,Dermatology\n")
    args = ["--model", str(bundle.directory), "--input", str(source), "--output", str(tmp_path / "r.csv"), "--top-k", top_k]
    direct = _cli("score", *args)
    shim = subprocess.run([sys.executable, str(ROOT / "entrypoints" / "score.py"), *args], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert direct.exit_code == shim.returncode == 2
    for stderr in (direct.stderr, shim.stderr):
        assert f"'{top_k}' must be at least 1 (or 'all')" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "r.csv").exists()


# ---------------------------------------------------------------------------------------------
# kill -9: the temporary file stays, the next run removes it


@pytest.mark.slow
def test_a_hard_killed_run_leaves_a_temp_file_that_the_next_run_removes(scoring_bundle, tmp_path):
    _, bundle, records = scoring_bundle
    tasks = _tasks(records, 20_000)
    source, target = tmp_path / "tasks.csv", tmp_path / "recs.csv"
    tasks.to_csv(source, index=False)
    target.write_text("yesterday's output\n")
    command = [sys.executable, "-c", "from medicalrec.cli import main; main()", "score", "--model", str(bundle.directory),
               "--input", str(source), "--output", str(target), "--top-k", "3", "--chunk-size", "200", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    temp = tmp_path / f".recs.csv.{process.pid}.tmp"
    try:
        while not (temp.exists() and temp.stat().st_size > 0):  # rows are being written
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL  # killed mid-write, not finished
    assert _leftovers(tmp_path) == [temp.name] and target.read_text() == "yesterday's output\n"

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _leftovers(tmp_path) == []
    recommendations = pd.read_csv(target)
    assert recommendations[C.TASK_ID].tolist() == [i for i in tasks[C.TASK_ID] for _ in range(3)]


def test_temp_files_of_live_processes_and_other_targets_are_kept(scoring_bundle, tmp_path):
    _, bundle, records = scoring_bundle
    source = tmp_path / "t.csv"
    _tasks(records, 5).to_csv(source, index=False)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(ended.stdout), os.getppid()
    names = {"dead": f".r.csv.{dead}.tmp", "dead backup": f".r.csv.{dead}.old.tmp", "alive": f".r.csv.{alive}.tmp",
             "other target": f".r.csv.x.{dead}.tmp", "not a pid": ".r.csv.abc.tmp"}
    for name in names.values():
        (tmp_path / name).write_text("partial")
    score_file(bundle, source, tmp_path / "r.csv", top_k=1)
    assert _leftovers(tmp_path) == sorted(names[k] for k in ("alive", "other target", "not a pid"))


# ---------------------------------------------------------------------------------------------
# Paths a run writes: never the input, never a folder; output and rejects replaced together


@pytest.mark.parametrize("how", ["named like the rejects file", "hard link", "symbolic link"])
def test_skip_never_overwrites_its_own_input(scoring_bundle, tmp_path, how):
    """The input is the rejects file of ``--output r.csv``, or the output itself under another name."""
    _, bundle, records = scoring_bundle
    source = tmp_path / ("r.rejects.csv" if how == "named like the rejects file" else "tasks.csv")
    _tasks(records, 3).to_csv(source, index=False)
    if how == "hard link":
        os.link(source, tmp_path / "r.csv")
    elif how == "symbolic link":
        (tmp_path / "r.csv").symlink_to(source)
    files, before = sorted(p.name for p in tmp_path.iterdir()), source.read_bytes()
    result = _cli("score", "--model", str(bundle.directory), "--input", str(source), "--output",
                  str(tmp_path / "r.csv"), "--on-error", "skip", "--quiet")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"{source}: this run would overwrite its own input" in result.stderr
    assert source.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == files


def test_rejects_path_that_is_a_folder_is_one_line(scoring_bundle, tmp_path):
    _, bundle, records = scoring_bundle
    source = tmp_path / "t.csv"
    _tasks(records, 3).to_csv(source, index=False)
    (tmp_path / "r.rejects.csv").mkdir()
    result = _cli("score", "--model", str(bundle.directory), "--input", str(source), "--output",
                  str(tmp_path / "r.csv"), "--on-error", "skip", "--quiet")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "r.rejects.csv" in result.stderr and "folder" in result.stderr
    assert not (tmp_path / "r.csv").exists() and _leftovers(tmp_path) == []


@contextmanager
def _without_root():
    """Run the block as 'nobody' when the tests run as root, who may write anywhere."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_unwritable_output_folder_or_file_is_one_line_and_nothing_is_written(scoring_bundle, tmp_path):
    """Permission bits are what a service account meets; modules are loaded before the switch."""
    _, bundle, records = scoring_bundle
    with tempfile.TemporaryDirectory() as top:  # under /tmp, reachable by every user
        top = Path(top)
        model = shutil.copytree(bundle.directory, top / "bundle")
        source = top / "t.csv"
        _tasks(records, 3).to_csv(source, index=False)
        assert _cli("score", "--model", str(model), "--input", str(source), "--output", str(top / "warm.csv"),
                    "--on-error", "skip").exit_code == 0  # every module is loaded
        locked, open_folder = top / "locked", top / "open"
        locked.mkdir()
        open_folder.mkdir()
        protected = open_folder / "r.csv"
        protected.write_text("yesterday's output\n")
        for path, mode in [(top, 0o755), (model, 0o755), (source, 0o644), (locked, 0o555), (open_folder, 0o777),
                           (protected, 0o444), *((p, 0o644) for p in model.iterdir())]:
            path.chmod(mode)
        with _without_root():
            in_locked = _cli("score", "--model", str(model), "--input", str(source), "--output", str(locked / "r.csv"))
            read_only = _cli("score", "--model", str(model), "--input", str(source), "--output", str(protected))
        assert in_locked.exit_code == read_only.exit_code == 2
        assert in_locked.stderr.count("\n") == 1 and f"{locked / 'r.csv'}: cannot write" in in_locked.stderr
        assert read_only.stderr.count("\n") == 1 and "read-only" in read_only.stderr
        assert list(locked.iterdir()) == [] and protected.read_text() == "yesterday's output\n"
        assert _leftovers(open_folder) == []


def test_output_and_rejects_are_replaced_together(scoring_bundle, tmp_path):
    """The output's rename fails after the rejects file's succeeded (the output path became a
    folder mid-run): yesterday's rejects file is put back, one line names the output."""
    _, bundle, records = scoring_bundle
    source = tmp_path / "t.csv"
    tasks = _tasks(records, 30)
    tasks.loc[3, C.N_CLASSES] = 1
    tasks.to_csv(source, index=False)
    target = tmp_path / "r.csv"
    target.write_text("yesterday's output\n")
    rejects_path_for(target).write_text("yesterday's rejects\n")

    def turn_output_into_a_folder(rows_done: int) -> None:
        if target.is_file():
            target.unlink()
            target.mkdir()
            (target / "keep").write_text("x")

    with pytest.raises(ConfigError, match=re.escape(f"{target}: cannot write it")) as caught:
        score_file(bundle, source, target, on_error="skip", chunk_size=10, progress=turn_output_into_a_folder)
    assert "\n" not in str(caught.value)
    assert rejects_path_for(target).read_text() == "yesterday's rejects\n"
    assert _leftovers(tmp_path) == []


def test_every_row_rejected_exits_3(scoring_bundle, tmp_path):
    _, bundle, records = scoring_bundle
    source = tmp_path / "t.csv"
    tasks = _tasks(records, 4)
    tasks[C.N_CLASSES] = 1
    tasks.to_csv(source, index=False)
    target = tmp_path / "r.csv"
    result = _cli("score", "--model", str(bundle.directory), "--input", str(source), "--output", str(target),
                  "--on-error", "skip", "--quiet")
    assert result.exit_code == EXIT_NOTHING_SCORED == 3
    assert result.stderr.count("\n") == 1 and "nothing scored" in result.stderr and "r.rejects.csv" in result.stderr
    assert target.read_text().strip() == ",".join(C.OUTPUT_COLUMNS)
    assert len(pd.read_csv(rejects_path_for(target))) == 4


# ---------------------------------------------------------------------------------------------
# Bundles whose metadata is malformed or does not match the ONNX graph


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(models=m["models"][:-1]), "'scores' has shape .* lists \\d+ models"),
    (lambda m: m["encoder"].update(features=m["encoder"]["features"][:-1]), "'tokens' has shape .* encoder features"),
    (lambda m: m.update(encoder={}), "malformed 'encoder'"),
    (lambda m: m.update(encoder="text"), "malformed 'encoder'"),
    (lambda m: m.update(models="abc"), "'models' must be a list"),
    (lambda m: m.update(models=[m["models"][0]] * len(m["models"])), "'models' must be a list of distinct"),
])
def test_inconsistent_bundle_is_one_line(scoring_bundle, tmp_path, change, message):
    _, bundle, records = scoring_bundle
    copy = shutil.copytree(bundle.directory, tmp_path / "bundle")
    metadata = json.loads((copy / METADATA_FILE).read_text())
    change(metadata)
    (copy / METADATA_FILE).write_text(json.dumps(metadata))
    source = tmp_path / "t.csv"
    _tasks(records, 3).to_csv(source, index=False)
    with pytest.raises(ModelError, match=message) as caught:
        score_file(copy, source, tmp_path / "r.csv")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400
    assert not (tmp_path / "r.csv").exists()
    if "shape" not in message:
        with pytest.raises(ModelError):
            read_bundle(copy)
