"""turnout installed from its built wheel (not editable, not a clone) ships the sample app."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
SAMPLE_LEFTOVERS = ("dist/", "data/", ".turnout/", "__pycache__/")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout + done.stderr


def _build_wheel(out: Path) -> Path:
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), "."],
        REPOSITORY,
    )
    (wheel,) = out.glob("turnout-*.whl")
    return wheel


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A new virtual environment holding the wheel; its dependencies are borrowed read-only."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], root.parent)
    python = root / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        root.parent,
    )
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            root.parent,
        ).strip()
    )
    # A plain path line: the test environment's own .pth files (its editable turnout) stay
    # unprocessed, so `import turnout` can only find the installed wheel.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root / "bin"


def test_wheel_install_writes_the_sample_app(tmp_path: Path) -> None:
    """From a wheel in a fresh venv, `turnout init --example tesoro` writes a valid, built app."""
    wheel = _build_wheel(tmp_path / "wheel")
    names = zipfile.ZipFile(wheel).namelist()
    sample = [n for n in names if n.startswith("turnout/examples/tesoro/")]
    assert "turnout/examples/tesoro/turnout.toml" in sample
    assert not [n for n in sample if any(part in n for part in SAMPLE_LEFTOVERS)], sample

    bin_dir = _fresh_venv(tmp_path / "venv", wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT")}
    where = _run(
        [str(bin_dir / "python"), "-c", "import turnout; print(turnout.__file__)"], elsewhere, env
    )
    assert where.strip().startswith(str(tmp_path / "venv")), where

    _run([str(bin_dir / "turnout"), "init", "--example", "tesoro", "app"], elsewhere, env)
    app = elsewhere / "app"
    assert (app / "dist" / "1.1.0" / "migrations" / "V001__add_rewards_table.sql").is_file()
    checked = _run(
        [str(bin_dir / "turnout"), "check", "--config", str(app / "turnout.toml")], elsewhere, env
    )
    assert "valid" in checked
