"""`turnout dashboard` refuses before it listens: without its extra, on an address other
than loopback without sign-in or TLS, with a bad --listen or a short token."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.support.project import Project, fake_project

TOKEN = "a-token-long-enough-0123"
LEAD = """
[[people]]
name = "lead"
roles = ["senior-engineer"]
dashboard_token = "env:LEAD_TOKEN"
"""
# Runs the command with the dashboard's libraries unimportable, as without the extra.
WITHOUT_EXTRA = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"starlette", "uvicorn", "jinja2", "python_multipart"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Missing())
from turnout.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _project(tmp_path: Path, extra: str = "") -> Project:
    return fake_project(tmp_path / "shop", extra=extra)


def test_without_the_extra_it_names_what_to_install(tmp_path: Path) -> None:
    """Exit 2 and the pip command, before the configuration is read."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, "dashboard", "--config", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'turnout[dashboard]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_address_off_loopback_needs_sign_in_then_tls(tmp_path: Path) -> None:
    """Without a token configured, then without TLS or --plain-http: exit 2 each, naming
    what is missing; nothing listens."""
    port = _free_port()
    bare = _project(tmp_path)
    refused = bare.read("dashboard", "--listen", f"0.0.0.0:{port}")
    assert refused.returncode == 2
    assert "needs sign-in" in refused.stderr and "dashboard_token" in refused.stderr
    signed = fake_project(tmp_path / "signed", extra=LEAD)
    no_tls = signed.read("dashboard", "--listen", f"0.0.0.0:{port}", env={"LEAD_TOKEN": TOKEN})
    assert no_tls.returncode == 2
    assert "--tls-cert" in no_tls.stderr and "--plain-http" in no_tls.stderr
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", port))  # still free: nothing was bound


def test_bad_listen_and_short_or_unset_tokens_are_bad_input(tmp_path: Path) -> None:
    """A --listen that is not HOST:PORT, a token shorter than 16 characters and an unset one
    each end with exit 2 and a message naming the option or the key."""
    project = _project(tmp_path, extra=LEAD)
    bad = project.read("dashboard", "--listen", "localhost", env={"LEAD_TOKEN": TOKEN})
    assert bad.returncode == 2 and "--listen" in bad.stderr and "HOST:PORT" in bad.stderr
    short = project.read("dashboard", "--listen", "127.0.0.1:0", env={"LEAD_TOKEN": "short"})
    assert short.returncode == 2 and "people[0].dashboard_token" in short.stderr
    unset = project.read("dashboard", "--listen", "127.0.0.1:0", env={"LEAD_TOKEN": ""})
    assert unset.returncode == 2 and "people[0].dashboard_token" in unset.stderr
