"""Reproducible augmentation for seeded runs.

nnU-Net's trainer builds NonDetMultiThreadedAugmenters: every worker reseeds NumPy from the operating system and
batches are used in whatever order the workers finish them, so two runs with the same seed differ. Inside
`seeded_augmentation(seed)` nnU-Net's get_dataloaders builds batchgenerators' MultiThreadedAugmenter instead:
NumPy and torch seeded per worker, batches taken round-robin. Bit-identical runs on the CPU; on a GPU cuDNN's
autotuned kernels may still differ.
"""
import itertools
from contextlib import contextmanager
from functools import partial

import torch
from threadpoolctl import threadpool_limits
from batchgenerators.dataloading.multi_threaded_augmenter import MultiThreadedAugmenter

import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module

STREAM_STRIDE = 100  # seeds of one augmenter's workers: base + 0 .. base + workers - 1


def _prepare_worker_then(set_thread_id, base_seed: int, thread_id: int) -> None:
    """In an augmentation worker, before its first batch: one thread for torch and the BLAS libraries (a forked
    worker that inherits the parent's thread pools deadlocks; NonDetMultiThreadedAugmenter does the same) and torch
    seeded (batchgenerators seeds only NumPy there; nnU-Net's transforms draw from both); then the worker's id."""
    torch.set_num_threads(1)
    threadpool_limits(1)
    torch.manual_seed(base_seed + thread_id)
    set_thread_id(thread_id)


def seeded_augmenter_factory(seed: int):
    """A stand-in for NonDetMultiThreadedAugmenter (same keyword arguments) whose workers are seeded; each
    augmenter it builds (training, then validation) gets its own seeds."""
    augmenters = itertools.count()

    def build(data_loader, transform, num_processes, num_cached, seeds, pin_memory, wait_time):
        base = seed * 1000 + STREAM_STRIDE * next(augmenters)
        data_loader.set_thread_id = partial(_prepare_worker_then, data_loader.set_thread_id, base)
        return MultiThreadedAugmenter(data_loader, transform, num_processes,
                                      num_cached_per_queue=max(2, num_cached // num_processes),
                                      seeds=[base + worker for worker in range(num_processes)],
                                      pin_memory=pin_memory, wait_time=wait_time)
    return build


@contextmanager
def seeded_augmentation(seed: int):
    """nnU-Net's get_dataloaders, called inside, builds seeded round-robin augmenters."""
    original = nnunet_trainer_module.NonDetMultiThreadedAugmenter
    nnunet_trainer_module.NonDetMultiThreadedAugmenter = seeded_augmenter_factory(seed)
    try:
        yield
    finally:
        nnunet_trainer_module.NonDetMultiThreadedAugmenter = original
