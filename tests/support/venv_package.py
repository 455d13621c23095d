"""A release package holding a real virtual environment, built offline.

`python -m venv` makes the environment (its `bin/python` links to the system
interpreter, outside the package); pip installs a wheel built here on disk — a
stdlib-only WSGI app, `tinyserve`, with a console script — so nothing needs the
network. `build_venv_with` copies distributions this test run has installed (Django,
Alembic, psycopg) into a new venv, as pip would have installed them from their wheels.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

APP = '''\
"""A WSGI app on the standard library: /health, /env?name=X, /argv."""

import json
import os
import shutil
import sys
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/health":
        body = {"status": "healthy", "version": os.environ.get("TURNOUT_VERSION")}
    elif path == "/env":
        body = {"value": os.environ.get(query.get("name", ""))}
    elif path == "/argv":
        body = {"executable": sys.executable, "prefix": sys.prefix, "argv": sys.argv}
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b"{}"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    server = make_server("127.0.0.1", int(os.environ["PORT"]), app, handler_class=Quiet)
    print("tinyserve listening", flush=True)
    server.serve_forever()
'''


def build_wheel(folder: Path) -> Path:
    """tinyserve-1.0-py3-none-any.whl with a `tinyserve` console script."""
    files = {
        "tinyserve/__init__.py": APP.encode(),
        "tinyserve-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: tinyserve\nVersion: 1.0\n"
        ),
        "tinyserve-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        "tinyserve-1.0.dist-info/entry_points.txt": (
            b"[console_scripts]\ntinyserve = tinyserve:main\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinyserve-1.0.dist-info/RECORD,,")
    files["tinyserve-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "tinyserve-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def build_venv_package(folder: Path) -> Path:
    """A directory holding `.venv` (python -m venv) with tinyserve installed from a wheel."""
    tree = folder / "tinyserve-package"
    venv = tree / ".venv"
    # The interpreter a user has, not this test run's own virtual environment.
    python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-compile",
            str(build_wheel(folder)),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    (tree / "README.txt").write_text("tinyserve release\n")
    return tree


def zip_keeping_links(tree: Path, archive_path: Path) -> Path:
    """Zip a tree storing symbolic links as links (like `zip -y`), not as their targets."""
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, dirs, files in os.walk(tree):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            base = Path(folder)
            for name in sorted(dirs):
                path = base / name
                if path.is_symlink():
                    _add_link(archive, tree, path)
            for name in sorted(files):
                path = base / name
                if path.is_symlink():
                    _add_link(archive, tree, path)
                else:
                    archive.write(path, path.relative_to(tree).as_posix())
    return archive_path


def _add_link(archive: zipfile.ZipFile, tree: Path, path: Path) -> None:
    info = zipfile.ZipInfo(path.relative_to(tree).as_posix())
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, str(path.readlink()))


def build_venv_with(tree: Path, distributions: list[str]) -> Path:
    """`tree/.venv` made by `python -m venv`, holding these distributions as pip installed
    them in this test run's environment (their RECORD's files, bytecode left out).

    Offline and fast: pip would need their wheels, which are not on this machine."""
    venv = tree / ".venv"
    python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run(
        [python, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True
    )
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = site / "site-packages"
    for name in distributions:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            # Scripts live outside site-packages (`../../../bin/x`); bytecode is rebuilt.
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(str(file.locate())), target)
    return tree
