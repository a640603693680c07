"""MLproject entry point ``promote``: ``medicalrec promote``; ``force``/``rollback`` are true|false and
``version``/``data`` may be ``latest``/``none``. Exit 0 promoted (or unchanged), 1 refused, 2 bad input."""

from _cli import run

if __name__ == "__main__":
    run("promote", flags=("--force", "--rollback"), optional=("--version", "--data"))
