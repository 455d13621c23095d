"""People and their roles (who may approve what)."""

from __future__ import annotations

from pydantic import Field

from turnout.config.base import Section
from turnout.config.secrets import Secret


class Person(Section):
    """Someone who deploys, approves or is on call."""

    name: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    """E.g. senior-engineer, vp-engineering, director."""
    email: str | None = None
    github: str | None = None
    slack: str | None = None
    aliases: list[str] = Field(default_factory=list)
    """Other names this person acts under (OS user names, CI identities)."""
    notify: Secret | None = None
    """Secret reference to an Apprise URL reaching this person directly (a Slack DM
    webhook, mailto://…): how the on-call engineer is told of a production deployment."""

    def identities(self) -> set[str]:
        """Every name that stands for this person, lower-cased (e-mail: address and user)."""
        names = {self.name, *self.aliases}
        for handle in (self.github, self.slack):
            if handle:
                names.add(handle.lstrip("@"))
        if self.email:
            names.update({self.email, self.email.split("@", 1)[0]})
        return {n.strip().lower() for n in names if n.strip()}

    def answers_to(self, who: str) -> bool:
        """Whether `who` (an --as value, a deployer, an OS user) is this person."""
        return who.strip().lstrip("@").lower() in self.identities()


def find_person(people: list[Person], who: str) -> Person | None:
    """The person `who` names: an exact name first, then any identity."""
    for person in people:
        if person.name == who:
            return person
    for person in people:
        if person.answers_to(who):
            return person
    return None
