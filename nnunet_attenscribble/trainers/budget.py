"""Training budget and seed from the environment, so benchmarks and tests give every trainer the same run.

ATTENSCRIBBLE_EPOCHS, ATTENSCRIBBLE_ITERATIONS_PER_EPOCH and ATTENSCRIBBLE_VAL_ITERATIONS override
nnU-Net's num_epochs (1000), num_iterations_per_epoch (250) and num_val_iterations_per_epoch (50).
Unset, nnU-Net's defaults apply. The polynomial LR schedule follows num_epochs automatically.
ATTENSCRIBBLE_SEED seeds Python, NumPy and torch before the network is built (nnU-Net itself does not seed;
augmentation worker processes still draw their own randomness).
"""
import os
import random

import numpy as np

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

BUDGET_VARIABLES = {
    "num_epochs": "ATTENSCRIBBLE_EPOCHS",
    "num_iterations_per_epoch": "ATTENSCRIBBLE_ITERATIONS_PER_EPOCH",
    "num_val_iterations_per_epoch": "ATTENSCRIBBLE_VAL_ITERATIONS",
}


class EnvironmentBudgetMixin:
    """Applies the ATTENSCRIBBLE_* budget variables after nnU-Net's own __init__."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        # nnU-Net records the init arguments by inspecting this signature: keep it explicit
        super().__init__(plans, configuration, fold, dataset_json, device)
        for attribute, variable in BUDGET_VARIABLES.items():
            value = os.environ.get(variable)
            if value:
                if not value.isdigit() or int(value) < 1:
                    raise ValueError(f"{variable}={value!r}: expected a positive integer")
                setattr(self, attribute, int(value))
        seed = os.environ.get("ATTENSCRIBBLE_SEED")
        if seed:
            random.seed(int(seed))
            np.random.seed(int(seed))
            torch.manual_seed(int(seed))


class nnUNetTrainer_AttenScribbleBudget(EnvironmentBudgetMixin, nnUNetTrainer):
    """Plain nnUNetTrainer (Dice + CE, ignore label handled by nnU-Net) under the same budget variables:
    the baseline and the dense upper bound of the benchmarks."""
