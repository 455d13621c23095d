"""Builds in the slot host: digests not labels, pruning, swaps during a deploy, venv packages."""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.local_fixtures import Host, local_host, running_host
from tests.support.venv_package import zip_keeping_links
from tests.support.waiting import wait_until
from turnout.errors import BadInput, PackageError, TurnoutError
from turnout.model import Release
from turnout.targets.protocol import PRODUCTION

__all__ = ["local_host"]

hosted = contextlib.contextmanager(running_host)


def _env_of(url: str, name: str) -> str | None:
    value: str | None = httpx.get(f"{url}/env", params={"name": name}, timeout=10).json()["value"]
    return value


def test_rebuilt_package_under_a_warm_version_is_staged(local_host: Host) -> None:
    """Same version, other package: the host compares build digests and starts the new build."""
    target = local_host.target
    target.ensure_slot("blue")
    first = target.deploy("blue", Release("1.0.0", local_host.package("1.0.0")))
    rebuilt = target.deploy("blue", Release("1.0.0", local_host.package("1.0.0", build="b")))
    assert first.build and rebuilt.build and rebuilt.build != first.build
    assert rebuilt.url is not None and rebuilt.url != first.url
    release_dir = _env_of(rebuilt.url, "TURNOUT_RELEASE_DIR")
    assert release_dir is not None and release_dir.endswith(f"1.0.0-{rebuilt.build}")
    assert (Path(release_dir) / "app" / "BUILD").read_text() == "b"
    again = target.deploy("blue", Release("1.0.0", local_host.package("1.0.0", build="b")))
    assert again.url == rebuilt.url  # the same build is left running


def test_old_releases_and_their_logs_are_pruned(tmp_path: Path) -> None:
    """Only the live, the warm and keep_releases more unpacked releases (and logs) are kept."""
    with hosted(tmp_path, keep_releases=1) as host:
        target = host.target
        target.ensure_slot("blue")
        for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
            target.deploy("blue", Release(version, host.package(version)))
            target.swap("blue", PRODUCTION)
        releases = sorted(p.name.rsplit("-", 1)[0] for p in host.target.paths.releases.iterdir())
        # production 1.3.0, warm 1.2.0, and one more: 1.1.0; 1.0.0 is gone.
        assert releases == ["1.1.0", "1.2.0", "1.3.0"]
        logs = sorted(p.name for p in host.target.paths.logs.iterdir())
        assert logs == ["1.1.0.log", "1.2.0.log", "1.3.0.log"]
        # The kept spare release still serves a rollback deploy without a package.
        assert target.deploy("blue", Release("1.1.0")).state == "running"


def test_swap_back_works_while_a_deploy_is_starting_in_the_staging_slot(tmp_path: Path) -> None:
    """A rollback swap does not wait behind a deploy whose release is still starting."""
    with hosted(tmp_path, start_timeout=120.0) as host:
        target = host.target
        target.ensure_slot("blue")
        for version in ("1.0.0", "1.1.0"):
            target.deploy("blue", Release(version, host.package(version)))
            target.swap("blue", PRODUCTION)
        failures: list[TurnoutError] = []

        def deploy_hanging() -> None:
            try:
                target.deploy("blue", Release("1.2.0", host.package("1.2.0", hang=True)))
            except TurnoutError as exc:  # the host stops at the end of the test
                failures.append(exc)

        deploying = threading.Thread(target=deploy_hanging, daemon=True)
        deploying.start()
        log = host.target.paths.log_for("1.2.0")
        wait_until(
            lambda: log.exists() and "waits for ever" in log.read_text(),
            what="the hanging release to start",
        )
        target.swap("blue", PRODUCTION)  # the runbook's quick rollback
        assert deploying.is_alive(), "the swap waited for the deploy to give up"
        slots = target.slots()
        assert slots[PRODUCTION].version == "1.0.0" and slots["blue"].version == "1.1.0"
        assert httpx.get(target.production_url() + "/health").json()["version"] == "1.0.0"
    deploying.join(60)
    assert failures


def test_package_beyond_the_size_limit_is_refused_by_the_host(tmp_path: Path) -> None:
    """target.max_release_mb is enforced by the host: exit 2, and the slot keeps what it had."""
    with hosted(tmp_path, max_release_mb=1) as host:
        target = host.target
        target.ensure_slot("blue")
        target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        tree = host.folder / "big"
        shutil.copytree(host.package("1.1.0", as_zip=False), tree)
        (tree / "padding.bin").write_bytes(b"\x01" * (2 << 20))
        with pytest.raises(PackageError, match="max_release_mb") as caught:
            target.deploy("blue", Release("1.1.0", tree))
        assert caught.value.exit_code == 2
        assert target.slots()["blue"].version == "1.0.0"


def test_bad_versions_are_refused_by_the_host(local_host: Host) -> None:
    """The admin socket refuses a version with spaces, a slash or a leading dash (exit 2)."""
    target = local_host.target
    target.ensure_slot("blue")
    for version in ("1.0 --debug", "../1.0", "-rf", ""):
        with pytest.raises(BadInput, match="bad version"):
            target.deploy("blue", Release(version, local_host.package("1.0.0")))
    assert target.slots()["blue"].state == "empty"


@pytest.fixture
def venv_zip(venv_tree: Path, tmp_path: Path) -> Path:
    """A zip of a real venv package, links kept as links (like `zip -y`)."""
    return zip_keeping_links(venv_tree, tmp_path / "tinyserve-1.0.zip")


def test_package_holding_a_real_venv_deploys_with_a_console_script(
    tmp_path: Path, venv_zip: Path
) -> None:
    """A zipped `python -m venv` with an app's console script runs as `command = "tinyserve"`."""
    with hosted(tmp_path, command="tinyserve", health_path="/health") as host:
        target = host.target
        target.ensure_slot("blue")
        state = target.deploy("blue", Release("1.0.0", venv_zip))
        assert state.state == "running" and state.url is not None
        assert httpx.get(f"{state.url}/health").json() == {
            "status": "healthy",
            "version": "1.0.0",
        }
        release = Path(str(_env_of(state.url, "TURNOUT_RELEASE_DIR")))
        assert _env_of(state.url, "VIRTUAL_ENV") == str(release / ".venv")
        argv = httpx.get(f"{state.url}/argv").json()
        # The release's own venv runs, not the one the package was built in.
        assert argv["prefix"] == str(release / ".venv")
        assert argv["argv"][0] == str(release / ".venv" / "bin" / "tinyserve")
