"""MLproject entry point ``promote``: ``medicalrec promote``; ``force``/``rollback`` are true|false and
``version``/``data`` may be ``latest``/``none``. Exit 0 promoted (or unchanged), 1 refused, 2 bad input; under
``mlflow run`` that code and the reason are on the FAILED run (``mlflow run`` itself exits 1)."""

from _cli import run

if __name__ == "__main__":
    run("promote", flags=("--force", "--rollback"), optional=("--version", "--data"))
