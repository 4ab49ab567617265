"""Writes that cannot clobber: every output of the CLI goes through here.

- An output folder is built beside its destination and moved into place only when complete; `--overwrite` swaps
  the old folder out by renaming, so a failure at any point leaves the old content as it was.
- The destination is claimed exclusively (a lock file `.<name>.lock` beside it, naming its holder from the moment
  it exists: written beside it, then hard-linked into place, which fails if a lock is there): a second process
  writing the same destination stops at once with a clear error instead of both reporting success.
- Leftovers of runs that were killed (SIGKILL, power loss) are reported and cleaned by the next run that claims
  the destination; a swapped-out old folder whose replacement never arrived is put back, not deleted.
- An output may not be, contain or lie inside one of the command's input folders.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from .errors import ScribbleToolError

PARTIAL, REPLACED = "partial", "replaced"


def check_output_apart_from_inputs(output, inputs: Iterable[Optional[os.PathLike]]) -> None:
    """`output` must not be an input folder, lie inside one, or contain one (replacing it would delete the input)."""
    target = Path(output).resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if target == source or source in target.parents or target in source.parents:
            relation = "is" if target == source else "lies inside" if source in target.parents else "contains"
            raise ScribbleToolError(output, f"output {relation} the input folder {given}: choose a separate folder")


def _holder_alive(lock: Path) -> tuple[bool, str]:
    """(whether the process named in a lock file still runs, its description)."""
    try:
        pid_text, _, host = lock.read_text().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False, "an unreadable lock"
    if host.strip() != socket.gethostname():
        return True, f"process {pid} on {host.strip()}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"process {pid}, which no longer runs"
    except PermissionError:
        pass
    return True, f"process {pid}"


def _create_lock(lock: Path) -> bool:
    """Create `lock` naming this process, complete from the moment it exists (another run reading it while it is
    being written would take an empty lock for an interrupted run's); False if a lock is already there."""
    descriptor, written = tempfile.mkstemp(prefix=f"{lock.name}.{PARTIAL}-", dir=lock.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{os.getpid()} {socket.gethostname()}")
        os.link(written, lock)
        return True
    except FileExistsError:
        return False
    except OSError as error:
        raise ScribbleToolError(lock.parent, f"cannot create the lock {lock.name} ({error.strerror}): the output "
                                             "folder's file system must support hard links") from error
    finally:
        os.unlink(written)


@contextlib.contextmanager
def claimed(destination: Path):
    """Hold `.<name>.lock` beside `destination` for the block; a lock left by a dead process is taken over."""
    lock = destination.parent / f".{destination.name}.lock"
    destination.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        if _create_lock(lock):
            break
        alive, holder = _holder_alive(lock)
        if alive:
            raise ScribbleToolError(destination, f"is being written by {holder} (lock {lock}); wait for it to "
                                                 "finish, or delete the lock if that process is gone")
        print(f"attenscribble: removing the lock of an interrupted run ({holder}): {lock}")
        lock.unlink(missing_ok=True)
    else:
        raise ScribbleToolError(destination, f"cannot claim {lock}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _clean_leftovers(destination: Path) -> None:
    """Under the claim, `.<name>.partial-*` / `.<name>.replaced-*` beside `destination` are from killed runs."""
    for leftover in sorted(destination.parent.glob(f".{destination.name}.{REPLACED}-*")):
        if not destination.exists():
            print(f"attenscribble: restoring {destination} from an interrupted --overwrite ({leftover.name})")
            leftover.rename(destination)
        else:
            print(f"attenscribble: removing the old copy an interrupted --overwrite left: {leftover}")
            shutil.rmtree(leftover)
    for leftover in sorted(destination.parent.glob(f".{destination.name}.{PARTIAL}-*")):
        print(f"attenscribble: removing the unfinished output of an interrupted run: {leftover}")
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def atomic_output_folder(destination, overwrite: bool = False, inputs: Iterable = ()):
    """Yield a temporary folder beside `destination`; it replaces `destination` only if the block succeeds.

    Without `overwrite` an existing destination is an error, also one that appeared while the block ran."""
    destination = Path(destination).absolute()
    check_output_apart_from_inputs(destination, inputs)
    with claimed(destination):
        _clean_leftovers(destination)
        if destination.exists() and not overwrite:
            raise ScribbleToolError(destination, "already exists (use --overwrite to replace it)")
        temporary = Path(tempfile.mkdtemp(prefix=f".{destination.name}.{PARTIAL}-", dir=destination.parent))
        try:
            yield temporary
            if destination.exists() and not overwrite:
                raise ScribbleToolError(destination, "appeared while this run wrote it; nothing was replaced")
            _install(temporary, destination)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise


def _install(temporary: Path, destination: Path) -> None:
    """Move `temporary` to `destination`; an existing destination is swapped out first and deleted last."""
    if not destination.exists():
        temporary.rename(destination)
        return
    replaced = destination.with_name(f".{destination.name}.{REPLACED}-{os.getpid()}")
    destination.rename(replaced)
    try:
        temporary.rename(destination)
    except BaseException:
        replaced.rename(destination)
        raise
    shutil.rmtree(replaced)


def write_text_atomically(path, text: str) -> None:
    """`path` holds either its old content or all of `text`, never a part of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.{PARTIAL}-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
