"""MLproject entry point ``evaluate``: ``medicalrec train --no-register``, the training sweep logged to
MLflow (parent and child runs, comparison table, plots) without refit, export or registration. (The
CLI's ``medicalrec evaluate`` is the same comparison written to a local folder instead of MLflow.)"""

from _cli import run

if __name__ == "__main__":
    run("train", extra=("--no-register",))
