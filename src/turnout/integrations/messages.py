"""The runbook's announcement templates, rendered as Markdown.

Apprise converts the Markdown for each service (Slack gets mrkdwn: `**bold**` becomes
`*bold*`; e-mail gets HTML), the console gets it with the emphasis stripped. Every value
comes from the message context (a plain mapping, see `MessageKind`), never a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from turnout.text import first_line, printable

TYPE_LABELS = {"app": "Application", "infra": "Infrastructure", "full": "Full"}
MAX_EVIDENCE_LINES = 12
MAX_VALUE_CHARS = 160
MAX_BLOCK_LINES = 20
"""Lines of a multi-line evidence value (a log tail) shown, its last ones."""


class MessageKind(StrEnum):
    """Which announcement. Context keys each template reads are listed in docs/integrations.md."""

    START = "start"
    SUCCESS = "success"
    ROLLBACK = "rollback"
    REFUSED = "refused"
    NEEDS_PERSON = "needs-person"
    ONCALL = "oncall"
    """Sent straight to the on-call engineer after a production deployment."""


@dataclass(frozen=True)
class Message:
    """A rendered announcement."""

    kind: MessageKind
    title: str
    body: str
    severity: str
    """info, success, warning or failure (Slack colours the message by it)."""
    context: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The values it was rendered from (see `MessageKind`), for channels that send
    structured events instead of text (PagerDuty change events)."""

    def text(self) -> str:
        """Title and body as one plain block (console, logs)."""
        return f"{self.title}\n\n{self.body}".replace("**", "")


def render(kind: MessageKind | str, context: Mapping[str, Any]) -> Message:
    """The announcement of this kind filled from the context."""
    kind = MessageKind(kind)
    renderer = {
        MessageKind.START: _start,
        MessageKind.SUCCESS: _success,
        MessageKind.ROLLBACK: _rollback,
        MessageKind.REFUSED: _refused,
        MessageKind.NEEDS_PERSON: _needs_person,
        MessageKind.ONCALL: _oncall,
    }[kind]
    message = renderer(context)
    # Values come from elsewhere (an app's log, an HTTP answer): no control characters.
    return Message(
        message.kind,
        printable(message.title),
        printable(message.body),
        message.severity,
        dict(context),
    )


def _env_title(c: Mapping[str, Any]) -> str:
    return str(c.get("environment") or "production").title()


def _person(name: Any) -> str:
    if not name:
        return "(none found)"
    text = str(name)
    return text if text.startswith("@") else f"@{text}"


def _footer(c: Mapping[str, Any]) -> str:
    tags = str(c.get("hashtags") or "#deployment #{environment}")
    return tags.replace("{environment}", str(c.get("environment") or "production"))


def _lines(*pairs: tuple[str, Any]) -> list[str]:
    return [f"**{label}:** {value}" for label, value in pairs if value not in (None, "")]


def _duration(seconds: Any) -> str:
    if seconds is None:
        return ""
    total = round(float(seconds))
    minutes, secs = divmod(total, 60)
    if minutes == 0:
        return f"{secs} second{'s' if secs != 1 else ''}"
    return f"{minutes} minutes" if secs == 0 else f"{minutes} min {secs} s"


def _start(c: Mapping[str, Any]) -> Message:
    kind = TYPE_LABELS.get(str(c.get("type", "app")), str(c.get("type", "")))
    emergency = bool(c.get("emergency"))
    title = f"🚀 {_env_title(c)} Deployment Starting" + (" (EMERGENCY)" if emergency else "")
    eta = c.get("eta_minutes")
    lines = _lines(
        ("Type", kind),
        ("Version", _version_change(c)),
        ("ETA", f"{eta} minutes" if eta else ""),
        ("Changes", c.get("changes") or "(no summary given)"),
        ("Deployer", _person(c.get("deployer"))),
        ("On-call backup", _person(c.get("oncall"))),
        ("Rollback plan", c.get("rollback_plan") or "Ready"),
        ("Reason", c.get("reason") if emergency else ""),
        ("Tracking", c.get("tracking_url")),
    )
    return Message(MessageKind.START, title, "\n".join([*lines, "", _footer(c)]), "info")


def _version_change(c: Mapping[str, Any]) -> str:
    version = c.get("version")
    previous = c.get("previous_version")
    if not version:
        return ""
    return f"{previous} → {version}" if previous else str(version)


def _check_mark(ok: Any) -> str:
    if ok is None:
        return "⚪"
    return "✅" if ok else "❌"


