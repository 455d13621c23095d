"""Announcements: the console always, plus any number of Apprise URLs.

A notification never fails or blocks a deployment: each URL gets a few attempts with
exponential backoff, every failure is logged (without the URL, which holds a token),
and the whole send is bounded by `notify.timeout` seconds of real time — a URL that is
still hanging when the time is up is abandoned in a background thread.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import apprise

from turnout.clock import Clock, SystemClock
from turnout.errors import ConfigError
from turnout.integrations.messages import Message, MessageKind, render

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.integrations import NotifyConfig
    from turnout.config.secrets import SecretRef

log = logging.getLogger("turnout.notify")

_muted = threading.local()


class _MuteWhileDelivering(logging.Filter):
    """Drops records logged by Apprise or urllib3 while this thread is delivering.

    Both log full webhook URLs (tokens included) at debug and warning levels; turnout
    reports each delivery itself, with the URL's reference instead of its value.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_muted, "active", False)


for _name in ("apprise", "urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_MuteWhileDelivering())


@contextmanager
def _quiet() -> Iterator[None]:
    _muted.active = True
    try:
        yield
    finally:
        _muted.active = False


_SEVERITY = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "failure": apprise.NotifyType.FAILURE,
}


class DeliveryFailed(Exception):
    """One attempt to deliver a message failed; `permanent` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Delivery:
    """What happened to one message on one channel (JSON-ready, no secrets)."""

    channel: str
    ok: bool
    attempts: int
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "channel": self.channel,
            "ok": self.ok,
            "attempts": self.attempts,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


class Channel(Protocol):
    """Somewhere a message can be delivered."""

    label: str
    """How the channel is named in logs and outputs (never the secret URL)."""

    def deliver(self, message: Message, timeout: float) -> None:
        """Deliver once, or raise DeliveryFailed."""
        ...


class ConsoleChannel:
    """The console: the message's plain text to a sink (a step's progress line, stderr)."""

    label = "console"

    def __init__(self, sink: Callable[[str], None] | None = None) -> None:
        self._sink = sink or _stderr

    def deliver(self, message: Message, timeout: float) -> None:
        self._sink(message.text())


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")


class AppriseChannel:
    """One Apprise URL (Slack, Teams workflows, mail, JSON webhook...) behind a secret."""

    def __init__(self, ref: SecretRef, *, key: str, file: str) -> None:
        self._ref = ref
        self._key = key
        self._file = file
        self.label = f"{ref.ref} ({key})"

    def url(self) -> str:
        """The resolved URL (secret: never log or return it)."""
        return self._ref.resolve(file=self._file, key=self._key)

    def service(self, timeout: float) -> Any:
        """The Apprise plugin for the URL, with socket timeouts bounded by `timeout`."""
        try:
            url = self.url()
        except ConfigError as exc:
            raise DeliveryFailed(exc.problem, permanent=True) from None
        with _quiet():
            plugin = apprise.Apprise.instantiate(url)
        if not plugin:
            scheme = urlsplit(url).scheme or "?"
            raise DeliveryFailed(f"not a valid Apprise URL (scheme {scheme}://)", permanent=True)
        plugin.socket_connect_timeout = timeout
        plugin.socket_read_timeout = timeout
        return plugin

    def deliver(self, message: Message, timeout: float) -> None:
        plugin = self.service(timeout)
        try:
            with _quiet():
                ok = plugin.notify(
                    body=message.body,
                    title=message.title,
                    notify_type=_SEVERITY.get(message.severity, apprise.NotifyType.INFO),
                    body_format=apprise.NotifyFormat.MARKDOWN,
                )
        except Exception as exc:
            raise DeliveryFailed(f"{type(exc).__name__} in the Apprise plugin") from None
        if not ok:
            raise DeliveryFailed("the service did not accept the message")


class Notifier:
    """Sends announcements to every channel, bounded in time, never raising."""

    def __init__(
        self,
        channels: list[Channel],
        *,
        retries: int = 2,
        backoff: float = 1.0,
        timeout: float = 15.0,
        clock: Clock | None = None,
        hashtags: str | None = None,
    ) -> None:
        self.channels = channels
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self.hashtags = hashtags

    def send(self, kind: MessageKind | str, context: Mapping[str, Any]) -> list[Delivery]:
        """Render the announcement and deliver it everywhere; one Delivery per channel."""
        if self.hashtags is not None and "hashtags" not in context:
            context = {**context, "hashtags": self.hashtags}
        return self.deliver(render(kind, context))

    def deliver(self, message: Message) -> list[Delivery]:
        """Deliver an already rendered message to every channel concurrently."""
        deadline = time.monotonic() + self.timeout
        results: dict[int, Delivery] = {}
        threads: list[threading.Thread] = []
        for index, channel in enumerate(self.channels):
            if isinstance(channel, ConsoleChannel):
                # In the caller's thread: the progress display is the caller's to drive.
                results[index] = self._with_retries(channel, message, deadline)
                continue

            def work(i: int = index, ch: Channel = channel) -> None:
                results[i] = self._with_retries(ch, message, deadline)

            thread = threading.Thread(target=work, name=f"turnout-notify-{index}", daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        deliveries: list[Delivery] = []
        for index, channel in enumerate(self.channels):
            found = results.get(index)
            if found is None:
                found = Delivery(
                    channel.label, False, 0, f"gave up after {self.timeout:g} s", self.timeout
                )
                log.warning("notification to %s: %s", channel.label, found.error)
            deliveries.append(found)
        return deliveries

    def _with_retries(self, channel: Channel, message: Message, deadline: float) -> Delivery:
        started = time.monotonic()
        attempts = 0
        error = "no attempt made"
        per_attempt = max(self.timeout / (self.retries + 1), 1.0)
        while attempts <= self.retries:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                error = f"{error}; gave up after {self.timeout:g} s"
                break
            attempts += 1
            try:
                channel.deliver(message, min(per_attempt, remaining))
            except DeliveryFailed as exc:
                error = exc.reason
                log.warning(
                    "notification to %s failed (attempt %d of %d): %s",
                    channel.label,
                    attempts,
                    self.retries + 1,
                    exc.reason,
                )
                if exc.permanent:
                    break
                if attempts <= self.retries:
                    delay = self.backoff * 2 ** (attempts - 1)
                    self.clock.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
                continue
            except Exception as exc:
                error = f"{type(exc).__name__}"
                log.warning("notification to %s failed: %s", channel.label, error)
                break
            return Delivery(channel.label, True, attempts, None, time.monotonic() - started)
        return Delivery(channel.label, False, attempts, error, time.monotonic() - started)


class ChannelFactory(Protocol):
    """What a notification channel plugin's `factory` names."""

    def __call__(self, config: LoadedConfig, env: EnvironmentConfig) -> Sequence[Channel]: ...


