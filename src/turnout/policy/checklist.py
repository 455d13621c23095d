"""The runbook's pre-deployment checklist as code: nine items, each decided by a source.

Results: pass, fail, attested (a person recorded it with `turnout attest`, or took
responsibility through an override) or not-applicable, each with its evidence. A
required item that fails refuses the deployment.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.childenv import child_environment
from turnout.config.people import find_person
from turnout.config.policy import CHECKLIST_ITEMS, ChecklistItemConfig
from turnout.errors import BadInput
from turnout.model import DeploymentStatus, PlannedDeployment, StepStatus, VerdictKind
from turnout.policy.approvals import is_deployer
from turnout.policy.flags import DeploymentFlags, is_production
from turnout.policy.rules import WindowOverride
from turnout.store.records import AuditAction

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.database.migrations import Migration
    from turnout.database.sqlsplit import Dialect
    from turnout.policy.windows import WindowDecision
    from turnout.store import Store

PASS, FAIL = VerdictKind.PASS, VerdictKind.FAIL
ATTESTED, NA = VerdictKind.ATTESTED, VerdictKind.NOT_APPLICABLE
OUTPUT_TAIL = 2000
MIGRATION_NAME = re.compile(r"^V(\d+(?:[._]\d+)*)__(.+)\.sql$")


@dataclass(frozen=True)
class ItemResult:
    """One checklist item's outcome."""

    key: str
    title: str
    kind: VerdictKind
    required: bool
    source: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        """Whether this item refuses the deployment."""
        return self.required and self.kind is FAIL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "item": self.key,
            "title": self.title,
            "result": self.kind.value,
            "required": self.required,
            "source": self.source,
            "summary": self.summary,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class ChecklistReport:
    """Every item's result."""

    items: list[ItemResult]

    @property
    def failed(self) -> list[ItemResult]:
        """Required items that fail."""
        return [i for i in self.items if i.blocking]

    @property
    def ok(self) -> bool:
        """Whether no required item fails."""
        return not self.failed

    def refusal(self) -> str:
        """The message naming every failed required item and why."""
        return "checklist: " + "; ".join(f"{i.title} ({i.key}): {i.summary}" for i in self.failed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "items": [i.to_dict() for i in self.items]}


@dataclass(frozen=True)
class CheckInput:
    """What an item's source may look at."""

    config: LoadedConfig
    env: EnvironmentConfig
    store: Store
    deployment: PlannedDeployment
    flags: DeploymentFlags
    at: datetime
    window: WindowDecision | None


# -- attestations -----------------------------------------------------------------------
def attestation_key(environment: str, version: str, item: str) -> str:
    """Where an attestation is kept in the store's small-record table."""
    return f"attestation:{environment}:{version}:{item}"


def normalise_item(name: str) -> str:
    """An item key from user input ("code-reviewed" -> "code_reviewed"), or BadInput."""
    key = name.strip().lower().replace("-", "_")
    if key not in CHECKLIST_ITEMS:
        known = ", ".join(k.replace("_", "-") for k in CHECKLIST_ITEMS)
        raise BadInput(f"no checklist item {name!r} (items: {known})")
    return key


def record_attestation(
    store: Store,
    environment: str,
    version: str,
    item: str,
    by: str,
    note: str | None = None,
    *,
    at: datetime | None = None,
    statement: str | None = None,
    signature: str | None = None,
) -> dict[str, Any]:
    """Record that `by` vouches for a checklist item of a release in an environment
    (signed: with the statement and the SSH signature over it, policy/attestations.py)."""
    key = normalise_item(item)
    record = {
        "item": key,
        "environment": environment,
        "version": version,
        "by": by,
        "at": (at or store.now()).isoformat(),
        "note": note,
        "statement": statement,
        "signature": signature,
    }
    store.put(attestation_key(environment, version, key), record)
    store.audit(
        by,
        AuditAction.CHECKLIST_ATTESTED,
        environment=environment,
        item=key,
        version=version,
        note=note,
        statement=statement,
        signature=signature,
    )
    return record


