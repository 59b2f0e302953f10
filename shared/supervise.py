"""What keeps `ksd run`'s processes running: the three services and the three workers, each a
child process restarted with exponential backoff when it exits unexpectedly, without touching
the others; and, under the embedded default, the private PostgreSQL, started again if it dies.

A process that dies is reported in one line and started again after `initial` seconds, then
twice as long after each further death (at most `maximum`); a process that stayed up for
`stable_after` seconds counts as healthy again and restarts after `initial` seconds the next
time. `stop()` (Ctrl-C, SIGTERM) sends SIGTERM to every child, waits, then kills what is left.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
STOP_TIMEOUT_S = 15.0


class Backoff:
    """Exponential backoff: `initial`, twice that, ... up to `cap`. With `jitter`, each delay
    is drawn between half and all of its step, so processes failing together (workers losing
    the same database) do not retry in lockstep."""

    def __init__(self, cap: float, initial: float = BACKOFF_INITIAL_S, *, jitter: bool = False) -> None:
        self.cap, self.initial, self.jitter, self.attempt = cap, initial, jitter, 0

    def next(self) -> float:
        step: float = min(self.cap, self.initial * 2 ** min(self.attempt, 30))
        self.attempt += 1
        return step / 2 + random.uniform(0, step / 2) if self.jitter else step  # noqa: S311 - not cryptography

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class Child:
    """One supervised process: `argv` run with `env`, in a session of its own (Ctrl-C in the
    terminal reaches only `ksd run`, which then stops the children in order)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[Any] | None = None
    started_at: float = 0.0
    backoff: Backoff = field(default_factory=lambda: Backoff(BACKOFF_MAX_S))  # the supervisor's own
    restart_at: float | None = None
    restarts: int = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


@dataclass
class Supervisor:
    children: Sequence[Child]
    echo: Callable[[str], None]
    # Under the embedded default, when this run started PostgreSQL: whether it still runs,
    # and how to start it again (returns the new server, raises with a one-line message).
    server_alive: Callable[[], bool] | None = None
    restart_server: Callable[[], Any] | None = None
    initial: float = BACKOFF_INITIAL_S
    maximum: float = BACKOFF_MAX_S
    stable_after: float = STABLE_AFTER_S
    clock: Callable[[], float] = time.monotonic
    stopping: bool = False  # set by the signal handler: leave the loop, then stop()
    _server_backoff: Backoff = field(init=False)
    _server_retry_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        for child in self.children:
            child.backoff = Backoff(self.maximum, self.initial)
        self._server_backoff = Backoff(self.maximum, self.initial)

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)

    def _start(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=child.env, start_new_session=True)  # our own argv
        child.started_at = self.clock()
        child.restart_at = None

    def step(self) -> None:
        """Check every child (and PostgreSQL) once: report deaths, start what is due."""
        now = self.clock()
        self._watch_server(now)
        for child in self.children:
            if child.proc is not None and child.restart_at is None and (code := child.proc.poll()) is not None:
                if now - child.started_at >= self.stable_after:
                    child.backoff.reset()
                delay = child.backoff.next()
                child.restart_at = now + delay
                self.echo(
                    f"! {child.name} berhenti / stopped ({_describe_exit(code)}); "
                    f"dimulai ulang dalam / restarting in {delay:g} s"
                )
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)

    def _watch_server(self, now: float) -> None:
        if self.server_alive is None or self.restart_server is None:
            return
        if self._server_retry_at is None:
            if self.server_alive():
                return
            self.echo("! PostgreSQL berhenti / stopped; dimulai ulang / restarting")
            self._server_retry_at = now
        if now < self._server_retry_at:
            return
        try:
            self.restart_server()
        except Exception as exc:  # noqa: BLE001 - reported in one line, retried with backoff
            delay = self._server_backoff.next()
            self.echo(f"! PostgreSQL belum dapat dimulai / cannot start yet: {exc}; "
                      f"dicoba lagi dalam / retrying in {delay:g} s")
            self._server_retry_at = now + delay
            return
        self.echo("• PostgreSQL berjalan lagi / is running again")
        self._server_retry_at = None
        self._server_backoff.reset()

    def any_restart_pending(self) -> bool:
        return any(c.restart_at is not None for c in self.children)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM to every running child, then SIGKILL to those still running after `timeout`."""
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for child in self.children:
            child.restart_at = None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"sinyal / signal {signal.Signals(-code).name}"
        except ValueError:
            return f"sinyal / signal {-code}"
    return f"exit {code}"
