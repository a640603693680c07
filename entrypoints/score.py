"""MLproject entry point ``score``: ``medicalrec score --log-mlflow`` (the nightly run is always logged); a
limit left at ``none`` is no limit."""

from _cli import run

if __name__ == "__main__":
    run("score", optional=("--max-params", "--max-gflops", "--within"), extra=("--log-mlflow",))
