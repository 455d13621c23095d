"""Traffic from Application Insights: `AppRequests` in its Log Analytics workspace (KQL).

One query per look: requests of the slot's host name in [since, until), summed by
sampling weight (`ItemCount`, so sampled telemetry still counts every request), by
`step`-second bin and latency bound (the judge's histogram, from which p95 comes).
`Success == false` rows are failures; those with a 5xx result code are the errors the
judge counts, other failures (4xx) are kept apart as "4xx".

Ingestion delay: a request shows up in the workspace minutes after it happened. A bin
is only handed out once `ingestion_delay` seconds have passed since its end (the
provider's `settle`), so a bin whose rows have not arrived yet is never read as
"no errors"; until then the judge simply has less traffic, and waits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from turnout.config.azure import AppInsightsConfig, resolve_value
from turnout.errors import IntegrationError
from turnout.traffic import LATENCY_BOUNDS_MS, SecondBucket, bucket_index

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def _kql_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def requests_query(table: str, host: str, start: float, end: float, step: float) -> str:
    """The KQL of one look (the latency bins are the judge's histogram bounds)."""
    pairs = ", ".join(f"DurationMs <= {b:g}, {b:g}" for b in LATENCY_BOUNDS_MS[:-1])
    return (
        f"{table}"
        f" | where TimeGenerated >= datetime({_kql_time(start)})"
        f" and TimeGenerated < datetime({_kql_time(end)})"
        f' | where parse_url(Url).Host =~ "{host}"'
        " | summarize requests = sum(ItemCount),"
        " failed = sumif(ItemCount, Success == false),"
        " server_errors = sumif(ItemCount, toint(ResultCode) >= 500)"
        f" by bucket = bin(TimeGenerated, {step:g}s), le = case({pairs}, real(+inf))"
    )


class AppInsightsProvider:
    """Per-slot request buckets from Application Insights."""

    name = "appinsights"

    def __init__(
        self,
        settings: AppInsightsConfig,
        credential: TokenCredential,
        host_of: Callable[[str], str],
        *,
        config_file: str = "turnout.toml",
    ) -> None:
        from azure.monitor.query import LogsQueryClient

        self.settings = settings
        self.step = settings.step
        self.settle = settings.ingestion_delay
        self.workspace = resolve_value(
            settings.workspace_id, file=config_file, key="analysis.appinsights.workspace_id"
        )
        self._host_of = host_of
        self._hosts: dict[str, str] = {}
        self._last: dict[str, tuple[tuple[float, float], list[SecondBucket]]] = {}
        """Per slot: the window last asked for and its answer."""
        self._client = LogsQueryClient(credential, endpoint=settings.endpoint)

    def close(self) -> None:
        self._client.close()

    def settled_until(self, now: float) -> float:
        """Bins that end before this time are fully ingested and may be judged."""
        return now - self.settings.ingestion_delay

    def _host(self, slot: str) -> str:
        # Slot host names do not change; read each once from the target.
        if slot not in self._hosts:
            self._hosts[slot] = self._host_of(slot)
        return self._hosts[slot]

    def buckets(self, slot: str, since: float, until: float | None = None) -> list[SecondBucket]:
        from azure.core.exceptions import HttpResponseError
        from azure.monitor.query import LogsQueryStatus

        step = self.step
        now = time.time()
        limit = self.settled_until(now) if until is None else min(until, self.settled_until(now))
        first = math.ceil(since / step) * step
        end = math.floor(limit / step) * step  # exclusive: only bins that have settled
        if end <= first:
            return []
        cached = self._last.get(slot)
        if cached is not None and cached[0] == (first, end):
            # Bins settle once per step: asking again before then cannot find anything new.
            return list(cached[1])
        query = requests_query(self.settings.table, self._host(slot), first, end, step)
        window = (datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(end, UTC))
        where = f"Log Analytics workspace {self.workspace}"
        try:
            result = self._client.query_workspace(
                self.workspace, query, timespan=window, server_timeout=int(self.settings.timeout)
            )
        except HttpResponseError as exc:
            raise IntegrationError(f"{where}: {exc.message}") from exc
        if result.status != LogsQueryStatus.SUCCESS:
            # Partial data could hide errors: nothing of it is judged.
            error = getattr(result, "partial_error", None)
            raise IntegrationError(f"{where}: partial result ({error})")
        tables = getattr(result, "tables", [])
        found = _to_buckets(tables[0].rows if tables else [], first, end)
        self._last[slot] = ((first, end), found)
        return list(found)


def _to_buckets(rows: list[Any], first: float, end: float) -> list[SecondBucket]:
    found: dict[int, SecondBucket] = {}
    for row in rows:
        stamp, le, requests, failed, server_errors = (row[i] for i in range(5))
        at = stamp.timestamp() if isinstance(stamp, datetime) else _parse(str(stamp))
        if not first <= at < end:
            continue
        bucket = found.setdefault(int(at), SecondBucket(second=int(at)))
        count = int(requests or 0)
        errors = min(int(server_errors or 0), count)
        other_failures = max(min(int(failed or 0), count) - errors, 0)
        bucket.count += count
        for key, value in (
            ("5xx", errors),
            ("4xx", other_failures),
            ("ok", count - errors - other_failures),
        ):
            if value:
                bucket.status[key] = bucket.status.get(key, 0) + value
        bound = _bound(le)
        index = len(LATENCY_BOUNDS_MS) - 1 if math.isinf(bound) else bucket_index(bound)
        bucket.latency[index] += count
    return [found[k] for k in sorted(found)]


def _bound(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    return math.inf if text in {"infinity", "inf", "+inf"} else float(text)


def _parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
