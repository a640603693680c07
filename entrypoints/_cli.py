"""What every MLproject entry point does: hand MLproject's parameters to the ``medicalrec`` CLI.

Every option (name, default, validation, exit code) is defined once, in ``medicalrec/cli.py``. The
one thing MLproject cannot do is leave a parameter out, so two kinds are translated here: a
``flags`` parameter (``--force true``) becomes the flag or nothing, and an ``optional`` one whose
value is ``none`` (or ``latest``) is left out.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medicalrec, installed or not

_TRUE, _FALSE, _UNSET = {"true", "yes", "1"}, {"false", "no", "0"}, {"", "none", "null", "latest"}


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
            out += [] if value.lower() in _UNSET else [name, value]
        elif value.lower() in _TRUE:
            out.append(name)
        elif value.lower() not in _FALSE:
            print(f"error: {name} takes true or false, got {value!r}", file=sys.stderr)
            sys.exit(2)
    return out


def run(command: str, flags: tuple[str, ...] = (), optional: tuple[str, ...] = (), extra: tuple[str, ...] = ()):
    """``medicalrec COMMAND`` with this process's arguments (translated) and ``extra``; exits."""
    from medicalrec.cli import main

    main.main(args=[command, *cli_args(sys.argv[1:], flags, optional), *extra], prog_name="medicalrec")