def configured_channels(config: LoadedConfig, env: EnvironmentConfig) -> list[Channel]:
    """The environment's channels of every installed kind (`turnout.notify_channels`)."""
    from turnout.config.plugins import channel_plugins, load_reference

    channels: list[Channel] = []
    for plugin in channel_plugins().values():
        factory: ChannelFactory = load_reference(plugin.factory)
        channels.extend(factory(config, env))
    return channels


def apprise_channels(config: LoadedConfig, env: EnvironmentConfig) -> list[AppriseChannel]:
    """The `apprise` channels: one per configured URL, each named by its key in turnout.toml."""
    notify = env.integrations.notify
    return [
        AppriseChannel(
            ref, key=f"environments.{env.name}.integrations.notify.urls[{i}]", file=str(config.path)
        )
        for i, ref in enumerate(notify.urls)
    ]


def notifier_for(
    config: LoadedConfig,
    env: EnvironmentConfig,
    *,
    clock: Clock | None = None,
    console: Callable[[str], None] | None = None,
) -> Notifier:
    """The environment's notifier: console (to `console`, default stderr) plus the channels
    it configures (Apprise URLs, and those of any other installed channel plugin)."""
    settings: NotifyConfig = env.integrations.notify
    channels: list[Channel] = [ConsoleChannel(console), *configured_channels(config, env)]
    return Notifier(
        channels,
        retries=settings.retries,
        backoff=settings.backoff,
        timeout=settings.timeout,
        clock=clock,
        hashtags=settings.hashtags,
    )


def check_url(channel: AppriseChannel) -> str | None:
    """Why the channel's URL cannot be used (unset, unparseable), or None; sends nothing."""
    try:
        channel.service(1.0)
    except DeliveryFailed as exc:
        return exc.reason
    return None
