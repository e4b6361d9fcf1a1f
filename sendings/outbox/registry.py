"""What each kind of notification sends, filled at start-up by the apps that know.

The outbox sits low in the dependency order, so it cannot import the apps whose emails it
carries (support, for one); each of them registers its kinds in its AppConfig.ready.
A renderer takes the row's object id and returns the message to send, None when there is
nothing to send any more, or Wait(seconds) when it is not ready yet.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.mail import EmailMessage


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Kind:
    render: Callable[[int], EmailMessage | Wait | None]
    # Called after the message went out (e.g. to show "emailed" on the object).
    sent: Callable[[int], None] | None = None


_kinds: dict[str, Kind] = {}


def notification_kind_register(name: str, kind: Kind) -> None:
    _kinds[name] = kind


def notification_kind(name: str) -> Kind | None:
    return _kinds.get(name)
