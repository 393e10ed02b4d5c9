"""Wall-clock deadlines for outbound calls.

A per-read timeout does not bound a call: a peer that answers one byte per second never trips
it. Every outbound call made by munivideo therefore runs under a *deadline*: the earliest of
its own budget (``Timeouts.total_seconds``) and of every enclosing :func:`within` scope (a
write-back step runs within its lease). When the deadline passes, a watchdog shuts the call's
sockets down and the call raises :class:`DeadlineExceededError`.

Scopes live in a :class:`contextvars.ContextVar`, so they follow the code that opened them
(threads and tasks each see their own) and no module keeps mutable state.
"""

from __future__ import annotations

import contextvars
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from munivideo.errors import AmbiguousError, ContractViolationError


class DeadlineExceededError(AmbiguousError):
    """An outbound call ran out of wall-clock time (its own budget or the enclosing lease).

    Ambiguous, as a read timeout is: the peer may have processed the request.
    """


class ResponseTooLargeError(ContractViolationError):
    """A peer answered with more bytes than ``max_response_bytes`` allows."""


@dataclass(frozen=True)
class _Scope:
    at: float  # time.monotonic() value


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "munivideo_deadline", default=None
)


def deadline_at() -> float | None:
    """The current scope's deadline as a :func:`time.monotonic` value, or None (unbounded)."""
    scope = _SCOPE.get()
    return scope.at if scope is not None else None


def remaining() -> float | None:
    """Seconds left before the current scope's deadline (may be <= 0), or None (unbounded)."""
    at = deadline_at()
    return None if at is None else at - time.monotonic()


@contextmanager
def within(seconds: float, *, what: str = "work") -> Iterator[float]:
    """Bound every outbound call made inside the block to ``seconds`` from now (wall clock).

    Scopes nest: the earliest deadline wins, so an inner scope can only shorten an outer one.
    Yields the effective deadline (a :func:`time.monotonic` value).

    :raises DeadlineExceededError: at once when ``seconds`` <= 0 or the enclosing scope has
        already expired: nothing is sent.
    """
    at = time.monotonic() + seconds
    outer = deadline_at()
    if outer is not None:
        at = min(at, outer)
    if at <= time.monotonic():
        raise DeadlineExceededError(f"{what}: no time left before the deadline", field="deadline")
    token = _SCOPE.set(_Scope(at))
    try:
        yield at
    finally:
        _SCOPE.reset(token)


def effective(seconds: float | None) -> float:
    """Seconds a call may take: its own budget capped by the current scope (inf = unbounded)."""
    own = math.inf if seconds is None else seconds
    left = remaining()
    return own if left is None else min(own, left)


@dataclass
class Watchdog:
    """Shuts sockets down when a call's deadline passes; use :func:`watch`.

    ``sockets`` collects the sockets the call uses (registered by the transport as it connects
    or sends); ``fired`` tells the caller that a failure it sees was caused by the deadline.
    """

    sockets: list[socket.socket] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    fired: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` (shut it down at once if the deadline already passed)."""
        if sock is None:
            return
        with self._lock:
            if self.fired:
                _shutdown(sock)
            elif all(s is not sock for s in self.sockets):
                self.sockets.append(sock)

    def fire(self) -> None:
        """The deadline passed: shut every watched socket down and run the closers."""
        with self._lock:
            self.fired = True
            targets = list(self.sockets)
            closers = list(self.closers)
        for sock in targets:
            _shutdown(sock)
        for close in closers:
            with suppress(Exception):  # best effort: the call fails either way
                close()


def _shutdown(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG: contextvars.ContextVar[Watchdog | None] = contextvars.ContextVar(
    "munivideo_watchdog", default=None
)


def current_watchdog() -> Watchdog | None:
    """The watchdog of the call in progress in this context (for transports to register)."""
    return _WATCHDOG.get()


@contextmanager
def watch(seconds: float, *, what: str) -> Iterator[Watchdog]:
    """Run one outbound call for at most ``seconds`` (already capped with :func:`effective`).

    Transports register the call's sockets with the yielded :class:`Watchdog`; when time is up
    they are shut down, so even a peer trickling one byte per second is cut off. An exception
    raised by the block after the watchdog fired becomes :class:`DeadlineExceededError`.
    """
    if seconds <= 0:
        raise DeadlineExceededError(f"{what}: no time left before the deadline", field="deadline")
    dog = Watchdog()
    ends = time.monotonic() + seconds
    timer = None
    if math.isfinite(seconds):
        timer = threading.Timer(seconds, dog.fire)
        timer.daemon = True
        timer.start()
    token = _WATCHDOG.set(dog)
    try:
        yield dog
    except DeadlineExceededError:
        raise
    except Exception as exc:
        # The socket timeouts are capped at the same budget, so under load a read timeout can
        # beat the timer thread: past the deadline, a failure is the deadline's either way.
        if dog.fired or time.monotonic() >= ends:
            raise DeadlineExceededError(
                f"{what}: no complete answer within {seconds:.1f} s", field="deadline"
            ) from exc
        raise
    finally:
        _WATCHDOG.reset(token)
        if timer is not None:
            timer.cancel()
    if dog.fired:
        raise DeadlineExceededError(
            f"{what}: no complete answer within {seconds:.1f} s", field="deadline"
        )