def _success(c: Mapping[str, Any]) -> Message:
    deployed = str(c.get("version") or "")
    if c.get("commit"):
        deployed = f"{deployed} (commit {str(c['commit'])[:12]})".strip()
    error_rate = c.get("error_rate")
    max_error = float(c.get("max_error_rate", 0.001))
    p95 = c.get("p95_ms")
    max_p95 = float(c.get("max_p95_ms", 500.0))
    errors_ok = None if error_rate is None else float(error_rate) < max_error
    perf_ok = None if p95 is None else float(p95) < max_p95
    errors_text = f"< {max_error * 100:g}%"
    if error_rate is not None:
        errors_text += f" (measured {float(error_rate) * 100:.3g}%)"
    else:
        errors_text = f"not measured (limit {errors_text})"
    if p95 is not None:
        perf_text = "Normal" if perf_ok else "Degraded"
        perf_text += f" (p95 {float(p95):.0f} ms, limit {max_p95:g} ms)"
    else:
        perf_text = f"not measured (limit p95 {max_p95:g} ms)"
    checks = c.get("checks") or {}
    health_ok = all(bool(v) for v in checks.values()) if checks else c.get("health_ok", True)
    health_text = "Passing" if health_ok else "Failing"
    if checks:
        health_text += f" ({sum(1 for v in checks.values() if v)}/{len(checks)})"
    proven = c.get("proven", True) is not False
    title = f"✅ {_env_title(c)} Deployment Complete"
    status = "Successful"
    if not proven:
        title = f"⚠️ {_env_title(c)} Deployment Complete, not proven healthy"
        status = f"Kept, not proven healthy ({c.get('verification') or 'not measured'})"
    body = [
        *_lines(
            ("Status", status),
            ("Duration", _duration(c.get("duration_seconds"))),
            ("Deployed", deployed),
            ("Changes", c.get("changes")),
            ("Canary", c.get("canary_summary")),
        ),
        "",
        f"**Health checks:** {_check_mark(health_ok)} {health_text}",
        f"**Performance:** {_check_mark(perf_ok)} {perf_text}",
        f"**Errors:** {_check_mark(errors_ok)} {errors_text}",
        "",
        *_lines(
            ("Deployed by", _person(c.get("deployer"))),
            ("On-call", _oncall_line(c)),
            ("Tracking", c.get("tracking_url")),
        ),
        "",
        _footer(c),
    ]
    return Message(MessageKind.SUCCESS, title, "\n".join(body), "success")


def _oncall_line(c: Mapping[str, Any]) -> str:
    """The on-call engineer of the moment and whether they were told directly (production)."""
    if "oncall_now" not in c:
        return ""
    if not c.get("oncall_now"):
        return "(none found)"
    reached = c.get("oncall_reached")
    if reached:
        how = f"told directly ({reached})"
    else:
        how = f"not told directly: {c.get('oncall_unreached')}"
    return f"{_person(c.get('oncall_now'))}, {how}"


def _oncall(c: Mapping[str, Any]) -> Message:
    """To the on-call engineer: what just went live, by whom, and how to undo it."""
    env = c.get("environment") or "production"
    title = f"📟 On call: {c.get('version') or 'a new version'} is live on {_env_title(c)}"
    body = [
        *_lines(
            ("Version", _version_change(c)),
            ("Changes", c.get("changes")),
            ("Deployed by", _person(c.get("deployer"))),
            ("Status", "Kept, not proven healthy" if c.get("proven") is False else "Verified"),
            ("Tracking", c.get("tracking_url")),
            ("If it misbehaves", f"`turnout rollback --env {env}`"),
        ),
        "",
        _footer(c),
    ]
    return Message(MessageKind.ONCALL, title, "\n".join(body), "info")


def _failure_lines(c: Mapping[str, Any]) -> list[str]:
    evidence = c.get("evidence")
    error = str(c.get("error") or "(not recorded)")
    lines = _lines(
        ("Failed step", c.get("failed_step")),
        ("What regressed", first_line(error)),
    )
    # The rest of a multi-line error (a crash's log tail) is shown once: here, unless the
    # evidence carries the same text.
    rest = error[len(first_line(error)) :].strip("\n")
    if rest and not _in_evidence(evidence, rest):
        lines.extend(_block(rest))
    reasons: list[str] = []
    if isinstance(evidence, Mapping):
        # A verdict keeps its reasons at the top; a failed verification nests it in analysis.
        analysis = evidence.get("analysis")
        for source in (evidence, analysis if isinstance(analysis, Mapping) else {}):
            found = source.get("reasons")
            if isinstance(found, list) and not reasons:
                reasons = [str(r) for r in found]
    if reasons:
        lines.append("**Reasons:**")
        lines.extend(f"• {_short(r)}" for r in reasons[:MAX_EVIDENCE_LINES])
    flat = evidence_lines(evidence, blocks=True)
    if flat:
        lines.append("**Evidence:**")
        lines.extend(line if line.startswith("    ") else f"• {line}" for line in flat)
    return lines


def _block(text: str) -> list[str]:
    """A multi-line value as indented lines, its last MAX_BLOCK_LINES (a log's newest)."""
    shown = text.rstrip("\n").split("\n")[-MAX_BLOCK_LINES:]
    return [f"    {_short(line)}" for line in shown]


def _in_evidence(evidence: Any, text: str) -> bool:
    """Whether some evidence value already holds `text` (so it is not shown twice)."""
    if isinstance(evidence, Mapping):
        return any(_in_evidence(value, text) for value in evidence.values())
    return isinstance(evidence, str) and text.strip() in evidence


