"""OneDeploy to a slot's SCM (Kudu) host and following the deployment to its end.

The management SDK has no call that uploads a local package (its OneDeploy
operation takes a URL), so this is what `az webapp deploy` does: POST the zip to
`https://<scm host>/api/publish?type=zip&async=true` with an Entra bearer token, then
poll the deployment status (the Location answered, else /api/deployments/latest)
until Kudu says success (status 4) or failure (status 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from turnout.errors import IntegrationError, StepError

PENDING, BUILDING, DEPLOYING, FAILED, SUCCESS = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class KuduDeployment:
    """Kudu's view of one deployment (api/deployments/{id} or latest)."""

    id: str
    status: int
    status_text: str
    complete: bool
    log_url: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KuduDeployment:
        """From Kudu's DeployResult JSON."""
        return cls(
            id=str(data.get("id", "")),
            status=int(data.get("status", PENDING)),
            status_text=str(data.get("status_text") or data.get("message") or ""),
            complete=bool(data.get("complete", False)),
            log_url=str(data.get("log_url") or ""),
        )


class KuduClient:
    """The publish and deployment-status endpoints of one slot's SCM host."""

    def __init__(self, scm_host: str, token: Callable[[], str], *, timeout: float = 60.0) -> None:
        self.base = f"https://{scm_host}"
        self._token = token
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Release connections."""
        self._http.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}", "Cache-Control": "no-cache"}

    def publish(self, package: Path) -> str:
        """Upload a zip for an asynchronous OneDeploy; the URL its status is polled at."""
        url = f"{self.base}/api/publish"
        try:
            response = self._http.post(
                url,
                params={"type": "zip", "async": "true"},
                content=package.read_bytes(),
                headers={**self._headers(), "Content-Type": "application/octet-stream"},
            )
        except httpx.HTTPError as exc:
            raise StepError(f"OneDeploy to {self.base}: no answer ({exc})") from exc
        if response.status_code == 409:
            raise StepError(
                f"OneDeploy to {self.base} refused: another deployment is in progress"
                f" ({_text(response)})"
            )
        if response.status_code in (401, 403):
            raise StepError(
                f"OneDeploy to {self.base} refused (HTTP {response.status_code}): the caller may"
                f" not publish to this slot (needs Microsoft.Web/sites/slots/publish/action)"
                f" {_text(response)}"
            )
        if response.status_code not in (200, 202):
            raise StepError(
                f"OneDeploy to {self.base} failed: HTTP {response.status_code} {_text(response)}"
                f" (see {self.base}/api/deployments/latest)"
            )
        location = response.headers.get("Location")
        return location or f"{self.base}/api/deployments/latest"

    def status(self, status_url: str) -> KuduDeployment:
        """One look at a deployment's status."""
        try:
            response = self._http.get(status_url, headers=self._headers())
        except httpx.HTTPError as exc:
            raise IntegrationError(f"Kudu {status_url}: no answer ({exc})") from exc
        if response.status_code == 202 and not response.content:
            return KuduDeployment("", PENDING, "accepted", False, "")
        if response.status_code != 200:
            raise IntegrationError(
                f"Kudu {status_url}: HTTP {response.status_code} {_text(response)}"
            )
        try:
            return KuduDeployment.from_json(response.json())
        except (ValueError, TypeError) as exc:
            raise IntegrationError(f"Kudu {status_url}: unreadable status ({exc})") from exc

    def follow(
        self, status_url: str, *, interval: float, timeout: float, sleep: Callable[[float], None]
    ) -> KuduDeployment:
        """Poll until the deployment is complete; a failed one is a StepError with Kudu's text."""
        deadline = time.monotonic() + timeout
        misses = 0
        while True:
            try:
                found = self.status(status_url)
                misses = 0
            except IntegrationError:
                misses += 1  # Kudu restarts the site while deploying; a few misses are normal
                if misses > 5:
                    raise
                found = None
            if found is not None and found.complete:
                if found.status == SUCCESS:
                    return found
                log = f"; log {found.log_url}" if found.log_url else ""
                raise StepError(
                    f"OneDeploy {found.id} to {self.base} failed (Kudu status {found.status}):"
                    f" {found.status_text or 'no reason given'}{log}"
                )
            if time.monotonic() >= deadline:
                raise DeployStillRunning(
                    f"OneDeploy to {self.base} did not finish within {timeout:.0f} s"
                    f" (status {found.status if found else 'unknown'})"
                )
            sleep(interval)


class DeployStillRunning(StepError):
    """The OneDeploy had not ended when the wait was over (it goes on in Azure)."""


def _text(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:300]
