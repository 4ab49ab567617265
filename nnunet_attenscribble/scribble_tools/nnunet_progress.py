"""Progress lines from nnU-Net's own output, for commands that run nnU-Net's executables and keep their full output
in a log: one line per finished training epoch (loss, time per epoch, time left) and per predicted case."""
from __future__ import annotations

import re
from typing import Optional

EPOCH_START = re.compile(r": Epoch (\d+)\s*$")
TRAIN_LOSS = re.compile(r": train_loss (-?[\d.]+(?:e-?\d+)?)")
EPOCH_TIME = re.compile(r": Epoch time: ([\d.]+) s")
CASES_TO_PREDICT = re.compile(r"There are (\d+) cases that I would like to predict")
CASE_DONE = re.compile(r"^done with (\S+)")


class TrainingProgress:
    """Feed nnUNetv2_train's output line by line; returns a progress line when an epoch ends, else None."""

    def __init__(self, epochs: int):
        self.epochs, self.epoch, self.loss, self.seconds = epochs, 0, None, []

    def __call__(self, line: str) -> Optional[str]:
        if match := EPOCH_START.search(line):
            self.epoch = int(match.group(1))
        elif match := TRAIN_LOSS.search(line):
            self.loss = float(match.group(1))
        elif match := EPOCH_TIME.search(line):
            self.seconds.append(float(match.group(1)))
            per_epoch = sum(self.seconds) / len(self.seconds)
            left = per_epoch * (self.epochs - self.epoch - 1)
            loss = "" if self.loss is None else f", train loss {self.loss:.4f}"
            return (f"epoch {self.epoch + 1}/{self.epochs}{loss}, {per_epoch:.0f} s per epoch, "
                    f"about {left:.0f} s left")
        return None


class PredictionProgress:
    """Feed nnUNetv2_predict's output line by line; returns a progress line when a case is written, else None."""

    def __init__(self):
        self.total, self.done = None, 0

    def __call__(self, line: str) -> Optional[str]:
        if match := CASES_TO_PREDICT.search(line):
            self.total = int(match.group(1))
        elif match := CASE_DONE.search(line.strip()):
            self.done += 1
            return f"predicted {match.group(1)} ({self.done}/{self.total or '?'})"
        return None
