"""The dashboard's web application: pages, their live stream, sign-in and actions.

Every page is rendered on the server from the typed views; its live parts ("regions") are
rendered again on each change and sent whole over server-sent events, which the page's
small script puts in place. Actions call the same API functions as the command line, as
the signed-in person.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from turnout import api
from turnout.config import LoadedConfig
from turnout.dashboard import chart
from turnout.dashboard.auth import COOKIE, Session, Sessions, csrf_matches, same_origin
from turnout.dashboard.evidence import evidence
from turnout.dashboard.feed import Feed
from turnout.dashboard.resuming import start_resume
from turnout.dashboard.views import (
    EnvironmentView,
    deployment_view,
    environment_view,
    history_lines,
    now,
)
from turnout.errors import BadInput, TurnoutError
from turnout.model import DeploymentStatus
from turnout.store import Store

HERE = Path(__file__).parent
STATUS_FOR_EXIT = {2: 400, 3: 409, 4: 409, 5: 409}
"""HTTP status of an action the API refused, by the exit code the CLI would end with."""


@dataclass(frozen=True)
class Settings:
    """How the page was started."""

    actions: bool = False
    """Whether actions are switched on (read-only otherwise)."""
    sign_in_to_view: bool = False
    """Whether viewing needs a signed-in person too (any address but loopback)."""
    origins: tuple[str, ...] = ()
    """Origins besides the page's own host that may send actions (a proxy's public URL)."""
    secure_cookie: bool = False
    keepalive: float = 15.0
    """Seconds between keep-alive comments on an idle stream (proxies close silent ones)."""
    retry_ms: int = 1000
    """How soon a browser reconnects after losing the stream."""
    interval: float = 0.2
    slot_interval: float = 2.0


@dataclass
class Dashboard:
    """The running page's state: configuration, store, feed, sessions and templates."""

    config: LoadedConfig
    store: Store
    settings: Settings
    sessions: Sessions
    feed: Feed
    templates: Environment
    rendered: dict[tuple[str, int, str], dict[str, str]] = field(default_factory=dict)
    rendering: dict[tuple[str, int, str], asyncio.Future[dict[str, str]]] = field(
        default_factory=dict
    )

    def render(self, template: str, /, **context: Any) -> str:
        """A template with what every page knows."""
        return self.templates.get_template(template).render(
            now=now(),
            environments=list(self.config.root.environments),
            actions=self.settings.actions,
            **context,
        )

    def environment(self, name: str) -> EnvironmentView:
        """An environment's view with what the feed last saw of its target."""
        seen = self.feed.slots.get(name)
        if seen is None:
            return environment_view(self.config, self.store, name, None, "not asked yet")
        return environment_view(
            self.config,
            self.store,
            name,
            seen.slots,
            seen.error,
            seen.traffic,
            seen.traffic_note,
        )

    # -- regions ------------------------------------------------------------------------
    def regions(self, page: str, session: Session | None) -> dict[str, str]:
        """The live parts of a page, rendered now (blocking: reads the store)."""
        kind, _, rest = page.partition(":")
        context: dict[str, Any] = {"session": session}
        if kind == "env":
            view = self.environment(rest)
            return {"live": self.render("regions/environment.html", env=view, **context)}
        if kind == "deployment":
            row = self.store.deployment(int(rest))
            if row is None:
                return {"live": "<p>no such deployment</p>"}
            shown = deployment_view(self.config, self.store, row)
            proof = evidence(self.config, row, self.store.steps(row.id))
            return {
                "live": self.render(
                    "regions/deployment.html",
                    d=shown,
                    evidence=proof,
                    chart=chart.draw(proof),
                    signed=_signed_command(row.id),
                    **context,
                )
            }
        if kind == "history":
            env, _, status = rest.partition(":")
            lines = history_lines(self.store, env or None, status or None)
            return {"live": self.render("regions/history.html", lines=lines, **context)}
        views = [self.environment(name) for name in self.config.root.environments]
        return {"live": self.render("regions/overview.html", envs=views, **context)}

    async def shared_regions(
        self, page: str, generation: int, session: Session | None
    ) -> dict[str, str]:
        """The regions of a page at a generation, rendered once for all its anonymous
        viewers (a signed-in person's carry their own forms, so they are rendered apart)."""
        key = (page, generation, "" if session is None else session.csrf)
        found = self.rendered.get(key)
        if found is not None:
            return found
        pending = self.rendering.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = asyncio.get_running_loop().create_future()
        self.rendering[key] = pending
        try:
            result = await run_in_threadpool(self.regions, page, session)
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            del self.rendering[key]
        pending.set_result(result)
        # Only the newest generations are asked for again.
        self.rendered = {k: v for k, v in self.rendered.items() if k[1] >= generation - 1}
        self.rendered[key] = result
        return result


