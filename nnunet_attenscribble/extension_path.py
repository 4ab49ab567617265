"""Tells nnU-Net where our trainer classes are (nnU-Net >= 2.8 reads `nnUNet_extTrainer` at each lookup).

`register` runs at interpreter start-up from the `nnunet_attenscribble_ext.pth` file that the install puts in
site-packages, so `nnUNetv2_train/predict -tr AttenScribbleTrainer` work in any new shell, in DDP children and
through the nnUNetPredictor API. It only edits os.environ (stdlib only, no torch import).
Opt out with NNUNET_ATTENSCRIBBLE_NO_AUTOREGISTER=1 and export `attenscribble trainer-path` yourself.
"""
import os

OPT_OUT_VARIABLE = "NNUNET_ATTENSCRIBBLE_NO_AUTOREGISTER"
NNUNET_VARIABLE = "nnUNet_extTrainer"


def trainer_folder() -> str:
    """The folder nnU-Net scans: it holds only a re-export module of nnunet_attenscribble.trainers."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "nnunet_ext")


def register(environ=os.environ) -> None:
    """Append the trainer folder to nnUNet_extTrainer unless opted out or already there."""
    if environ.get(OPT_OUT_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on"):
        return
    folder = trainer_folder()
    parts = [p for p in environ.get(NNUNET_VARIABLE, "").split(os.pathsep) if p]
    if folder not in parts:
        environ[NNUNET_VARIABLE] = os.pathsep.join(parts + [folder])
