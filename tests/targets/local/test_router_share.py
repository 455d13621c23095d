"""A traffic share on the slot host's router: weighted per new client, sticky by cookie or
header, cleared by a swap, over real slot processes and real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.local_fixtures import Host, running_host
from tests.support.waiting import wait_until
from turnout.errors import StepError
from turnout.model import Release
from turnout.targets.protocol import (
    NO_SHARE,
    PRODUCTION,
    Stickiness,
    TrafficShare,
    can_share_traffic,
)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """A host with 1.0.0 in production and 2.0.0 warm in blue (shared by these tests)."""
    folder: Path = tmp_path_factory.mktemp("share")
    for host in running_host(folder):
        target = host.target
        target.ensure_slot("blue")
        target.deploy(PRODUCTION, Release("1.0.0", host.package("1.0.0")))
        target.deploy("blue", Release("2.0.0", host.package("2.0.0")))
        yield host


def _version(response: httpx.Response) -> str:
    return response.headers["x-slot-version"]


def test_cookie_share_sends_about_the_share_of_new_clients_and_keeps_each(
    two_versions: Host,
) -> None:
    """At 30 % about 30 % of new clients get the new version, each with a cookie naming its
    slot; a client that sends its cookie back stays on that slot."""
    target = two_versions.target
    assert can_share_traffic(target)
    share = target.route_share(TrafficShare("blue", 30.0, Stickiness.COOKIE, "turnout-slot"))
    assert share.active and target.current_share() == share
    url = target.production_url() + "/health"
    given: dict[str, str] = {}
    try:
        counts = {"2.0.0": 0, "1.0.0": 0}
        with httpx.Client() as fresh:
            for _ in range(400):
                fresh.cookies.clear()  # a new client each time: no cookie yet
                response = fresh.get(url)
                given[response.cookies["turnout-slot"]] = _version(response)
                counts[_version(response)] += 1
        assert 60 <= counts["2.0.0"] <= 180, counts  # 30 % of 400 is 120
        assert given == {"blue": "2.0.0", PRODUCTION: "1.0.0"}
        for slot, version in given.items():
            with httpx.Client(cookies={"turnout-slot": slot}) as client:
                assert {_version(client.get(url)) for _ in range(30)} == {version}
    finally:
        target.route_share(NO_SHARE)
    with httpx.Client(cookies={"turnout-slot": "blue"}) as client:
        assert {_version(client.get(url)) for _ in range(20)} == {"1.0.0"}


def test_header_share_keeps_each_client_value_on_one_slot(two_versions: Host) -> None:
    """With header stickiness a client value always lands on the same slot, and the share of
    many values is close to the percent; no cookie is set."""
    target = two_versions.target
    target.route_share(TrafficShare("blue", 20.0, Stickiness.HEADER, "X-Client-Id"))
    url = target.production_url() + "/health"
    try:
        with httpx.Client() as client:
            seen = {}
            for user in range(300):
                response = client.get(url, headers={"X-Client-Id": f"user-{user}"})
                assert "set-cookie" not in response.headers
                seen[user] = _version(response)
            canary = sum(1 for v in seen.values() if v == "2.0.0")
            assert 30 <= canary <= 95, canary  # 20 % of 300 is 60
            for user in list(seen)[:40]:
                again = client.get(url, headers={"X-Client-Id": f"user-{user}"})
                assert _version(again) == seen[user]
        # Only finished seconds are handed out: wait for the one still being counted to end.
        wait_until(
            lambda: (
                sum(b.count for b in target.traffic("blue", 0, None, version="2.0.0")) >= canary
            ),
            timeout=10,
            what="the canary's requests counted under its slot",
        )
    finally:
        target.route_share(NO_SHARE)


def test_a_swap_clears_the_share_and_a_stopped_slot_is_refused(two_versions: Host) -> None:
    """The share ends when the slots are exchanged; production or a missing slot get none."""
    target = two_versions.target
    target.route_share(TrafficShare("blue", 10.0, Stickiness.COOKIE, "turnout-slot"))
    target.swap("blue")
    try:
        assert target.current_share() == NO_SHARE
    finally:
        target.swap("blue")
    with pytest.raises(StepError, match="cannot take a share"):
        target.route_share(TrafficShare(PRODUCTION, 10.0, Stickiness.COOKIE, "turnout-slot"))
    with pytest.raises(StepError, match="cannot take a share"):
        target.route_share(TrafficShare("green", 10.0, Stickiness.COOKIE, "turnout-slot"))
