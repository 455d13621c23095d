"""Traffic from App Service platform metrics (Azure Monitor), per slot resource.

`Requests` (Total), `Http5xx` (Total) and `HttpResponseTime` (Average, seconds) at
one-minute grain, through azure-mgmt-monitor's `metrics.list` on the slot's resource
(`sites/{app}` for production, `sites/{app}/slots/{slot}` for the others).

The platform gives no latency distribution: every request of a minute is put at the
minute's average response time, so p95 is under-estimated on skewed traffic (use
Application Insights for p95). A minute is handed out only when `ingestion_delay`
seconds have passed since its end *and* Azure returned a value for it; a minute
without a value stops the series there (not yet ingested is never zero errors).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from turnout.config.azure import AzureMonitorConfig
from turnout.errors import IntegrationError
from turnout.traffic import SecondBucket, bucket_index

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

METRICS = "Requests,Http5xx,HttpResponseTime"
STEP = 60.0


class AzureMonitorProvider:
    """Per-slot request buckets from App Service metrics."""

    name = "azure-monitor"
    step = STEP

    def __init__(
        self,
        settings: AzureMonitorConfig,
        credential: TokenCredential,
        subscription: str,
        resource_of: Callable[[str], str],
        client_options: dict[str, Any],
    ) -> None:
        from azure.mgmt.monitor import MonitorManagementClient

        self.settings = settings
        self.settle = settings.ingestion_delay
        self._resource_of = resource_of
        self._last: dict[str, tuple[tuple[float, float], list[SecondBucket]]] = {}
        """Per slot: the window last asked for and its answer."""
        options = {k: v for k, v in client_options.items() if k != "polling_interval"}
        self._client = MonitorManagementClient(credential, subscription, **options)

    def close(self) -> None:
        self._client.close()

    def settled_until(self, now: float) -> float:
        """Minutes that end before this time are taken as final."""
        return now - self.settings.ingestion_delay

    def buckets(self, slot: str, since: float, until: float | None = None) -> list[SecondBucket]:
        from azure.core.exceptions import HttpResponseError

        now = time.time()
        limit = self.settled_until(now) if until is None else min(until, self.settled_until(now))
        first = math.ceil(since / STEP) * STEP
        end = math.floor(limit / STEP) * STEP
        if end <= first:
            return []
        cached = self._last.get(slot)
        if cached is not None and cached[0] == (first, end):
            # A complete answer stays complete until the next minute ends.
            return list(cached[1])
        resource = self._resource_of(slot)
        span = f"{_iso(first)}/{_iso(end)}"
        try:
            response = self._client.metrics.list(
                resource,
                timespan=span,
                interval="PT1M",
                metricnames=METRICS,
                aggregation="Total,Average",
            )
        except HttpResponseError as exc:
            raise IntegrationError(f"Azure Monitor metrics of {resource}: {exc.message}") from exc
        series: dict[str, dict[int, float | None]] = {}
        for metric in response.value or []:
            points: dict[int, float | None] = {}
            for timeseries in metric.timeseries or []:
                for point in timeseries.data or []:
                    value = (
                        point.average if metric.name.value == "HttpResponseTime" else point.total
                    )
                    points[int(point.time_stamp.timestamp())] = value
            series[str(metric.name.value)] = points
        found = _to_buckets(series, first, end)
        if found and found[-1].second + STEP >= end:
            # Every minute of the window had its values: nothing more can come for it.
            self._last[slot] = ((first, end), found)
        return list(found)


def _to_buckets(
    series: dict[str, dict[int, float | None]], first: float, end: float
) -> list[SecondBucket]:
    requests, errors = series.get("Requests", {}), series.get("Http5xx", {})
    latency = series.get("HttpResponseTime", {})
    out: list[SecondBucket] = []
    minute = int(first)
    while minute < end:
        count, failed = requests.get(minute), errors.get(minute)
        if count is None or failed is None:
            break  # not ingested yet: stop here rather than read it as zero
        bucket = SecondBucket(second=minute, count=round(count))
        bad = min(round(failed), bucket.count)
        if bucket.count - bad:
            bucket.status["ok"] = bucket.count - bad
        if bad:
            bucket.status["5xx"] = bad
        average = latency.get(minute)
        if bucket.count:
            if average is None:
                break
            bucket.latency[bucket_index(average * 1000.0)] += bucket.count
        out.append(bucket)
        minute += int(STEP)
    return out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
