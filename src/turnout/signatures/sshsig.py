"""SSH signatures through the real `ssh-keygen -Y` (the mechanism git uses for signed commits).

Signing uses whatever `ssh-keygen` can: a private key file, or a public key file whose
private half is in ssh-agent (hardware keys included). Verifying builds an allowed-signers
file from the configuration's keys, so only keys declared there count.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from turnout.errors import BadInput
from turnout.signatures.statement import NAMESPACE

SIGN_TIMEOUT = 120.0
"""Seconds for a signature: a passphrase or a hardware key's touch may be asked for."""
VERIFY_TIMEOUT = 30.0
_FINGERPRINT = re.compile(r"key (SHA256:[A-Za-z0-9+/=]+)")


class SshKeygenMissing(BadInput):
    """`ssh-keygen` (OpenSSH's client tools) is not installed."""


@dataclass(frozen=True)
class SignatureCheck:
    """Whether a signature by one person over some bytes holds, and why not."""

    valid: bool
    fingerprint: str | None
    """The SHA256 fingerprint of the key that made the signature (None: unreadable)."""
    problem: str | None = None
    """Why it does not count, in words (None when valid)."""
    unknown_key: bool = False
    """The signature itself holds but its key is nobody's in the configuration (removed:
    revoked, or never declared)."""


def _run(args: list[str], data: bytes, timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["ssh-keygen", *args], input=data, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise SshKeygenMissing(
            "ssh-keygen is not installed: signed approvals need OpenSSH's client tools"
            " (Debian: apt-get install openssh-client)"
        ) from None


def _said(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def sign(data: bytes, key: Path, namespace: str = NAMESPACE) -> str:
    """An armored SSH signature of `data` by `key` (a private key file, or a public one
    whose private key is in ssh-agent); BadInput naming the key when it cannot sign."""
    if not key.is_file():
        raise BadInput(f"{key}: signing key not found")
    try:
        done = _run(["-Y", "sign", "-n", namespace, "-f", str(key)], data, SIGN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BadInput(f"{key}: ssh-keygen did not sign within {SIGN_TIMEOUT:g} s") from None
    signature = done.stdout.decode(errors="replace")
    if done.returncode != 0 or "BEGIN SSH SIGNATURE" not in signature:
        raise BadInput(f"{key}: cannot sign with this key: {_said(done)}")
    return signature


def public_key_text(line: str) -> str:
    """The key type and base64 blob of an OpenSSH public key line (comment dropped)."""
    return " ".join(line.split()[:2])


def check(
    data: bytes,
    signature: str,
    signer: str,
    keys: Mapping[str, Sequence[str]],
    namespace: str = NAMESPACE,
) -> SignatureCheck:
    """Whether `signature` over `data` was made with one of `signer`'s keys.

    `keys` maps every person's name to their public key lines (the configuration's):
    a key nobody holds, someone else's key, or bytes other than the ones signed are each
    refused with their own reason."""
    names = sorted(keys)
    # Principals in an allowed-signers file are patterns: people's names could contain
    # spaces or pattern characters, so each person is given a plain id here instead.
    principal = {name: f"person-{index}" for index, name in enumerate(names)}
    named = {pid: name for name, pid in principal.items()}
    lines = [
        f'{principal[name]} namespaces="{namespace}" {public_key_text(key)}'
        for name in names
        for key in keys[name]
    ]
    with tempfile.TemporaryDirectory(prefix="turnout-sig-") as folder:
        sig_file = Path(folder) / "statement.sig"
        sig_file.write_text(signature, encoding="utf-8")
        allowed = Path(folder) / "allowed_signers"
        allowed.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        try:
            return _check(data, sig_file, allowed, signer, principal, named, namespace)
        except subprocess.TimeoutExpired:
            return SignatureCheck(False, None, f"ssh-keygen did not answer in {VERIFY_TIMEOUT:g} s")


def _check(
    data: bytes,
    sig_file: Path,
    allowed: Path,
    signer: str,
    principal: Mapping[str, str],
    named: Mapping[str, str],
    namespace: str,
) -> SignatureCheck:
    own = _run(
        ["-Y", "check-novalidate", "-n", namespace, "-s", str(sig_file)], data, VERIFY_TIMEOUT
    )
    found = _FINGERPRINT.search((own.stdout + own.stderr).decode(errors="replace"))
    fingerprint = found.group(1) if found else None
    if own.returncode != 0:
        return SignatureCheck(
            False,
            fingerprint,
            "the signature does not match its statement (the statement was changed after it"
            f" was signed, or the signature was not made for it): {_said(own)}",
        )
    holders = _run(
        ["-Y", "find-principals", "-s", str(sig_file), "-f", str(allowed)], b"", VERIFY_TIMEOUT
    )
    who = [named[p] for p in holders.stdout.decode().split() if p in named]
    if holders.returncode != 0 or not who:
        return SignatureCheck(
            False,
            fingerprint,
            f"it is signed with key {fingerprint or '(unreadable)'}, which nobody in `people`"
            " holds (a key removed from the configuration, or one never declared)",
            unknown_key=True,
        )
    if signer not in who:
        return SignatureCheck(
            False,
            fingerprint,
            f"it is signed with {' and '.join(who)}'s key {fingerprint}, not {signer}'s",
        )
    verified = _run(
        [
            "-Y", "verify", "-f", str(allowed), "-I", principal[signer],
            "-n", namespace, "-s", str(sig_file),
        ],
        data,
        VERIFY_TIMEOUT,
    )  # fmt: skip
    if verified.returncode != 0:
        return SignatureCheck(
            False, fingerprint, f"the signature does not verify: {_said(verified)}"
        )
    return SignatureCheck(True, fingerprint)
