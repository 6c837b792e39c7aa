"""One ``fit`` on several processes: DistributedDataParallel under ``torchrun``, nothing at all otherwise.

    torchrun --nproc_per_node=4 tools/train.py --model cifar_resnet20 --dataset cifar10 --epochs 30

``torchrun`` starts one process per GPU and tells each its ``RANK``, ``LOCAL_RANK`` and the
``WORLD_SIZE``. Seeing them, ``fit`` (unchanged) joins the process group (NCCL on GPUs, gloo on the
CPU), puts each process on its own GPU, gives each its share of every loader (:func:`shard`),
wraps the model in :class:`~torch.nn.parallel.DistributedDataParallel` (gradients are averaged
over the processes after every backward pass, so the weights stay identical), adds up the metrics
of all processes so that every epoch record is the global one, and lets only process 0 print and
write checkpoints. In a single process every function here returns at once.

Each process keeps the loader's batch size, so the global batch is ``WORLD_SIZE`` times larger:
scale the learning rate with it (or divide the batch size) as you would for a larger batch.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, Sampler


def launched() -> bool:
    """This process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """A process group of more than one process is running (``fit`` then trains with DDP)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main_process() -> bool:
    """Process 0, or the only process: the one that prints, plots and writes files."""
    return rank() == 0


def start(device: torch.device) -> torch.device:
    """Join the process group ``torchrun`` describes (once per process); return this process's device.

    Under ``torchrun`` a CUDA device becomes ``cuda:LOCAL_RANK`` (one GPU per process) and the
    backend is NCCL; on the CPU it is gloo. Without ``torchrun``, ``device`` is returned unchanged.
    """
    if not launched():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(stop)
    return device


def stop() -> None:
    """Leave the process group (registered to run at exit by :func:`start`)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class EvalShard(Sampler[int]):
    """Every ``world_size``-th index starting at ``rank``: the processes' shares cover the dataset exactly
    once, without the padding a :class:`~torch.utils.data.DistributedSampler` adds (metrics stay exact)."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = range(rank, length, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def shard(loader: DataLoader | None, *, train: bool) -> DataLoader | None:
    """``loader`` rebuilt so that this process reads only its share of the dataset (the same loader in one process).

    Training: a :class:`~torch.utils.data.DistributedSampler` (shuffled when the loader shuffles,
    from the loader generator's seed, reshuffled every epoch by ``fit``); when the dataset does not
    divide evenly it repeats up to ``world_size - 1`` samples so that every process takes the same
    number of steps. Evaluation: :class:`EvalShard`, each sample exactly once. Everything else
    (batch size, collate function, workers, generator) is kept.
    """
    if loader is None or not active():
        return loader
    if not isinstance(loader, DataLoader):
        raise TypeError(
            f"under torchrun fit needs DataLoaders to give every process its share, not a {type(loader).__name__}"
        )
    if isinstance(loader.sampler, (DistributedSampler, EvalShard)):
        return loader  # sharded already
    if loader.batch_size is None or type(loader.batch_sampler) is not BatchSampler:
        raise TypeError("under torchrun fit shards DataLoaders built with batch_size=, not with a batch_sampler")
    if train:
        seed = loader.generator.initial_seed() if loader.generator is not None else 0
        shuffle = isinstance(loader.sampler, RandomSampler)
        sampler: Sampler[int] = DistributedSampler(loader.dataset, world_size(), rank(), shuffle=shuffle, seed=seed)
    else:
        sampler = EvalShard(len(loader.dataset), rank(), world_size())  # type: ignore[arg-type]
    workers = loader.num_workers
    return DataLoader(
        loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=workers,
        collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
        timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context, generator=loader.generator,
        prefetch_factor=loader.prefetch_factor if workers else None, persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device,
    )  # fmt: skip


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (parameters broadcast from process 0);
    ``model`` itself in one process. The wrapper shares the model's parameters: save ``model``, not it."""
    if not active():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def seed_epoch(data_seed: int, epoch: int) -> None:
    """Under DDP: seed this process's random numbers from ``(data_seed, epoch, rank)``.

    Every process then draws different augmentations and dropout masks, and a resumed run draws
    exactly what an uninterrupted one did (a checkpoint holds only process 0's random state).
    """
    if not active():
        return
    seed = int(np.random.SeedSequence([data_seed % 2**64, epoch, rank()]).generate_state(1, dtype=np.uint64)[0])
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def all_reduce(values: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """``values`` summed (or ``op="max"``) over all processes, in place; unchanged in one process."""
    if active():
        dist.all_reduce(values, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return values


def broadcast_buffers(model: nn.Module) -> None:
    """Give every process process 0's buffers (BatchNorm running statistics), e.g. before validating."""
    if active():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def barrier() -> None:
    """Wait until every process gets here (after process 0 wrote a checkpoint the others may read)."""
    if active():
        dist.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Process 0 runs the block first (finding data, decoding, writing caches); the others wait and run it
    afterwards, finding what it wrote. In one process: just the block."""
    if not is_main_process():
        barrier()
    yield
    if is_main_process():
        barrier()
