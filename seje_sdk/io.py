"""Atomic file and folder writes: output is either complete or absent, never half-written.

Work goes into a hidden sibling `.NAME.HOST-PID.XXXX.tmp` that is renamed into place when done.
A killed process cannot clean up its sibling, so a process's first write into a folder removes
the temporaries left there by dead processes of this host (a live writer's, or another host's,
are kept).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


_HOST = socket.gethostname()
_swept: set[Path] = set()  # folders already cleared of dead writers' temporaries by this process


def _prefix(path: Path) -> str:
    return f".{path.name}.{_HOST}-{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries in `folder` left by killed writers of this host; return them.

    Once per folder and process: a folder of thousands of shards is listed once, not per write.
    """
    if folder in _swept:
        return []
    _swept.add(folder)
    removed = []
    marker = f".{_HOST}-"
    for entry in folder.glob(".*.tmp"):
        at = entry.name.rfind(marker)
        pid = entry.name[at + len(marker):].split(".", 1)[0] if at > 0 else ""
        if pid.isdigit() and not _alive(int(pid)):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temp file beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the finished file gets normal permissions
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (sorted keys, indented, UTF-8)."""
    with atomic_file(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def save_npy(path: str | os.PathLike, array: Any) -> None:
    """np.save, atomically."""
    import numpy as np

    with atomic_file(path, "wb") as f:
        np.save(f, array)


@contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp sibling folder; move it to `path` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the finished folder gets normal permissions
    try:
        yield tmp
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} already exists")
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def load_manifest(folder: str | os.PathLike, key: str, schema: str, error: type[Exception], missing: str,
                  mismatch: Callable[[Any], str]) -> dict:
    """folder/manifest.json, refusing a missing file (`missing`) or another `key` value (`mismatch(found)`) with `error`."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise error(missing)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get(key) != schema:
        raise error(mismatch(manifest.get(key)))
    return manifest

