"""A traffic share on the azure target: App Service routing rules on production's site
configuration, set and read with the official SDK against the fake Azure, which stores them
and routes production's clients by them."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from tests.fakes.azure_server import AzureServer
from tests.fakes.azure_world import running_azure, write_azure_config
from tests.support.local_fixtures import make_package
from turnout.errors import StepError
from turnout.model import Release
from turnout.targets.azure.target import AzureTarget
from turnout.targets.protocol import (
    NO_SHARE,
    PRODUCTION,
    SharesTraffic,
    Stickiness,
    TrafficShare,
    can_share_traffic,
    deploy_and_wait,
)
from turnout.targets.registry import create_target


def test_routing_rules_carry_the_share_and_pin_each_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A share becomes a rule named after the slot, to its host, at the share's percent; other
    rules are kept; clients are routed by it and pinned by x-ms-routing-name; 0 removes it."""
    with running_azure(tmp_path / "azure") as world:
        for key, value in world.apply().items():
            monkeypatch.setenv(key, value)
        config = write_azure_config(world, tmp_path / "project")
        target = create_target(config, config.env("production"))
        server = world.server
        try:
            assert can_share_traffic(target) and isinstance(target, SharesTraffic)
            assert isinstance(target, AzureTarget)
            target.ensure_slot("blue")
            server.add_slot("green")
            packages = tmp_path / "packages"
            deploy_and_wait(target, PRODUCTION, Release("1.0.0", make_package(packages, "1.0.0")))
            deploy_and_wait(target, "blue", Release("2.0.0", make_package(packages, "2.0.0")))
            assert target.current_share() == TrafficShare(
                None, 0.0, Stickiness.COOKIE, "x-ms-routing-name"
            )
            # Someone else's rule (another slot's experiment) must survive ours.
            other: dict[str, str | float] = {
                "name": "green",
                "actionHostName": server.host_name("green"),
                "reroutePercentage": 0.0,
            }
            with pytest.raises(StepError, match="production cannot take a share"):
                target.route_share(TrafficShare(PRODUCTION, 5.0))
            _put_rules(target, [other])

            share = target.route_share(TrafficShare("blue", 40.0, Stickiness.COOKIE, "ignored"))
            assert (share.slot, share.percent, share.name) == ("blue", 40.0, "x-ms-routing-name")
            assert target.current_share() == share
            rules = {r["name"]: r for r in server.routing_rules()}
            assert rules["green"] == other
            assert rules["blue"] == {
                "name": "blue",
                "actionHostName": server.host_name("blue"),
                "reroutePercentage": 40.0,
            }

            seen = _versions_by_cookie(world.env["SSL_CERT_FILE"], server, requests=60)
            assert set(seen) == {"blue", "self"}, seen
            assert seen["blue"] == {"2.0.0"} and seen["self"] == {"1.0.0"}

            assert target.route_share(NO_SHARE) == TrafficShare(
                None, 0.0, Stickiness.COOKIE, "x-ms-routing-name"
            )
            assert [r["name"] for r in server.routing_rules()] == ["green"]
        finally:
            target.close()


def _put_rules(target: AzureTarget, rules: list[dict[str, str | float]]) -> None:
    """Set routing rules as another tool would: the SDK's own PATCH of config/web."""
    from azure.mgmt.web.models import Experiments, RampUpRule, SiteConfig, SiteConfigResource

    session = target.session
    settings = session.settings
    session.web.web_apps.update_configuration(
        settings.resource_group,
        settings.app,
        SiteConfigResource(
            properties=SiteConfig(
                experiments=Experiments(
                    ramp_up_rules=[
                        RampUpRule(
                            name=str(r["name"]),
                            action_host_name=str(r["actionHostName"]),
                            reroute_percentage=float(r["reroutePercentage"]),
                        )
                        for r in rules
                    ]
                )
            )
        ),
    )


def _versions_by_cookie(ca_file: str, server: AzureServer, requests: int) -> dict[str, set[str]]:
    """New clients to production's host: the versions each routing cookie value got, and
    that a client sending its cookie back keeps its slot."""
    context = ssl.create_default_context(cafile=ca_file)
    proxy, host = server.proxy_url, server.host_name(PRODUCTION)
    seen: dict[str, set[str]] = {}
    with httpx.Client(proxy=proxy, verify=context, timeout=10) as client:
        for _ in range(requests):
            client.cookies.clear()
            answer = client.get(f"https://{host}/health")
            pinned = answer.cookies["x-ms-routing-name"]
            seen.setdefault(pinned, set()).add(answer.json()["version"])
        for pinned, versions in list(seen.items()):
            client.cookies.clear()
            client.cookies.set("x-ms-routing-name", pinned, domain=host)
            for _ in range(5):
                versions.add(client.get(f"https://{host}/health").json()["version"])
    return seen