def evidence_lines(evidence: Any, *, blocks: bool = False) -> list[str]:
    """Evidence as `key: value` lines (nested mappings flattened), at most a dozen. With
    `blocks`, a multi-line value (a log tail) follows its key as indented lines instead of
    being shortened to one line."""
    out: list[str] = []
    entries = 0

    def walk(value: Any, prefix: str) -> None:
        nonlocal entries
        if entries >= MAX_EVIDENCE_LINES:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in {"reasons", "traceback"}:
                    continue
                walk(item, f"{prefix}.{key}" if prefix else str(key))
        elif prefix:
            entries += 1
            if blocks and isinstance(value, str) and "\n" in value.strip("\n"):
                out.append(f"{prefix}:")
                out.extend(_block(value))
            else:
                out.append(f"{prefix}: {_short(_format_value(value))}")

    walk(evidence, "")
    return out


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


def _short(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _rollback(c: Mapping[str, Any]) -> Message:
    if c.get("traffic_moved") is False and c.get("canary_served"):
        return _canary_rolled_back(c)
    if c.get("traffic_moved") is False:
        return _stopped(c)
    title = f"🔙 {_env_title(c)} Deployment Rolled Back"
    back_on = c.get("live_version") or c.get("previous_version")
    body = [
        *_lines(
            ("Version", c.get("version")),
            ("Production is on", back_on or "the previous version"),
        ),
        *_failure_lines(c),
        *_lines(("Deployer", _person(c.get("deployer"))), ("Tracking", c.get("tracking_url"))),
        "",
        _footer(c),
    ]
    return Message(MessageKind.ROLLBACK, title, "\n".join(body), "warning")


def _canary_rolled_back(c: Mapping[str, Any]) -> Message:
    """A canary that regressed: the swap never ran, but the new version served users during
    the canary, and the message says how many."""
    live = c.get("live_version") or c.get("previous_version")
    served, failed = int(c.get("canary_served") or 0), int(c.get("canary_failed") or 0)
    title = (
        f"🔙 {_env_title(c)} Canary Rolled Back: {served} User Requests Served by the New Version"
    )
    body = [
        *_lines(
            ("Version", c.get("version")),
            ("Production", f"still on {live}: the swap never ran" if live else "never swapped"),
            (
                "Canary",
                f"{_share_text(c.get('canary_share'))} of new clients; {served} user requests"
                f" served by the new version, {failed} failed, before the share went back to"
                " zero",
            ),
        ),
        *_failure_lines(c),
        *_lines(("Deployer", _person(c.get("deployer"))), ("Tracking", c.get("tracking_url"))),
        "",
        _footer(c),
    ]
    return Message(MessageKind.ROLLBACK, title, "\n".join(body), "warning")


def _share_text(share: Any) -> str:
    return f"up to {float(share):g} %" if isinstance(share, int | float) else "a share"


def _stopped(c: Mapping[str, Any]) -> Message:
    """A failure before any traffic moved: what was started was undone, nothing rolled back.
    A swap that failed once started is named as such: it was tried, and production never
    changed."""
    live = c.get("live_version") or c.get("previous_version")
    if c.get("failed_step") == "swap":
        title = f"⚠️ {_env_title(c)} Deployment Failed: The Swap Failed, Production Never Changed"
        production = f"never changed, still on {live}" if live else "never changed"
    else:
        title = f"⚠️ {_env_title(c)} Deployment Failed Before Any Traffic Moved"
        production = f"untouched, still on {live}" if live else "untouched"
    body = [
        *_lines(("Version", c.get("version")), ("Production", production)),
        *_failure_lines(c),
        *_lines(("Deployer", _person(c.get("deployer"))), ("Tracking", c.get("tracking_url"))),
        "",
        _footer(c),
    ]
    return Message(MessageKind.ROLLBACK, title, "\n".join(body), "warning")


def _refused(c: Mapping[str, Any]) -> Message:
    title = f"⛔ {_env_title(c)} Deployment Refused"
    body = [
        *_lines(
            ("Version", c.get("version")),
            ("Production", f"untouched, still on {c.get('live_version') or 'the live version'}"),
        ),
        *_failure_lines(c),
        *_lines(("Deployer", _person(c.get("deployer"))), ("Tracking", c.get("tracking_url"))),
        "",
        _footer(c),
    ]
    return Message(MessageKind.REFUSED, title, "\n".join(body), "warning")


def _needs_person(c: Mapping[str, Any]) -> Message:
    title = f"🚨 {_env_title(c)} Deployment Needs a Person"
    env = c.get("environment") or "production"
    body = [
        *_lines(("Version", c.get("version")), ("Production reports", c.get("live_version"))),
        *_failure_lines(c),
        *_lines(
            ("Next", f"run `turnout status --env {env}` and act by hand"),
            ("Deployer", _person(c.get("deployer"))),
            ("On-call", _person(c.get("oncall")) if c.get("oncall") else ""),
            ("Tracking", c.get("tracking_url")),
        ),
        "",
        _footer(c),
    ]
    return Message(MessageKind.NEEDS_PERSON, title, "\n".join(body), "failure")