def _attestation(inp: CheckInput, key: str) -> tuple[VerdictKind, str, dict[str, Any]]:
    record = inp.store.get(attestation_key(inp.env.name, inp.deployment.version, key))
    if record is None:
        return (
            FAIL,
            f"no attestation recorded (turnout attest {key.replace('_', '-')} --env"
            f" {inp.env.name} --version {inp.deployment.version} --as NAME)",
            {},
        )
    from turnout.policy.signed_approvals import attestation_problem

    problem = attestation_problem(inp.config, inp.env, record, key, inp.deployment)
    if problem is not None:
        return FAIL, f"the attestation by {record.get('by')} does not count: {problem}", {}
    note = f": {record['note']}" if record.get("note") else ""
    signed = "signed " if record.get("signature") else ""
    return ATTESTED, f"{signed}attested by {record['by']} at {record['at']}{note}", record


# -- generic sources --------------------------------------------------------------------
def _command(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    if not item.command:
        return FAIL, f"no command configured (policy.checklist.{key}.command)", {}
    env = child_environment(
        {
            "TURNOUT_ENV": inp.env.name,
            "TURNOUT_VERSION": inp.deployment.version,
            "TURNOUT_CHECK": key,
        },
        passed=item.pass_env,
    )
    evidence: dict[str, Any] = {"command": item.command}
    try:
        done = subprocess.run(
            item.command,
            shell=True,
            cwd=inp.config.base_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=item.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return FAIL, f"command timed out after {item.timeout:g} s", evidence
    except OSError as exc:
        return FAIL, f"command could not start: {exc}", evidence
    output = (done.stdout or "") + (done.stderr or "")
    evidence.update(exit_code=done.returncode, output=output[-OUTPUT_TAIL:])
    if done.returncode == 0:
        return PASS, f"`{item.command}` exited 0", evidence
    last = output.strip().splitlines()[-1] if output.strip() else ""
    return (
        FAIL,
        f"`{item.command}` exited {done.returncode}" + (f": {last}" if last else ""),
        evidence,
    )


# -- security scan: SARIF ---------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """A critical/high SARIF result."""

    rule: str
    level: str
    severity: float | None
    message: str
    location: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rule": self.rule,
            "level": self.level,
            "security_severity": self.severity,
            "message": self.message,
            "location": self.location,
        }


def sarif_findings(
    document: dict[str, Any], min_severity: float = 7.0, fail_levels: tuple[str, ...] = ("error",)
) -> tuple[list[Finding], int]:
    """Critical/high results of a SARIF 2.1 log, and how many results were read.

    A result counts when its `security-severity` (on the result's or its rule's
    properties, GitHub's convention) is at least `min_severity`; when no severity is
    given, when its level (result, else the rule's default configuration, else
    "warning") is one of `fail_levels`. Suppressed results and kinds other than
    "fail" are not findings.
    """
    findings: list[Finding] = []
    total = 0
    for run in document.get("runs") or []:
        rules = _sarif_rules(run)
        for result in run.get("results") or []:
            total += 1
            if result.get("kind", "fail") != "fail" or _suppressed(result):
                continue
            rule = _rule_of(result, rules)
            level = result.get("level") or _default_level(rule) or "warning"
            severity = _severity(result.get("properties")) or _severity(rule.get("properties"))
            hit = severity >= min_severity if severity is not None else level in fail_levels
            if hit:
                findings.append(
                    Finding(
                        rule=str(result.get("ruleId") or rule.get("id") or "?"),
                        level=level,
                        severity=severity,
                        message=str((result.get("message") or {}).get("text") or "")[:300],
                        location=_location(result),
                    )
                )
    return findings, total


def _sarif_rules(run: dict[str, Any]) -> list[dict[str, Any]]:
    tool = run.get("tool") or {}
    rules = list((tool.get("driver") or {}).get("rules") or [])
    for extension in tool.get("extensions") or []:
        rules.extend(extension.get("rules") or [])
    return rules


def _rule_of(result: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    index = result.get("ruleIndex", (result.get("rule") or {}).get("index"))
    if isinstance(index, int) and 0 <= index < len(rules):
        return rules[index]
    rule_id = result.get("ruleId") or (result.get("rule") or {}).get("id")
    return next((r for r in rules if r.get("id") == rule_id), {})


def _default_level(rule: dict[str, Any]) -> str | None:
    level = (rule.get("defaultConfiguration") or {}).get("level")
    return str(level) if level else None


def _severity(properties: Any) -> float | None:
    if not isinstance(properties, dict) or "security-severity" not in properties:
        return None
    try:
        return float(properties["security-severity"])
    except (TypeError, ValueError):
        return None


def _suppressed(result: dict[str, Any]) -> bool:
    return any(s.get("status", "accepted") == "accepted" for s in result.get("suppressions") or [])


def _location(result: dict[str, Any]) -> str:
    for loc in result.get("locations") or []:
        physical = loc.get("physicalLocation") or {}
        uri = (physical.get("artifactLocation") or {}).get("uri")
        line = (physical.get("region") or {}).get("startLine")
        if uri:
            return f"{uri}:{line}" if line else str(uri)
    return ""


def _sarif(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    if not item.sarif:
        return FAIL, f"no SARIF report configured (policy.checklist.{key}.sarif)", {}
    findings: list[Finding] = []
    files: list[dict[str, Any]] = []
    for pattern in item.sarif:
        path = inp.config.resolve_path(
            pattern.replace("{version}", inp.deployment.version).replace("{env}", inp.env.name)
        )
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return FAIL, f"SARIF report {path} not found", {"files": files}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return FAIL, f"SARIF report {path} unreadable: {exc}", {"files": files}
        if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
            return FAIL, f"{path} is not a SARIF log (no runs)", {"files": files}
        found, total = sarif_findings(document, item.min_security_severity, tuple(item.fail_levels))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.append(
            {"path": str(path), "results": total, "findings": len(found), "sha256": digest}
        )
        findings.extend(found)
    evidence = {"files": files, "findings": [f.to_dict() for f in findings[:20]]}
    if findings:
        first = findings[0]
        return (
            FAIL,
            f"{len(findings)} critical/high finding(s), first: {first.rule} {first.location}",
            evidence,
        )
    results = sum(f["results"] for f in files)
    return (
        PASS,
        f"no critical/high findings in {len(files)} report(s) ({results} results)",
        evidence,
    )


# -- history: staging tested, migrations tested -----------------------------------------
def _staging_tested(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    staging = inp.env.staging_environment
    if not staging:
        return NA, "no staging_environment configured: this environment is the first stage", {}
    version = inp.deployment.version
    verified = [
        d
        for d in inp.store.deployments(staging, limit=1000, status=DeploymentStatus.SUCCEEDED)
        if d.version == version
    ]
    if not verified:
        last = inp.store.deployments(staging, limit=1, status=DeploymentStatus.SUCCEEDED)
        seen = f" (last verified there: {last[0].version})" if last else ""
        return FAIL, f"version {version} has not been verified on {staging}{seen}", {}
    newest = verified[0]
    finished = newest.finished_at.isoformat() if newest.finished_at else None
    return (
        PASS,
        f"version {version} verified on {staging} by deployment {newest.id}",
        {"environment": staging, "deployment": newest.id, "finished_at": finished},
    )


def migration_version(text: str) -> str:
    """Canonical migration version, as the database phase records it: "V001" -> "1",
    "2_1" -> "2.1", trailing zero parts dropped ("1.0" -> "1"); text that is no version
    (a journal written by hand) stays as it is."""
    from turnout.database.migrations import normal_version

    raw = str(text).strip().lstrip("Vv")
    try:
        return normal_version(raw)
    except ValueError:
        return raw


def release_migrations(package: Path, folder: str, dialect: Dialect) -> dict[str, Migration]:
    """Migration files of a release package (zip or directory), by canonical version."""
    # The database package is loaded only when a checklist reads migrations: the commands
    # that judge a window or list history never need it.
    from turnout.database.migrations import load_from_package

    return load_from_package(package, folder, dialect).by_version()


VERIFIED_KEY = "database.verified.{environment}"
"""Where the database phase records the checksums it last verified on an environment."""


def _applied(store: Store, environment: str) -> dict[str, str]:
    """version -> checksum of migrations turnout applied and verified in an environment:
    the database phase's verified record, and the journals of succeeded deployments."""
    applied: dict[str, str] = {}
    for dep in reversed(
        store.deployments(environment, limit=1000, status=DeploymentStatus.SUCCEEDED)
    ):
        for step in store.steps(dep.id):
            if step.status is StepStatus.SUCCEEDED and step.name in {"migrate", "verify-db"}:
                for record in _walk(step.outputs):
                    applied[migration_version(str(record["version"]))] = str(record["checksum"])
    verified = store.get(VERIFIED_KEY.format(environment=environment)) or {}
    checksums = verified.get("checksums")
    if isinstance(checksums, dict):
        for version, checksum in checksums.items():
            applied[migration_version(str(version))] = str(checksum)
    return applied


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "version" in value and "checksum" in value:
            yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _migrations_tested(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    if inp.env.database.url is None:
        return NA, "no database configured for this environment", {}
    package = inp.deployment.package
    if package is None or not package.exists():
        return NA, "no release package to read migrations from", {}
    from turnout.database.location import locate

    if inp.env.database.migration_command is not None:
        return _tool_migrations_tested(inp, package)
    migrations = release_migrations(
        package, inp.env.database.migration_folder, locate(inp.config, inp.env).engine
    )
    if not migrations:
        return NA, "the release has no migrations", {}
    staging = inp.env.staging_environment
    if not staging:
        return NA, "no staging_environment configured: this environment is the first stage", {}
    live = _applied(inp.store, inp.env.name)
    pending = {v: m for v, m in migrations.items() if live.get(v) != m.checksum}
    if not pending:
        return NA, "every migration of the release is already applied here", {"applied": live}
    tested = _applied(inp.store, staging)
    untested = [m.filename for v, m in sorted(pending.items()) if tested.get(v) != m.checksum]
    evidence = {
        "environment": staging,
        "pending": {
            v: {"file": m.filename, "sha256": m.checksum} for v, m in sorted(pending.items())
        },
        "untested": untested,
    }
    if untested:
        return (
            FAIL,
            f"not applied with the same checksum on {staging}: {', '.join(untested)}",
            evidence,
        )
    return PASS, f"{len(pending)} pending migration(s) applied and verified on {staging}", evidence


def _tool_migrations_tested(
    inp: CheckInput, package: Path
) -> tuple[VerdictKind, str, dict[str, Any]]:
    """The app's own tool: what it says production would apply, against what it reported
    applied on staging when staging was last verified."""
    from turnout.database.service import DatabaseService
    from turnout.runbook.tool_migrations import migrator_for, tool_applied_on

    svc = DatabaseService(inp.config, inp.env, inp.store)
    tool = migrator_for(inp.config, inp.env, svc, package)
    assert tool is not None  # only called when a tool is configured
    pending = tool.status().pending_names
    if not pending:
        return NA, f"{tool.tool} reports nothing pending here", {}
    staging = inp.env.staging_environment
    if not staging:
        return NA, "no staging_environment configured: this environment is the first stage", {}
    tested = tool_applied_on(inp.store, staging)
    untested = [name for name in pending if name not in set(tested or [])]
    evidence = {"environment": staging, "pending": pending, "untested": untested}
    if untested:
        return (
            FAIL,
            f"not reported applied by {tool.tool} on {staging}: {', '.join(untested)}",
            evidence,
        )
    return (
        PASS,
        f"{len(pending)} pending migration(s) applied by {tool.tool} and verified on {staging}",
        evidence,
    )


# -- computed: rollback plan, notification, window, on-call -----------------------------
def _rollback_plan(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    previous = inp.deployment.previous_version
    if previous is None:
        done = inp.store.deployments(inp.env.name, limit=1, status=DeploymentStatus.SUCCEEDED)
        previous = done[0].version if done else None
    if previous is None:
        return NA, "first deployment to this environment: nothing to roll back to", {}
    evidence: dict[str, Any] = {
        "previous_version": previous,
        "application": f"swap back to {previous}, kept warm in the staging slot",
    }
    summary = f"swap back to {previous} (kept warm in the staging slot)"
    azure_sql = inp.env.database.azure_sql
    if inp.env.database.url is not None and inp.env.database.url.startswith("mssql:"):
        mode = azure_sql.backup if azure_sql is not None else "pitr"
        evidence["database"] = (
            f"Azure SQL backup ({mode}): the restore point checked inside point-in-time"
            " restore's window before migrations; a restore goes to a new database swapped"
            " in by rename"
        )
        summary += f"; Azure SQL restore point ({mode}) before migrations"
    elif inp.env.database.url is not None:
        backup_dir = inp.env.database.backup_dir or (
            inp.config.state_dir / "backups" / inp.env.name
        )
        evidence["database"] = f"verified backup before migrations in {backup_dir}"
        summary += "; verified database backup before migrations"
    return PASS, summary, evidence


def _notification(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    channels = len(inp.env.integrations.notify.urls)
    if channels:
        return (
            PASS,
            f"turnout announces the deployment to {channels} channel(s) before any change",
            {"channels": channels},
        )
    return (
        FAIL,
        "no notification channel configured (integrations.notify.urls); or set"
        f' policy.checklist.{key}.source = "attestation"',
        {},
    )


def _window(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    decision = inp.window
    if decision is None:
        return NA, "window not evaluated", {}
    evidence = {"verdict": decision.verdict.kind.value, "override": decision.override}
    if not decision.ok:
        return FAIL, decision.message, evidence
    if decision.overrides in {(), (WindowOverride.ADVISORY,)}:
        return PASS, decision.message, evidence
    return ATTESTED, decision.message, evidence


def _oncall(
    inp: CheckInput, key: str, item: ChecklistItemConfig
) -> tuple[VerdictKind, str, dict[str, Any]]:
    from turnout.errors import TurnoutError
    from turnout.integrations.oncall import on_call

    try:
        found = on_call(inp.config, inp.env, at=inp.at)
    except TurnoutError as exc:
        return FAIL, f"cannot tell who is on call: {exc.message}", {}
    source, names = found.source, found.people
    evidence: dict[str, Any] = {"source": source, "on_call": names}
    if source == "none":
        return (
            FAIL,
            "no on-call source configured (integrations.oncall.roster or"
            " integrations.oncall.escalation_policy_ids)",
            evidence,
        )
    people = inp.config.root.people
    backups = [n for n in names if not is_deployer(find_person(people, n), n, inp.flags.deployer)]
    if backups:
        return PASS, f"on call ({source}): {', '.join(backups)}", evidence
    if names:
        return FAIL, f"only the deployer ({', '.join(names)}) is on call: name a backup", evidence
    return FAIL, f"nobody is on call now according to the {source}", evidence


Source = Callable[[CheckInput, str, ChecklistItemConfig], tuple[VerdictKind, str, dict[str, Any]]]

SOURCES: dict[str, Source] = {
    "command": _command,
    "sarif": _sarif,
    "computed": _rollback_plan,
    "turnout": _notification,
    "window": _window,
    "oncall": _oncall,
}
HISTORY: dict[str, Source] = {
    "staging_tested": _staging_tested,
    "migrations_tested": _migrations_tested,
}


def evaluate_checklist(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    deployment: PlannedDeployment,
    flags: DeploymentFlags,
    at: datetime,
    window: WindowDecision | None,
) -> ChecklistReport:
    """Every item of the checklist for this deployment, decided by its source."""
    inp = CheckInput(config, env, store, deployment, flags, at, window)
    production = is_production(env)
    results: list[ItemResult] = []
    for key, (title, sources) in CHECKLIST_ITEMS.items():
        item = env.policy.checklist.item(key)
        source = item.source or sources[0]
        required = production if item.required is None else item.required
        if source == "attestation":
            kind, summary, evidence = _attestation(inp, key)
        elif source == "history":
            kind, summary, evidence = HISTORY[key](inp, key, item)
        else:
            kind, summary, evidence = SOURCES[source](inp, key, item)
        results.append(ItemResult(key, title, kind, required, source, summary, evidence))
    return ChecklistReport(results)
