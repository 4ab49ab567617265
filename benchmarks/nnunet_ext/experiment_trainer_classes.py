"""Re-export for nnU-Net's `nnUNet_extTrainer` scan (the classes live in an importable module, so they stay
picklable). Keep this folder to such one-liners."""
from experiment_trainers import *  # noqa: F401,F403
