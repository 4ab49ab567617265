"""Training budget and seed from the environment, so benchmarks and tests give every trainer the same run.

ATTENSCRIBBLE_EPOCHS, ATTENSCRIBBLE_ITERATIONS_PER_EPOCH and ATTENSCRIBBLE_VAL_ITERATIONS override
nnU-Net's num_epochs (1000), num_iterations_per_epoch (250) and num_val_iterations_per_epoch (50);
ATTENSCRIBBLE_SAVE_EVERY its save_every (50 epochs between latest checkpoints), so a short run killed midway
loses little when continued with `--c`. Unset, nnU-Net's defaults apply. The polynomial LR schedule follows
num_epochs automatically.
ATTENSCRIBBLE_SEED seeds Python, NumPy and torch before the network is built and every augmentation worker
(nnU-Net itself does not seed), so two runs with the same seed train identically on the CPU.
"""
import os
import random

import numpy as np

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnunet_attenscribble.trainers.seeded_augmentation import seeded_augmentation

BUDGET_VARIABLES = {
    "num_epochs": "ATTENSCRIBBLE_EPOCHS",
    "num_iterations_per_epoch": "ATTENSCRIBBLE_ITERATIONS_PER_EPOCH",
    "num_val_iterations_per_epoch": "ATTENSCRIBBLE_VAL_ITERATIONS",
    "save_every": "ATTENSCRIBBLE_SAVE_EVERY",
}


class EnvironmentBudgetMixin:
    """Applies the ATTENSCRIBBLE_* budget variables after nnU-Net's own __init__."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        seed = os.environ.get("ATTENSCRIBBLE_SEED")
        if seed and not seed.isdigit():
            raise ValueError(f"ATTENSCRIBBLE_SEED={seed!r}: expected a non-negative integer")
        # nnU-Net records the init arguments by inspecting this signature: keep it explicit
        super().__init__(plans, configuration, fold, dataset_json, device)
        for attribute, variable in BUDGET_VARIABLES.items():
            value = os.environ.get(variable)
            if value:
                if not value.isdigit() or int(value) < 1:
                    raise ValueError(f"{variable}={value!r}: expected a positive integer")
                setattr(self, attribute, int(value))
        self.seed = int(seed) if seed else None
        if self.seed is not None:
            random.seed(self.seed)
            np.random.seed(self.seed)
            torch.manual_seed(self.seed)

    def get_dataloaders(self):
        """nnU-Net's loaders; with a seed, their augmentation workers are seeded and read in a fixed order (in a run
        continued from a checkpoint, nnU-Net has restored current_epoch by now)."""
        if self.seed is None:
            return super().get_dataloaders()
        with seeded_augmentation(self.seed, self.current_epoch):
            return super().get_dataloaders()


class nnUNetTrainer_AttenScribbleBudget(EnvironmentBudgetMixin, nnUNetTrainer):
    """Plain nnUNetTrainer (Dice + CE, ignore label handled by nnU-Net) under the same budget variables:
    the baseline and the dense upper bound of the benchmarks."""
