"""MLproject entry point ``score``: ``medicalrec score --log-mlflow`` (the nightly run is always logged)."""

from _cli import run

if __name__ == "__main__":
    run("score", extra=("--log-mlflow",))