def _signed_command(deployment: int) -> str:
    return f"turnout approve {deployment} --as NAME"


def _session(board: Dashboard, request: Request) -> Session | None:
    return board.sessions.find(request.cookies.get(COOKIE))


def known_page(config: LoadedConfig, key: str) -> bool:
    """Whether a stream's page key names a page there is."""
    kind, _, rest = key.partition(":")
    if kind == "overview":
        return not rest
    if kind == "env":
        return rest in config.root.environments
    if kind == "deployment":
        return rest.isdigit()
    if kind == "history":
        env, _, status = rest.partition(":")
        return (not env or env in config.root.environments) and (
            not status or status in {s.value for s in DeploymentStatus}
        )
    return False


def build_app(
    config: LoadedConfig, store: Store, sessions: Sessions, settings: Settings
) -> Starlette:
    """The ASGI application."""
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters["seconds"] = _seconds
    templates.filters["stamp"] = _stamp
    feed = Feed(config, store, interval=settings.interval, slot_interval=settings.slot_interval)
    board = Dashboard(config, store, settings, sessions, feed, templates)

    def guard_view(request: Request) -> Response | None:
        if settings.sign_in_to_view and _session(board, request) is None:
            return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)
        return None

    async def page(request: Request, template: str, key: str, **context: Any) -> Response:
        refused = guard_view(request)
        if refused is not None:
            return refused
        session = _session(board, request)
        generation = feed.generation
        regions = await run_in_threadpool(board.regions, key, session)
        body = board.render(
            template,
            regions=regions,
            stream=f"/events?page={quote(key)}",
            event_id=f"{feed.boot}-{generation}",
            session=session,
            said=request.query_params.get("said"),
            **context,
        )
        return HTMLResponse(body)

    async def overview(request: Request) -> Response:
        return await page(request, "overview.html", "overview", title="environments")

    async def environment_page(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in config.root.environments:
            return PlainTextResponse(f"no environment {name!r}", status_code=404)
        return await page(request, "environment.html", f"env:{name}", title=name, name=name)

    async def deployment_page(request: Request) -> Response:
        number = request.path_params["number"]
        if await run_in_threadpool(store.deployment, number) is None:
            return PlainTextResponse(f"no deployment {number}", status_code=404)
        return await page(
            request,
            "deployment.html",
            f"deployment:{number}",
            title=f"deployment {number}",
            number=number,
        )

    async def history_page(request: Request) -> Response:
        env = request.query_params.get("env", "")
        status = request.query_params.get("status", "")
        if env and env not in config.root.environments:
            return PlainTextResponse(f"no environment {env!r}", status_code=404)
        if status and status not in {s.value for s in DeploymentStatus}:
            return PlainTextResponse(f"no status {status!r}", status_code=404)
        return await page(
            request,
            "history.html",
            f"history:{env}:{status}",
            title="history",
            env=env,
            status=status,
            statuses=[s.value for s in DeploymentStatus],
        )

    async def events(request: Request) -> Response:
        refused = guard_view(request)
        if refused is not None:
            return PlainTextResponse("sign in first", status_code=401)
        key = request.query_params.get("page", "overview")
        if not known_page(config, key):
            return PlainTextResponse(f"no page {key!r}", status_code=404)
        viewer = _session(board, request)
        last = request.headers.get("last-event-id") or request.query_params.get("last", "")

        async def stream() -> AsyncIterator[str]:
            yield f"retry: {settings.retry_ms}\n\n"
            seen = feed.generation if last == feed.event_id else -1
            while True:
                if seen != feed.generation:
                    generation = feed.generation
                    regions = await board.shared_regions(key, generation, viewer)
                    data = json.dumps(regions)
                    yield f"id: {feed.boot}-{generation}\nevent: snapshot\ndata: {data}\n\n"
                    seen = generation
                elif not await feed.wait(seen, settings.keepalive):
                    yield ": keep-alive\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def signin_form(request: Request) -> Response:
        return HTMLResponse(
            board.render(
                "signin.html",
                title="sign in",
                session=_session(board, request),
                next=request.query_params.get("next", "/"),
                problem=None,
                configured=sessions.configured,
            )
        )

    async def signin(request: Request) -> Response:
        if not same_origin(
            request.headers.get("origin"), request.headers.get("host"), settings.origins
        ):
            return PlainTextResponse(
                "refused: the request did not come from this page", status_code=403
            )
        form = await request.form()
        found = sessions.sign_in(str(form.get("token", "")))
        target = str(form.get("next") or "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if found is None:
            body = board.render(
                "signin.html",
                title="sign in",
                session=None,
                next=target,
                problem="that token is nobody's: check it, or ask for one",
                configured=sessions.configured,
            )
            return HTMLResponse(body, status_code=401)
        key, _session_made = found
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, key, httponly=True, samesite="strict", secure=settings.secure_cookie
        )
        return response

    async def signout(request: Request) -> Response:
        if not same_origin(
            request.headers.get("origin"), request.headers.get("host"), settings.origins
        ):
            return PlainTextResponse(
                "refused: the request did not come from this page", status_code=403
            )
        sessions.sign_out(request.cookies.get(COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    async def act(
        request: Request, back: str, run: Callable[[str, Mapping[str, str]], str]
    ) -> Response:
        if not settings.actions:
            return PlainTextResponse(
                "refused: this dashboard is read-only (start it with --actions)", status_code=403
            )
        if not same_origin(
            request.headers.get("origin"), request.headers.get("host"), settings.origins
        ):
            return PlainTextResponse(
                "refused: the request did not come from this page (its Origin is another site's)",
                status_code=403,
            )
        session = _session(board, request)
        if session is None:
            return PlainTextResponse("refused: sign in first", status_code=401)
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        if not csrf_matches(session, fields.get("csrf")):
            return PlainTextResponse(
                "refused: the form's CSRF token is missing or not this session's", status_code=403
            )
        try:
            said = await run_in_threadpool(run, session.person, fields)
        except TurnoutError as exc:
            return PlainTextResponse(
                f"refused: {exc.message}", status_code=STATUS_FOR_EXIT.get(exc.exit_code, 500)
            )
        feed.bump()
        return RedirectResponse(f"{back}?said={quote(said)}", status_code=303)

    async def approve(request: Request) -> Response:
        number = int(request.path_params["number"])

        def run(person: str, fields: Mapping[str, str]) -> str:
            done = api.approve(
                number, comment=fields.get("comment") or None, actor=person, config=config
            )
            return f"{done.approver} approved deployment {number} as {done.role}"

        return await act(request, f"/deployments/{number}", run)

    async def accept(request: Request) -> Response:
        name = request.path_params["name"]

        def run(person: str, fields: Mapping[str, str]) -> str:
            reason = fields.get("reason", "").strip()
            if not reason:
                raise BadInput("accepting a held release needs a reason")
            return api.accept(name, reason=reason, actor=person, config=config).summary

        return await act(request, f"/env/{name}", run)

    async def rollback(request: Request) -> Response:
        name = request.path_params["name"]

        def run(person: str, fields: Mapping[str, str]) -> str:
            reason = fields.get("reason", "").strip() or "manual (dashboard)"
            return api.rollback(name, reason=reason, actor=person, config=config).summary

        return await act(request, f"/env/{name}", run)

    async def resume(request: Request) -> Response:
        name = request.path_params["name"]

        def run(person: str, _fields: Mapping[str, str]) -> str:
            log = start_resume(config, name, person)
            return f"{person} resumed {name}: `turnout resume` runs (its output: {log})"

        return await act(request, f"/env/{name}", run)

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await feed.look()
        await feed.refresh_slots()
        # The first rendering imports what the views use: done before anyone waits for it.
        await run_in_threadpool(board.regions, "overview", None)
        watcher = asyncio.create_task(feed.run())
        try:
            yield
        finally:
            watcher.cancel()

    app = Starlette(
        routes=[
            Route("/", overview),
            Route("/env/{name}", environment_page),
            Route("/deployments/{number:int}", deployment_page),
            Route("/history", history_page),
            Route("/events", events),
            Route("/signin", signin_form, methods=["GET"]),
            Route("/signin", signin, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]),
            Route("/deployments/{number:int}/approve", approve, methods=["POST"]),
            Route("/env/{name}/accept", accept, methods=["POST"]),
            Route("/env/{name}/rollback", rollback, methods=["POST"]),
            Route("/env/{name}/resume", resume, methods=["POST"]),
            Route("/healthz", health),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.board = board
    return app


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {int(value % 60)} s"


def _stamp(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"
