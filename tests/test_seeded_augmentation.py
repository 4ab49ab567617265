"""Seeded runs: augmentation workers seeded and read in a fixed order, so equal seeds train identically."""
import pytest
import torch
from batchgenerators.dataloading.multi_threaded_augmenter import MultiThreadedAugmenter

import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module

from nnunet_attenscribble.trainers.budget import nnUNetTrainer_AttenScribbleBudget
from nnunet_attenscribble.trainers.seeded_augmentation import seeded_augmentation, worker_seeds


class _Loader:
    """The two calls an augmenter worker makes on nnU-Net's data loader."""
    def __init__(self):
        self.thread_id = None

    def set_thread_id(self, thread_id):
        self.thread_id = thread_id

    def __next__(self):
        return {"data": torch.rand(1)}


def test_seeded_augmentation_seeds_each_worker_and_restores_nnunet():
    original = nnunet_trainer_module.NonDetMultiThreadedAugmenter
    loaders = [_Loader(), _Loader()]
    with seeded_augmentation(7):
        build = nnunet_trainer_module.NonDetMultiThreadedAugmenter
        augmenters = [build(data_loader=loader, transform=None, num_processes=2, num_cached=6, seeds=None,
                            pin_memory=False, wait_time=0.002) for loader in loaders]
    assert nnunet_trainer_module.NonDetMultiThreadedAugmenter is original
    assert all(isinstance(a, MultiThreadedAugmenter) for a in augmenters)
    assert [a.seeds for a in augmenters] == [[7000, 7001], [7100, 7101]]  # training and validation streams differ
    loaders[0].set_thread_id(1)  # what worker 1 calls first: torch seeded with the worker's own seed
    drawn = torch.rand(3)
    torch.manual_seed(7001)
    assert torch.equal(drawn, torch.rand(3)) and loaders[0].thread_id == 1


def test_a_continued_run_draws_streams_of_its_own():
    """A run continued at epoch k must not replay the batches of epochs 0, 1, ...; a fresh run keeps its seeds."""
    assert worker_seeds(7, 1, 2) == worker_seeds(7, 1, 2, start_epoch=0) == [7100, 7101]
    fresh = {seed for s in range(3) for stream in (0, 1) for seed in worker_seeds(s, stream, 4)}
    continued = [worker_seeds(seed, stream, 4, epoch) for seed in range(3) for stream in (0, 1) for epoch in (4, 8)]
    drawn = [seed for seeds in continued for seed in seeds]
    assert len(set(drawn)) == len(drawn) and not fresh & set(drawn)
    assert all(0 <= seed < 2 ** 31 for seed in drawn) and worker_seeds(0, 0, 4, 4) == continued[0]
    with seeded_augmentation(7, start_epoch=4):
        augmenter = nnunet_trainer_module.NonDetMultiThreadedAugmenter(
            data_loader=_Loader(), transform=None, num_processes=2, num_cached=6, seeds=None, pin_memory=False,
            wait_time=0.002)
    assert augmenter.seeds == worker_seeds(7, 0, 2, 4)


def test_seed_must_be_a_non_negative_integer(monkeypatch):
    monkeypatch.setenv("ATTENSCRIBBLE_SEED", "-1")
    with pytest.raises(ValueError, match="ATTENSCRIBBLE_SEED='-1'"):
        nnUNetTrainer_AttenScribbleBudget.__init__(object.__new__(nnUNetTrainer_AttenScribbleBudget), {}, "2d", 0, {})
