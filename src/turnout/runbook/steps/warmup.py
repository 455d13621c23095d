"""Phase 3.2: warm the staging slot with requests to its own URL until it is healthy."""

from __future__ import annotations

import httpx

from turnout.errors import StepError
from turnout.runbook.http_checks import fill_version
from turnout.runbook.outputs import WarmupOutputs
from turnout.runbook.step import Step, StepContext
from turnout.runbook.steps.stage import staging_slot


def slot_url(ctx: StepContext, slot: str) -> str:
    """A slot's own URL, or a step error when the slot is not serving."""
    state = ctx.target.slots().get(slot)
    if state is None or state.url is None:
        raise StepError(f"slot {slot} has no URL (state: {state.state if state else 'missing'})")
    return state.url


class WarmupStep(Step):
    """Send the configured number of successful requests, within a time limit."""

    name = "warmup"
    phase = "application"

    def run(self, ctx: StepContext) -> WarmupOutputs:
        settings = ctx.env.checks.warmup
        path = fill_version(settings.path, ctx.deployment.version)
        url = slot_url(ctx, staging_slot(ctx)) + path
        deadline = ctx.clock.monotonic() + settings.timeout
        ok = sent = 0
        last = ""
        with ctx.http_client(timeout=min(settings.timeout, 10.0)) as client:
            while ok < settings.requests:
                sent += 1
                try:
                    response = client.get(url)
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                else:
                    code = response.status_code
                    last = f"status {code}"
                    if 400 <= code < 500 and code not in settings.accept_status:
                        # A wrong path or a refused request does not heal by waiting.
                        raise StepError(
                            f"warm-up of {url}: status {code} (a client error); fix"
                            " checks.warmup.path, or list the status in"
                            " checks.warmup.accept_status if the app answers it when healthy",
                            details={"url": url, "status": code, "requests": sent},
                        )
                    if code < 400 or code in settings.accept_status:
                        ok += 1
                if ok >= settings.requests:
                    break
                if ctx.clock.monotonic() >= deadline:
                    raise StepError(
                        f"warm-up of {url}: only {ok} of {settings.requests} requests succeeded"
                        f" in {settings.timeout:g} s (last: {last})"
                    )
                ctx.clock.sleep(settings.interval)
        ctx.progress(f"warm-up: {ok} requests answered")
        return WarmupOutputs(
            url=url, requests=sent, ok=ok, summary=f"{ok}/{sent} warm-up requests answered"
        )
