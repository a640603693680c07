"""The one atomic write of the package: files that are never half-written.

``atomic_outputs(*targets)`` yields one hidden temporary sibling per target (``temp_path``:
``.<name>.<pid>.tmp``) and renames each onto its target only when the block succeeded; an error,
Ctrl-C or SIGTERM (turned into an exception while the block runs) removes the temporary files and
leaves every existing target untouched. The targets change together or not at all: when a later
rename fails, the targets already replaced get their old file back. SIGKILL cannot be caught: the
targets are still untouched, but ``.<name>.<pid>.tmp`` files remain; the next ``atomic_outputs``
for the same target removes those whose process is gone. Used by batch scoring, the corpus
generator and the evaluation reports (``write_together``); the Spark engine, whose output lives on
a Hadoop file system, names its temporary and backup directories with ``temp_name`` too.

A leaf beside ``constants`` and ``errors`` (standard library only), so every layer can use it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from medicalrec.errors import ConfigError


def temp_name(name: str, token: object | None = None) -> str:
    """The hidden temporary sibling's name of a file or directory called ``name``:
    ``.<name>.<token>.tmp`` (``token`` defaults to this process's id)."""
    return f".{name}.{os.getpid() if token is None else token}.tmp"


def temp_path(target: str | Path, token: object | None = None) -> Path:
    target = Path(target)
    return target.with_name(temp_name(target.name, token))


_OWNED_TOKEN = re.compile(r"(\d+)(?:\.old)?")  # ``<pid>`` (temporary file) or ``<pid>.old`` (backup)


def temp_owner(path: str | Path, target: str | Path) -> int | None:
    """The process id in ``path``'s name when it is a temporary file or backup of ``target``
    (``.<name>.<pid>.tmp``, ``.<name>.<pid>.old.tmp``), else None."""
    path, target = Path(path), Path(target)
    prefix, suffix = f".{target.name}.", ".tmp"
    if path.parent != target.parent or not (path.name.startswith(prefix) and path.name.endswith(suffix)):
        return None
    token = _OWNED_TOKEN.fullmatch(path.name[len(prefix):-len(suffix)])
    return int(token.group(1)) if token else None


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():  # ours cannot exist yet: an earlier process with this id left it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process, alive
        return False
    return False


def remove_dead_temps(target: str | Path) -> list[Path]:
    """Remove the temporary files and backups of ``target`` whose process is gone (a run killed
    with SIGKILL or by the OOM killer leaves them); returns what was removed."""
    target = Path(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:  # no such folder (yet): nothing to clean
        return removed
    for entry in entries:
        pid = temp_owner(entry.path, target)
        if pid is not None and entry.is_file(follow_symlinks=False) and _process_gone(pid):
            try:
                remove_quietly(Path(entry.path))
            except OSError:  # a folder we may not change: creating our own temporary file says so
                continue
            removed.append(Path(entry.path))
    return removed


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _cannot_write(target: Path, error: OSError) -> ConfigError:
    return ConfigError(f"{target}: cannot write it ({error.strerror or error}); make the folder "
                       f"{target.parent} writable or write somewhere else")


def _backup(target: Path) -> Path | None:
    """A hidden hard link (a copy where the file system has none) to the existing ``target``."""
    if not os.path.lexists(target):
        return None
    backup = temp_path(target, f"{os.getpid()}.old")
    remove_quietly(backup)
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
    return backup


def _replace_together(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each ``(temp, target)`` in order; the last rename commits. When any rename fails, the
    targets already replaced get their old file back (or are removed if there was none), so a new
    rejects file is never left beside an old output."""
    done: list[tuple[Path, Path | None]] = []
    target = pairs[-1][1]
    try:
        for temp, target in pairs[:-1]:
            done.append((target, _backup(target)))
            os.replace(temp, target)
        temp, target = pairs[-1]
        os.replace(temp, target)
    except BaseException as error:
        for replaced, backup in reversed(done):
            if backup is None:
                remove_quietly(replaced)
            else:
                os.replace(backup, replaced)
        if isinstance(error, OSError):
            raise _cannot_write(target, error) from None
        raise
    finally:
        for _, backup in done:
            if backup is not None:
                remove_quietly(backup)


@contextmanager
def atomic_outputs(*targets: str | Path | None) -> Iterator[tuple[Path | None, ...]]:
    """Yield a temporary path per target (None for a None target), created empty; on success
    rename them onto their targets together, the first target last (so when it exists, the
    others are complete); on any error, Ctrl-C or SIGTERM remove them and re-raise (SIGTERM then
    ends the process, see ``terminate_as_exception``). Writers must be closed inside the block.
    A temporary file that cannot be created or a rename that fails is a ``ConfigError`` naming
    the target."""
    targets = tuple(None if target is None else Path(target) for target in targets)
    temps = tuple(None if target is None else temp_path(target) for target in targets)
    pairs = [(temp, target) for temp, target in zip(temps, targets) if target is not None]
    with terminate_as_exception():
        try:
            for temp, target in pairs:
                remove_dead_temps(target)
                try:
                    open(temp, "wb").close()
                except OSError as error:
                    raise _cannot_write(target, error) from None
            yield temps
            _replace_together(pairs[::-1])
        except BaseException:
            for temp in temps:
                if temp is not None:
                    remove_quietly(temp)
            raise



def write_together(writers: dict[str, tuple[Path, Callable[[Path], object]]]) -> dict[str, Path]:
    """Run each ``name -> (target, write(path))`` on a temporary sibling of its target and put them
    all in place only when every one succeeded (``atomic_outputs``); returns name -> target. For
    reports of several files, which must not end up a mix of an earlier run's and this one's."""
    targets = {name: target for name, (target, _) in writers.items()}
    with atomic_outputs(*targets.values()) as temps:
        for (_, write), temp in zip(writers.values(), temps):
            write(temp)
    return targets

class _Interrupted(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so the temporary files are removed."""


class terminate_as_exception:
    """While active (main thread only, unless SIGTERM is ignored), SIGTERM raises ``_Interrupted``
    so that ``except`` blocks remove the temporary files; afterwards the previous handler is back,
    is called if it is a Python function, and the process ends with status 143 (128 + SIGTERM)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGTERM)
            if current is not signal.SIG_IGN:  # a process that ignores SIGTERM keeps ignoring it
                self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise _Interrupted()

    def __exit__(self, kind, error, traceback):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        if isinstance(error, _Interrupted):
            if callable(self.previous):
                self.previous(signal.SIGTERM, None)
            raise SystemExit(128 + signal.SIGTERM)
        return False
