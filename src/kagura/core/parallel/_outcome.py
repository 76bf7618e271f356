"""What happened to one item: its value or its error, how many attempts it took, and how long."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Outcome"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """The result of one item of a scheduled run.

    - ``index``: the item's position in the input (0-based).
    - ``value``: what the call returned (None when it failed).
    - ``error``: the exception of the last attempt, or None on success.
    - ``attempts``: calls made, 1 without retries; 0 if the item never got to a call.
    - ``elapsed``: seconds from the item being picked up to its end, including budget waits and backoff.
    """

    index: int
    value: T | None
    error: BaseException | None
    attempts: int
    elapsed: float

    @property
    def ok(self) -> bool:
        """True if the item succeeded."""
        return self.error is None

    def unwrap(self) -> T:
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]
