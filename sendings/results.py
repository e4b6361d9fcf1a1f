"""What a state-changing service did, so callers need not read the state before calling."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Changed[T]:
    """`obj` as it is after the call; `changed` is False when it already was so (a repeated
    click, a retried task); `canceled` is how many contacts this call canceled."""

    obj: T
    changed: bool
    canceled: int = 0
