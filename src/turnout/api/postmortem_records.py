"""Post-mortems that emergency deployments open, and closing them with their write-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from turnout.api.context import ConfigSource, acting_user, load, open_store
from turnout.errors import BadInput
from turnout.store.records import AuditAction


@dataclass(frozen=True)
class Postmortem:
    """One post-mortem: the deployment that opened it, why, and (once closed) its link."""

    id: int
    deployment: int
    environment: str
    reason: str
    opened_at: str
    closed_at: str | None
    closed_by: str | None
    link: str | None

    @property
    def open(self) -> bool:
        """Whether nobody closed it yet."""
        return self.closed_at is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "deployment": self.deployment,
            "environment": self.environment,
            "reason": self.reason,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "closed_by": self.closed_by,
            "link": self.link,
            "open": self.open,
        }


@dataclass(frozen=True)
class PostmortemList:
    """Post-mortems, newest first."""

    postmortems: tuple[Postmortem, ...]

    def to_dict(self) -> list[dict[str, Any]]:
        """JSON-ready form (what `turnout postmortem list --json` prints: a list)."""
        return [p.to_dict() for p in self.postmortems]


def postmortems(
    env: str | None = None, *, open_only: bool = False, config: ConfigSource = None
) -> PostmortemList:
    """Post-mortems of `env` (None: all), newest first."""
    loaded = load(config)
    if env is not None:
        loaded.env(env)
    with open_store(loaded, read_only=True) as store:
        rows = store.postmortems(env, open_only=open_only)
    return PostmortemList(
        tuple(
            Postmortem(
                id=r.id,
                deployment=r.deployment_id,
                environment=r.environment,
                reason=r.reason,
                opened_at=r.opened_at.isoformat(),
                closed_at=r.closed_at.isoformat() if r.closed_at else None,
                closed_by=r.closed_by,
                link=r.link,
            )
            for r in rows
        )
    )


def close_postmortem(
    postmortem_id: int, *, link: str, actor: str | None = None, config: ConfigSource = None
) -> Postmortem:
    """Close an open post-mortem with an http(s) link to its write-up (audited)."""
    parsed = urlparse(link)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise BadInput(f"--link: {link!r} is not an http(s) URL")
    loaded = load(config)
    who = acting_user(actor)
    with open_store(loaded) as store:
        found = {p.id: p for p in store.postmortems()}.get(postmortem_id)
        if found is None:
            raise BadInput(f"no post-mortem {postmortem_id}")
        if found.closed_at is not None:
            raise BadInput(f"post-mortem {postmortem_id} is already closed ({found.link})")
        closed = store.close_postmortem(postmortem_id, who, link)
        store.audit(
            who,
            AuditAction.POSTMORTEM_CLOSED,
            environment=found.environment,
            deployment_id=found.deployment_id,
            postmortem=postmortem_id,
            link=link,
        )
    return Postmortem(
        id=found.id,
        deployment=found.deployment_id,
        environment=found.environment,
        reason=found.reason,
        opened_at=found.opened_at.isoformat(),
        closed_at=(closed.closed_at.isoformat() if closed and closed.closed_at else None),
        closed_by=who,
        link=link,
    )
