"""Leases over Keras Tuner's oracle: who holds which trial, and what happens when a worker goes silent.

Every call from a worker renews its contact; a worker silent for `tuner.lease_seconds` loses
its ongoing trial, which goes back to Keras Tuner's retry queue (the queue `Oracle.reload`
uses) for the next worker that asks. A late result of a trial that went to another worker is
ignored, so no trial counts twice, and the chief ends once `max_trials` trials are done even
if a dead worker never reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from keras_tuner.engine.trial import TrialStatus

from autoorder.compat.keras_tuner import active_tuner_ids, ended_trial_ids, ongoing_trials, retry_queue

Log = Callable[[str], None]


class Refused(Exception):
    """A worker asked about something the chief does not know; the worker hears why, the chief goes on."""


@dataclass
class Lease:
    """Who holds which trial and when each worker was last heard from, over a stock oracle.

    Every method is called with the chief's lock held. `oracle` is Keras Tuner's own; its
    bookkeeping (running trials, retry queue, ended trials, active tuners) is reached through
    `autoorder.compat.keras_tuner`.
    """

    oracle: Any
    seconds: float
    log: Log = lambda s: None
    clock: Callable[[], float] = time.monotonic
    last: dict = field(default_factory=dict)  # worker -> last contact
    handed: dict = field(default_factory=dict)  # trial id -> (worker, time handed out)
    reassigned: list = field(default_factory=list)
    stopped: bool = False

    def touch(self, worker: str | None) -> None:
        if worker:
            self.last[worker] = self.clock()

    def tidy(self) -> None:
        """After a reload: a recorded trial is never retried (Keras Tuner saves its state inside
        end_trial, before the trial leaves the ongoing list, and requeues what was ongoing)."""
        ended = set(ended_trial_ids(self.oracle))
        queue = retry_queue(self.oracle)
        queue[:] = [t for t in queue if t not in ended]

    def holder(self, trial_id: str) -> str | None:
        for worker, trial in ongoing_trials(self.oracle).items():
            if trial.trial_id == trial_id:
                return worker
        return None

    def expire(self, asking: str | None = None) -> list[str]:
        """Send the trials of workers silent for longer than the lease back to the retry queue."""
        now = self.clock()
        freed = []
        running = ongoing_trials(self.oracle)
        for worker, trial in list(running.items()):
            if worker == asking:
                continue
            silent = now - self.last.setdefault(worker, now)
            if silent <= self.seconds:
                continue
            del running[worker]
            active_tuner_ids(self.oracle).discard(worker)
            queue = retry_queue(self.oracle)
            if trial.trial_id not in queue:
                queue.append(trial.trial_id)
            self.handed.pop(trial.trial_id, None)
            self.reassigned.append({"trial": trial.trial_id, "from": worker, "silent_seconds": round(silent, 1)})
            freed.append(trial.trial_id)
            self.log(
                f"{worker} silent for {silent:.0f}s (tuner.lease_seconds {self.seconds:g}): "
                f"trial {trial.trial_id} goes to the next worker that asks"
            )
        if freed:
            self.oracle.save()
        return freed

    def create_trial(self, worker: str) -> Any:
        """Keras Tuner's create_trial, after freeing expired leases; STOPPED only once all is done."""
        self.touch(worker)
        self.expire(asking=worker)
        requeued = {r["trial"] for r in self.reassigned}
        trial = self.oracle.create_trial(worker)
        if trial.status == TrialStatus.RUNNING:
            previous = self.handed.get(trial.trial_id)
            if previous is None or previous[0] != worker:
                self.handed[trial.trial_id] = (worker, self.clock())
                if trial.trial_id in requeued:
                    self.log(f"trial {trial.trial_id} handed to {worker}")
        elif trial.status == TrialStatus.STOPPED:
            if ongoing_trials(self.oracle) or retry_queue(self.oracle):
                # Others still run trials and may die: keep this worker to take them over.
                active_tuner_ids(self.oracle).add(worker)
                trial.status = TrialStatus.IDLE
            else:
                self.stopped = True
        return trial

    def may_report(self, worker: str | None, trial_id: str) -> bool:
        """Whether `worker` may report on `trial_id`: the first completion wins, stale holders lose."""
        oracle = self.oracle
        if trial_id not in oracle.trials:
            raise Refused(f"trial {trial_id!r} is not a trial of this search")
        running, queue = ongoing_trials(oracle), retry_queue(oracle)
        if trial_id in ended_trial_ids(oracle):
            holder = self.holder(trial_id)
            if holder is not None:  # recorded, yet still listed as handed out: let it go
                del running[holder]
            return False
        holder = self.holder(trial_id)
        if holder is not None:
            return worker is None or holder == worker  # an anonymous (stock) client: trust it
        if worker and trial_id in queue and worker not in running:
            # Presumed dead, but back before anyone took its trial over: it keeps the trial.
            queue.remove(trial_id)
            running[worker] = oracle.trials[trial_id]
            active_tuner_ids(oracle).add(worker)
            self.handed.setdefault(trial_id, (worker, self.clock()))
            oracle.save()
            self.log(f"{worker} is back: trial {trial_id} stays with it")
            return True
        return False

    def update_trial(self, worker: str | None, trial_id: str, metrics: Any, step: float = 0) -> Any:
        self.touch(worker)
        if not self.may_report(worker, trial_id):
            return self.oracle.get_trial(trial_id)
        return self.oracle.update_trial(trial_id, metrics, step=step)

    def end_trial(self, worker: str | None, trial: Any) -> float | None:
        """Record a finished trial; returns its seconds, or None when the report was ignored."""
        self.touch(worker)
        if not self.may_report(worker, trial.trial_id):
            holder = self.holder(trial.trial_id)
            why = f"it went to {holder}" if holder else "it is already recorded"
            self.log(f"ignored the late result of trial {trial.trial_id} from {worker}: {why}")
            return None
        self.oracle.end_trial(trial)
        self.oracle.save()  # again: Keras Tuner saved before it took the trial off the ongoing list
        _, started = self.handed.pop(trial.trial_id, (None, self.clock()))
        return self.clock() - started

    def heartbeat(self, worker: str, trial_id: str) -> bool:
        self.touch(worker)
        return self.may_report(worker, trial_id)

    def done(self) -> bool:
        """Every trial the search will have is recorded (no trial running or waiting for a retry)."""
        o = self.oracle
        if ongoing_trials(o) or retry_queue(o):
            return False
        return self.stopped or bool(o.max_trials and len(o.trials) >= o.max_trials)

    def finished(self) -> bool:
        """Done, and every worker still alive has been told to stop (dead ones age out)."""
        if not self.done():
            return False
        now = self.clock()
        return not [w for w in active_tuner_ids(self.oracle) if now - self.last.get(w, float("-inf")) <= self.seconds]
