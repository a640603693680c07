"""MLproject entry point ``train``: ``medicalrec train`` (every parameter is the CLI's option; ``candidates``
left at ``none`` adds no candidate)."""

from _cli import run

if __name__ == "__main__":
    run("train", optional=("--candidates",))
