"""The daemon's side of findings: evaluate on a schedule, publish metrics and /findings."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from monitor import memory
from monitor.findings.engine import Memo, Policy, evaluate, node_of
from monitor.findings.model import Finding
from monitor.findings.report import SPECS, as_json, evaluated_at, metric_samples
from monitor.snapshot import Snapshot, SnapshotStore
from monitor.targets import Target


class FindingsBoard:
    def __init__(
        self, targets: Sequence[Target], store: SnapshotStore, policy: Policy, max_per_check: int
    ) -> None:
        self._targets = targets
        self._store = store
        self._policy = policy
        self._max_per_check = max_per_check
        self._lock = threading.Lock()
        self._json: bytes | None = b"[]\n"
        self._memo: Memo = {}
        self._published: dict[str, Snapshot] = {}  # the last evaluation's, by target
        self.findings: list[Finding] = []

    def replace(self, targets: Sequence[Target], policy: Policy) -> None:
        """After a reload: the next evaluation covers the new targets with the new policy."""
        with self._lock:
            self._targets, self._policy = targets, policy

    def evaluate(self) -> None:
        with self._lock:
            targets, policy = self._targets, self._policy
        nodes = [n for t in targets if (n := node_of(t, self._store)) is not None]
        held = self._rows_held()
        findings = evaluate(nodes, policy, memo=self._memo)
        still_held = self._rows_held()
        # The memo held the previous row sets after their snapshots were replaced: the
        # memory of a large catalogue is free only now.
        released = sum(n for rows, n in held.items() if rows not in still_held)
        unchanged = len(findings) == len(self.findings) and all(
            a is b for a, b in zip(findings, self.findings, strict=True)
        )
        now = time.time()
        published: dict[str, Snapshot] = {}
        for target in targets:
            last = self._published.get(target.name)
            if unchanged and last is not None:
                # Only the evaluation time moves (metric_samples puts it last).
                samples = [*last.samples[:-1], evaluated_at(now)]
            else:
                mine = [f for f in findings if f.target == target.name]
                samples = metric_samples(mine, self._max_per_check, now)
            snapshot = Snapshot(target.name, "_findings", SPECS, samples, now, previous=last)
            published[target.name] = snapshot
            self._store.put(snapshot, owner=target)
        self._published = published
        with self._lock:
            self.findings = findings
            if not unchanged:
                self._json = None
        # each finding is a dozen objects
        memory.after(released + (0 if unchanged else len(findings) * 10))

    def _rows_held(self) -> dict[int, int]:
        """Sizes of the row sets the memo holds, by identity."""
        return {id(rows): len(rows) for inputs, _ in self._memo.values() for rows in inputs.rows}

    def json(self) -> bytes:
        """The findings as JSON, made on the first request after they changed: with
        thousands of findings it is megabytes that only /findings readers need."""
        with self._lock:
            findings, text = self.findings, self._json
        if text is None:
            text = as_json(findings).encode()
            with self._lock:
                if self.findings is findings:
                    self._json = text
        return text
