"""A validated configuration remembered in the user's cache, for commands that only read.

Validating turnout.toml builds every configuration model's validators, the larger part of
a reading command's start-up. Once a file has validated, the result is kept (pickled) in
`~/.cache/turnout/config/`, under a key made of everything validation depends on:

- the configuration file's path and exact bytes, and the `TURNOUT__…` overrides set;
- turnout's version, Python's and Pydantic's, and the size and modification time of
  every source file of turnout and of each module that defines a model in the result (a
  target plugin's settings), so an upgrade or an edited model is never read stale;
- the modification times of the import path's folders (installing or removing a plugin).

A configuration with problems is never remembered: its errors are always the validator's
own. Any doubt reads as a miss and the file is validated in full: a key that does not
match, a file that does not unpickle into a LoadedConfig, a cache file or folder not
owned by this user or writable by others (nobody else may choose what is unpickled).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.version import VERSION as PYDANTIC_VERSION

import turnout
from turnout.config.loader import OVERRIDE_PREFIX, LoadedConfig, find_config, load_config
from turnout.user_cache import cache_folder

FORMAT = 1
"""Bump when what is pickled changes shape."""
KEEP = 16
"""How many remembered configurations the folder keeps (the newest)."""
_PACKAGE = Path(turnout.__file__).parent


def remembered_config(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    """The validated configuration: remembered when nothing it depends on changed, else
    validated in full (and remembered for next time). Problems raise as `load_config`'s."""
    environment = os.environ if environ is None else environ
    config_path = (path or find_config()).resolve()
    try:
        content = config_path.read_bytes()
    except OSError:
        return load_config(config_path, environ=environment)
    key = _key(config_path, content, environment)
    found = _read(key)
    if found is not None:
        return found
    loaded = load_config(config_path, environ=environment)
    _write(key, loaded)
    return loaded


def snapshot_folder() -> Path:
    """Where remembered configurations are kept."""
    return cache_folder() / "config"


def _key(config_path: Path, content: bytes, environ: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for part in (
        f"format={FORMAT}",
        f"turnout={turnout.__version__}",
        f"python={sys.version}",
        f"pydantic={PYDANTIC_VERSION}",
        f"path={config_path}",
    ):
        digest.update(part.encode() + b"\0")
    digest.update(hashlib.sha256(content).digest())
    for name in sorted(n for n in environ if n.startswith(OVERRIDE_PREFIX)):
        digest.update(f"{name}={environ[name]}".encode() + b"\0")
    for entry in _import_folders():
        digest.update(entry.encode() + b"\0")
    for entry in _source_files(_PACKAGE):
        digest.update(entry.encode() + b"\0")
    return digest.hexdigest()


def _import_folders() -> Iterator[str]:
    """Each folder of the import path with its modification time (a distribution installed
    or removed there changes it)."""
    for folder in sys.path:
        try:
            yield f"{folder}:{Path(folder or '.').stat().st_mtime_ns}"
        except OSError:
            yield f"{folder}:-"


def _source_files(folder: Path) -> Iterator[str]:
    """Every Python source under `folder`, as `path:size:mtime`."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
            yield from _source_files(Path(entry.path))
        elif entry.name.endswith(".py"):
            yield _file_mark(entry.path)


def _file_mark(path: str) -> str:
    try:
        info = Path(path).stat()
    except OSError:
        return f"{path}:-"
    return f"{path}:{info.st_size}:{info.st_mtime_ns}"


def _model_modules(value: Any, found: set[str]) -> None:
    """The files of the modules defining every model class in a validated configuration."""
    if isinstance(value, BaseModel):
        for cls in type(value).__mro__:
            module = sys.modules.get(cls.__module__)
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                found.add(file)
        for name in type(value).model_fields:
            _model_modules(getattr(value, name), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _model_modules(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _model_modules(item, found)


def _owned_and_private(path: Path) -> bool:
    """Whether only this user could have written `path` (owner, no group/other write)."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(key: str) -> LoadedConfig | None:
    file = snapshot_folder() / f"{key}.pickle"
    try:
        if not (_owned_and_private(snapshot_folder()) and _owned_and_private(file)):
            return None
        with file.open("rb") as handle:
            marks, loaded = pickle.load(handle)
    except Exception:  # any doubt: validate in full
        return None
    if not isinstance(loaded, LoadedConfig) or not isinstance(marks, list):
        return None
    if any(
        not isinstance(mark, str) or _file_mark(mark.rsplit(":", 2)[0]) != mark for mark in marks
    ):
        return None  # a plugin's settings module changed since
    return loaded


def _write(key: str, loaded: LoadedConfig) -> None:
    """Remember a validated configuration; failing to is never an error (it is a cache)."""
    modules: set[str] = set()
    for model in (loaded.root, *loaded.environments.values()):
        _model_modules(model, modules)
    marks = [_file_mark(file) for file in sorted(modules) if not file.startswith(str(_PACKAGE))]
    folder = snapshot_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _owned_and_private(folder):
            return
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump((marks, loaded), handle, protocol=pickle.HIGHEST_PROTOCOL)
            Path(temporary).replace(folder / f"{key}.pickle")
        finally:
            Path(temporary).unlink(missing_ok=True)
        _prune(folder)
    except Exception:  # a read-only or full disk, an unpicklable plugin model: not remembered
        return


def _prune(folder: Path) -> None:
    kept = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in kept[KEEP:]:
        old.unlink(missing_ok=True)
