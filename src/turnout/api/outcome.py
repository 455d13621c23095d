"""What happened to an environment, in words: the sentence and evidence lines `status` prints.

`what_happened` reads a deployment summary (turnout.history) and says it the
way a person would ("production was rolled back to 1.1.0 by sam at ..."),
never calling a release verified that was not proven healthy; `where_it_failed`
names the step and phase; `evidence_lines` turns the evidence a failed or held
step recorded into short readable lines (figures first, then checks, the E2E
command and probe batches), never a raw dictionary.
"""

from __future__ import annotations

from typing import Any

FIGURES = (
    ("requests", "requests judged"),
    ("probe_requests", "of them probes"),
    ("errors", "errors"),
    ("error_rate", "error rate"),
    ("slow", "slow requests"),
    ("p95_ms", "p95 (ms)"),
    ("throughput_rps", "requests per second"),
    ("errors_statistic", "error evidence"),
    ("errors_threshold", "error threshold"),
    ("latency_statistic", "latency evidence"),
    ("latency_threshold", "latency threshold"),
    ("crossed_after_swap_s", "decided after the swap (s)"),
    ("crossed_at_iso", "decided at"),
)
OUTPUT_LINES = 5


def _at(text: Any) -> str:
    return str(text)[:19].replace("T", " ") if text else "an unknown time"


def _traffic_moved(latest: dict[str, Any]) -> bool:
    from turnout.runbook.traffic import SWAP_STEP, journaled_swap_moved_traffic

    swap = next((s for s in latest.get("steps", []) if s["step"] == SWAP_STEP), None)
    return swap is not None and journaled_swap_moved_traffic(swap["status"], swap.get("outputs"))


def _replaced(latest: dict[str, Any]) -> str:
    """What production ran before the deployment: its snapshot saw it, else its record."""
    for step in latest.get("steps", []):
        if step["step"] == "snapshot":
            version = (step.get("outputs") or {}).get("production_version")
            if isinstance(version, str):
                return version
    return str(latest.get("previous_version") or "the previous version")


def what_happened(environment: str, latest: dict[str, Any] | None) -> str | None:
    """One sentence on the latest deployment's outcome, or None when there is none."""
    if latest is None:
        return None
    version = latest["version"]
    later = latest.get("rolled_back")
    if later:
        by = f" by {later['by']}" if later.get("by") else ""
        why = f" ({later['reason']})" if later.get("reason") else ""
        to = later.get("to") or _replaced(latest)
        return f"{environment} was rolled back to {to}{by} at {_at(later.get('at'))}{why}"
    status = latest["status"]
    failure = latest.get("failure") or {}
    if status == "rolled-back":
        # Only a rolled-back deployment's journal is read for its swap: the step outputs
        # records (and their validators) are imported for it alone, not on every `status`.
        from turnout.runbook.traffic import SWAP_STEP, journaled_canary_exposure

        previous = _replaced(latest)
        if _traffic_moved(latest):
            return (
                f"{environment} was rolled back to {previous} at {_at(latest.get('finished_at'))}:"
                f" {version} failed at {failure.get('step', '?')}"
            )
        if failure.get("step") == SWAP_STEP:
            return (
                f"the swap to {version} failed at {_at(latest.get('finished_at'))};"
                f" production never changed: {environment} stays on {previous}"
            )
        canary = journaled_canary_exposure(latest.get("steps"))
        if canary is not None:
            return (
                f"{version} was rolled back during its canary at"
                f" {_at(latest.get('finished_at'))}: it served {canary.served} user requests"
                f" ({canary.failed} failed) before the share went back to zero; the swap never"
                f" ran, {environment} stays on {previous}"
            )
        return (
            f"{version} stopped at {failure.get('step', '?')} before any traffic moved;"
            f" {environment} stays on what it ran before"
        )
    proof = latest.get("proven_by")
    if status == "succeeded" and proof:
        return (
            f"{version} was proven healthy afterwards by turnout watch at {_at(proof.get('at'))}"
            f" ({proof.get('summary')}); before that it was {proof.get('was')}"
        )
    accepted = latest.get("accepted")
    if status == "succeeded" and accepted:
        return (
            f"{version} is kept, accepted unproven by {accepted.get('by')} at"
            f" {_at(accepted.get('at'))} ({accepted.get('reason')}): not proven healthy"
        )
    if status == "succeeded" and latest.get("proven") is False:
        return f"{version} is live but not proven healthy: {latest.get('message') or ''}".strip()
    if status == "succeeded":
        return f"{version} was deployed and verified at {_at(latest.get('finished_at'))}"
    if status == "needs-person" and failure.get("step") == "verify":
        return (
            f"{version} is live and held: its verification could not decide, so it is not"
            " proven healthy (nothing was rolled back)"
        )
    if status == "needs-person":
        return f"{version} needs a person: {failure.get('step', '?')} failed"
    if status == "refused":
        return f"{version} was refused at {failure.get('step', '?')}; nothing was changed"
    return None


def where_it_failed(latest: dict[str, Any]) -> str | None:
    """The step (and its phase, when the journal knows it) that failed, with its error."""
    failure = latest.get("failure") or {}
    step = failure.get("step")
    if not step:
        return None
    return f"failed at step {step}: {failure.get('error') or 'no message'}"


def evidence_lines(details: dict[str, Any] | None) -> list[str]:
    """Readable lines for a failure's recorded evidence."""
    if not details:
        return []
    evidence = details.get("evidence", details)
    if not isinstance(evidence, dict):
        return [str(evidence)]
    lines: list[str] = []
    for reason in evidence.get("reasons") or []:
        lines.append(f"reason: {reason}")
    for key, label in FIGURES:
        value = evidence.get(key)
        if value is None:
            continue
        if key.endswith("_rate") and isinstance(value, float):
            lines.append(f"{label}: {value:.3%}")
        else:
            lines.append(f"{label}: {value}")
    for check in evidence.get("checks") or []:
        if isinstance(check, dict):
            mark = "ok" if check.get("ok") else "FAILED"
            problem = f" ({check['problem']})" if check.get("problem") else ""
            lines.append(f"check {check.get('url', '?')}: {mark}{problem}")
    e2e = evidence.get("e2e")
    if isinstance(e2e, dict):
        lines.append(
            f"E2E `{e2e.get('command')}`: exit {e2e.get('exit_code')}"
            f"{' (timed out)' if e2e.get('timed_out') else ''} after {e2e.get('seconds')} s"
        )
        output = str(e2e.get("output") or "").strip().splitlines()
        lines.extend(f"  | {line}" for line in output[-OUTPUT_LINES:])
    analysis = evidence.get("analysis")
    probes = evidence.get("probes") or (
        analysis.get("probes") if isinstance(analysis, dict) else None
    )
    for batch in probes or []:
        if isinstance(batch, dict):
            lines.append(
                f"probes {batch.get('phase')}: {batch.get('sent')} sent, {batch.get('failed')}"
                f" failed, {batch.get('rate_rps')} rps (cap {batch.get('rate_cap')})"
            )
    if not lines:
        lines = [f"{key}: {value}" for key, value in evidence.items() if _short(value)]
    return lines


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(str(value)) <= 200
