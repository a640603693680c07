"""MLproject entry point ``score``: ``medicalrec score --log-mlflow`` (the nightly run is always logged); a
limit (or ``evidence``) left at ``none`` is the CLI's default."""

from _cli import run

if __name__ == "__main__":
    run("score", optional=("--max-params", "--max-gflops", "--within", "--evidence"), extra=("--log-mlflow",))
