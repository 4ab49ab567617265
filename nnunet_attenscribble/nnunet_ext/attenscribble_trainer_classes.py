"""Re-export for nnU-Net's `nnUNet_extTrainer` scan. The classes live in an importable package so that
they stay picklable after nnU-Net drops this module from sys.modules. Keep this folder to such one-liners."""
from nnunet_attenscribble.trainers import *  # noqa: F401,F403
