"""`ksd run`'s supervisor (shared/supervise.py) on small real processes and a clock the test
moves: restarts with doubling delays, reset once a process stayed up, the others untouched,
PostgreSQL watched, and a stop that ends even a process ignoring SIGTERM."""

from __future__ import annotations

import os
import sys
import time

from shared.supervise import Backoff, Child, Supervisor

ENV = dict(os.environ)
DIES = [sys.executable, "-c", "raise SystemExit(3)"]
LIVES = [sys.executable, "-c", "import time; time.sleep(60)"]
DEAF = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_process_that_keeps_dying_restarts_after_doubling_delays_reset_once_it_stayed_up() -> None:
    clock, lines = Clock(), []
    child = Child("flaky", DIES, ENV)
    supervisor = Supervisor([child], echo=lines.append, clock=clock, initial=1, maximum=4, stable_after=60)
    supervisor.start_all()
    delays = []
    for _ in range(4):
        child.proc.wait()
        supervisor.step()  # reports the death and schedules the restart
        delays.append(child.restart_at - clock.now)
        supervisor.step()  # not yet due: nothing starts
        assert child.restart_at is not None
        clock.now = child.restart_at
        supervisor.step()  # due: started again
        assert child.restart_at is None
    assert delays == [1, 2, 4, 4]
    assert child.restarts == 4
    assert lines[0] == "! flaky berhenti / stopped (exit 3); dimulai ulang dalam / restarting in 1 s"
    assert len(lines) == 4  # one line per death

    child.proc.wait()
    clock.now += 61  # it "stayed up" a minute before this death
    supervisor.step()
    assert child.restart_at - clock.now == 1
    supervisor.stop()


def test_a_death_touches_no_other_process() -> None:
    clock, lines = Clock(), []
    steady, flaky = Child("registry", LIVES, ENV), Child("registry-worker", DIES, ENV)
    supervisor = Supervisor([steady, flaky], echo=lines.append, clock=clock)
    supervisor.start_all()
    try:
        pid = steady.pid
        flaky.proc.wait()
        supervisor.step()
        clock.now += 1
        supervisor.step()
        assert flaky.restarts == 1
        assert steady.pid == pid and steady.restarts == 0 and steady.proc.poll() is None
        assert [line.split()[1] for line in lines] == ["registry-worker"]
    finally:
        supervisor.stop()
    assert steady.proc.poll() is not None


def test_a_killed_process_is_reported_by_its_signal() -> None:
    clock, lines = Clock(), []
    child = Child("monitoring-worker", LIVES, ENV)
    supervisor = Supervisor([child], echo=lines.append, clock=clock)
    supervisor.start_all()
    child.proc.kill()
    child.proc.wait()
    supervisor.step()
    supervisor.stop()
    assert lines == ["! monitoring-worker berhenti / stopped (sinyal / signal SIGKILL); "
                     "dimulai ulang dalam / restarting in 1 s"]


def test_stop_ends_even_a_process_that_ignores_sigterm() -> None:
    child = Child("deaf", DEAF, ENV)
    supervisor = Supervisor([child], echo=lambda line: None)
    supervisor.start_all()
    time.sleep(0.5)  # let it install its handler
    supervisor.stop(timeout=1)
    assert child.proc.returncode == -9


def test_a_dead_postgresql_is_started_again_with_backoff_while_it_fails() -> None:
    clock, lines = Clock(), []
    alive, attempts = [False], []

    def restart() -> None:
        attempts.append(clock.now)
        if len(attempts) < 3:
            raise RuntimeError("could not start PostgreSQL: lock file exists")
        alive[0] = True

    supervisor = Supervisor([], echo=lines.append, clock=clock, server_alive=lambda: alive[0],
                            restart_server=restart, initial=1, maximum=30)
    for now in (0, 0.5, 1, 1.5, 3, 10):
        clock.now = now
        supervisor.step()
    assert attempts == [0, 1, 3]
    assert lines[0] == "! PostgreSQL berhenti / stopped; dimulai ulang / restarting"
    assert "cannot start yet: could not start PostgreSQL: lock file exists" in lines[1]
    assert lines[-1] == "• PostgreSQL berjalan lagi / is running again"


def test_a_jittered_backoff_waits_between_half_and_all_of_each_doubling_step_up_to_its_cap() -> None:
    backoff = Backoff(4, 0.5, jitter=True)
    steps = [0.5, 1, 2, 4, 4]
    delays = [backoff.next() for _ in steps]
    assert all(step / 2 <= delay <= step for step, delay in zip(steps, delays, strict=True)), delays
    backoff.reset()
    assert backoff.next() <= 0.5
