"""What every MLproject entry point does: hand MLproject's parameters to the ``medicalrec`` CLI.

Every option (name, default, validation, exit code) is defined once, in ``medicalrec/cli.py``. The
one thing MLproject cannot do is leave a parameter out, so two kinds are translated here: a
``flags`` parameter (``--force true``) becomes the flag or nothing, and an ``optional`` one whose
value is ``none`` (or, for promote's ``--version``, ``latest``) is left out.

Under ``mlflow run`` the launcher made a run first (``MLFLOW_RUN_ID``) and marks it FAILED when
the command exits non-zero; the command's one-line error and exit code are put on that run
(``tracking.record_failure``), since ``mlflow run`` itself only says that the run failed (exit 1).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medicalrec, installed or not

_TRUE, _FALSE, _UNSET = {"true", "yes", "1"}, {"false", "no", "0"}, {"", "none", "null"}
_UNSET_VERSION = _UNSET | {"latest"}  # promote's --version: "latest" is the CLI's default
_KEPT = 64_000  # characters of output kept to find the error line in


def cli_args(argv: list[str], flags: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> list[str]:
    """``argv`` with MLproject's ``--flag true|false`` and ``--option none`` translated."""
    out, rest = [], list(argv)
    while rest:
        name = rest.pop(0)
        if name not in flags and name not in optional:
            out.append(name)
            continue
        value = rest.pop(0).strip() if rest else ""
        if name in optional:
            unset = _UNSET_VERSION if name == "--version" else _UNSET
            out += [] if value.lower() in unset else [name, value]
        elif value.lower() in _TRUE:
            out.append(name)
        elif value.lower() not in _FALSE:
            print(f"error: {name} takes true or false, got {value!r}", file=sys.stderr)
            sys.exit(2)
    return out


class _Tee(io.TextIOBase):
    """A text stream that writes through to ``stream`` and keeps the end of what went by."""

    def __init__(self, stream):
        self.stream, self.kept = stream, ""

    def write(self, text: str) -> int:
        self.kept = (self.kept + text)[-_KEPT:]
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self):
        return self.stream.encoding


def error_line(stderr: str, stdout: str) -> str:
    """The line that says why a command failed: its first ``error:`` line (the CLI's one-line
    errors, click's usage errors), else a traceback's last line (the exception), else the last line
    of its output (a refused promotion)."""
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    errors = [line for line in lines(stderr) + lines(stdout) if line.lower().startswith("error:")]
    if errors:
        return errors[0]
    if "Traceback (most recent call last)" in stderr:
        return lines(stderr)[-1]
    return (lines(stdout) or lines(stderr) or ["failed without a message"])[-1]


def run(command: str, flags: tuple[str, ...] = (), optional: tuple[str, ...] = (), extra: tuple[str, ...] = ()):
    """``medicalrec COMMAND`` with this process's arguments (translated) and ``extra``; exits with
    the CLI's code, after recording a failure on the ``mlflow run`` run when there is one."""
    launcher_run = os.environ.get("MLFLOW_RUN_ID")
    stdout, stderr = _Tee(sys.stdout), _Tee(sys.stderr)
    sys.stdout, sys.stderr = stdout, stderr
    code = 1
    try:
        args = [command, *cli_args(sys.argv[1:], flags, optional), *extra]
        from medicalrec.cli import main

        main.main(args=args, prog_name="medicalrec")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout, sys.stderr = stdout.stream, stderr.stream
    if code != 0 and launcher_run:
        _record(launcher_run, error_line(stderr.kept, stdout.kept), code)
    sys.exit(code)


def _record(run_id: str, line: str, code: int) -> None:
    """The failure on the launcher's run; a store that cannot take it is a note, not a new error."""
    try:
        from medicalrec.mlops.tracking import record_failure

        record_failure(run_id, line, code)
    except Exception as error:  # the command's own exit code and message matter more
        print(f"note: could not record the error on MLflow run {run_id}: {type(error).__name__}: {error}",
              file=sys.stderr)
