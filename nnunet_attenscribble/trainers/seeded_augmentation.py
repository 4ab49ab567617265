"""Reproducible augmentation for seeded runs.

nnU-Net's trainer builds NonDetMultiThreadedAugmenters: every worker reseeds NumPy from the operating system and
batches are used in whatever order the workers finish them, so two runs with the same seed differ. Inside
`seeded_augmentation(seed)` nnU-Net's get_dataloaders builds batchgenerators' MultiThreadedAugmenter instead:
NumPy and torch seeded per worker, batches taken round-robin. Bit-identical runs on the CPU; on a GPU cuDNN's
autotuned kernels may still differ. A run continued from a checkpoint (`--c`) at epoch k gets streams of its own,
drawn from (seed, stream, k), so it does not replay the batches of epochs 0, 1, ...
"""
import itertools
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from batchgenerators.dataloading.multi_threaded_augmenter import MultiThreadedAugmenter

import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module

STREAM_STRIDE = 100  # seeds of a fresh run's augmenter: seed * 1000 + STREAM_STRIDE * stream + worker


def worker_seeds(seed: int, stream: int, workers: int, start_epoch: int = 0) -> list:
    """The seeds of one augmenter's workers (stream 0: training, 1: validation). A fresh run keeps the seeds every
    earlier version used; a run continued at start_epoch > 0 draws its own from (seed, stream, start_epoch)."""
    if start_epoch == 0:
        return [seed * 1000 + STREAM_STRIDE * stream + worker for worker in range(workers)]
    state = np.random.SeedSequence([seed, stream, start_epoch]).generate_state(workers)
    return [int(value) % 2 ** 31 for value in state]


def _prepare_worker_then(set_thread_id, seeds: list, thread_id: int) -> None:
    """In an augmentation worker, before its first batch: one thread for torch and the BLAS libraries (a forked
    worker that inherits the parent's thread pools deadlocks; NonDetMultiThreadedAugmenter does the same) and torch
    seeded (batchgenerators seeds only NumPy there; nnU-Net's transforms draw from both); then the worker's id."""
    torch.set_num_threads(1)
    threadpool_limits(1)
    torch.manual_seed(seeds[thread_id])
    set_thread_id(thread_id)


def seeded_augmenter_factory(seed: int, start_epoch: int = 0):
    """A stand-in for NonDetMultiThreadedAugmenter (same keyword arguments) whose workers are seeded; each
    augmenter it builds (training, then validation) gets its own seeds."""
    augmenters = itertools.count()

    def build(data_loader, transform, num_processes, num_cached, seeds, pin_memory, wait_time):
        own_seeds = worker_seeds(seed, next(augmenters), num_processes, start_epoch)
        data_loader.set_thread_id = partial(_prepare_worker_then, data_loader.set_thread_id, own_seeds)
        return MultiThreadedAugmenter(data_loader, transform, num_processes,
                                      num_cached_per_queue=max(2, num_cached // num_processes),
                                      seeds=own_seeds, pin_memory=pin_memory, wait_time=wait_time)
    return build


@contextmanager
def seeded_augmentation(seed: int, start_epoch: int = 0):
    """nnU-Net's get_dataloaders, called inside, builds seeded round-robin augmenters (for a run that starts, or
    continues, at start_epoch)."""
    original = nnunet_trainer_module.NonDetMultiThreadedAugmenter
    nnunet_trainer_module.NonDetMultiThreadedAugmenter = seeded_augmenter_factory(seed, start_epoch)
    try:
        yield
    finally:
        nnunet_trainer_module.NonDetMultiThreadedAugmenter = original
