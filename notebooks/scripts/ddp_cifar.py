"""Data-parallel training with DistributedDataParallel (DDP), launched with torchrun (lesson 16).

    # 2 processes on the CPU (gloo backend), a tiny synthetic dataset, 20 steps:
    torchrun --standalone --nproc_per_node=2 notebooks/scripts/ddp_cifar.py --data synthetic --steps 20
    # one process per GPU (nccl backend), CIFAR-10, 10 epochs:
    torchrun --standalone --nproc_per_node=NUM_GPUS notebooks/scripts/ddp_cifar.py --data cifar10 --epochs 10

``torchrun`` starts ``--nproc_per_node`` copies of this script and tells each one who it is through
environment variables: ``RANK`` (0 .. WORLD_SIZE-1), ``LOCAL_RANK`` (its index on this machine, i.e.
its GPU) and ``WORLD_SIZE`` (how many processes there are). Every process then

1. joins the process group (``nccl`` between GPUs, ``gloo`` between CPU processes);
2. builds the same model and wraps it in ``DistributedDataParallel``, which copies rank 0's
   initial weights to every rank;
3. reads only its own shard of each epoch's shuffled data (``DistributedSampler``);
4. trains with an ordinary loop: during ``loss.backward()`` DDP averages the gradients of all
   ranks (an all-reduce), so every rank takes exactly the same optimizer step and the copies of
   the model stay identical;
5. compares a checksum of its weights with the other ranks' and, with ``--out DIR``, writes
   ``rank{R}.pt`` (its ``state_dict``) and ``rank{R}.json`` (a summary, including which samples it
   saw, and on rank 0 the test accuracy) so that anyone can check that the ranks agree
   (``tests/test_ddp.py`` does; ``make gpu-check`` reads the seconds and the accuracy).

The effective batch size is ``--batch-size`` times the number of processes.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=("synthetic", "cifar10"), default="synthetic",
                   help="synthetic: small learnable random images (no download); cifar10: the real data")
    p.add_argument("--epochs", type=int, default=1, help="passes over the data")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    p.add_argument("--batch-size", type=int, default=64, help="samples per process and step")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--width", type=int, default=16, help="channels of the first conv layer")
    p.add_argument("--num-samples", type=int, default=512, help="size of the synthetic train set")
    p.add_argument("--test-size", type=int, default=0, help="test images rank 0 scores (0: all)")
    p.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto",
                   help="auto: nccl when CUDA GPUs exist, else gloo (CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="folder for rank{R}.pt and rank{R}.json")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------
# Model and data
# ------------------------------------------------------------------------------------------
def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv (same size) -> BatchNorm -> ReLU: (N, c_in, H, W) -> (N, c_out, H, W)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """x + f(x) with f = two conv_bn layers; keeps the shape (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x):
        return x + self.f(x)


def small_resnet(width: int = 16, num_classes: int = 10) -> nn.Sequential:
    """A small ResNet-9-style net for 32x32 colour images: (N, 3, 32, 32) -> (N, num_classes)."""
    w = width
    return nn.Sequential(
        conv_bn(3, w),                                         # (N, 3, 32, 32) -> (N, w, 32, 32)
        conv_bn(w, 2 * w), nn.MaxPool2d(2),                    # -> (N, 2w, 16, 16)
        Residual(2 * w),
        conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),                # -> (N, 4w, 8, 8)
        conv_bn(4 * w, 8 * w), nn.MaxPool2d(2),                # -> (N, 8w, 4, 4)
        Residual(8 * w),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),                 # -> (N, 8w)
        nn.Linear(8 * w, num_classes),
    )


def synthetic_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable stand-in images: class k lights up band k. X uint8 (n, 3, 32, 32), y int64 (n,).

    Every rank calls this with the same seed and so holds the same dataset; the sampler then
    gives each rank its own part of it.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    X = torch.randint(0, 60, (n, 3, 32, 32), generator=g)
    for k in range(10):
        X[y == k, :, 3 * k:3 * k + 3, :] += 180
    return X.clamp(0, 255).to(torch.uint8), y


def load_data(args) -> tuple[TensorDataset, TensorDataset]:
    """(train, test) datasets of (uint8 image, label, index); the index shows who saw what."""
    if args.data == "synthetic":
        X, y = synthetic_data(args.num_samples, args.seed)
        X_test, y_test = synthetic_data(max(args.num_samples // 4, 10), args.seed + 1)
    else:
        from course import data  # the course package caches and verifies CIFAR-10

        X, y = data.load_tensors("cifar10", train=True)
        X_test, y_test = data.load_tensors("cifar10", train=False)
    if args.test_size:
        X_test, y_test = X_test[:args.test_size], y_test[:args.test_size]
    return (TensorDataset(X, y, torch.arange(len(y))),
            TensorDataset(X_test, y_test, torch.arange(len(y_test))))


def to_float(xb: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 batch (B, 3, H, W) -> normalised float batch on ``device``."""
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1)
    return (xb.to(device, non_blocking=True).float() / 255 - mean) / std


# ------------------------------------------------------------------------------------------
# Distributed plumbing
# ------------------------------------------------------------------------------------------
def setup(backend: str) -> tuple[int, int, torch.device, str]:
    """Join the process group torchrun prepared; returns (rank, world_size, device, backend)."""
    if "RANK" not in os.environ:
        raise SystemExit("Start this script with torchrun, e.g.\n"
                         "  torchrun --standalone --nproc_per_node=2 notebooks/scripts/ddp_cifar.py")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend == "nccl":
        if local_rank >= torch.cuda.device_count():
            raise SystemExit(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s): "
                             f"use --nproc_per_node={torch.cuda.device_count()} or --backend gloo.")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), device, backend


def weights_digest(model: nn.Module) -> str:
    """sha256 of all parameters and buffers, in state_dict order (equal digests: equal weights)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def accuracy(model: nn.Module, dataset: TensorDataset, device: torch.device) -> float:
    model.eval()
    correct = 0
    for X, y, _ in DataLoader(dataset, batch_size=500):
        correct += int((model(to_float(X, device)).argmax(1).cpu() == y).sum())
    return correct / len(dataset)


def main(argv=None) -> None:
    args = parse_args(argv)
    rank, world_size, device, backend = setup(args.backend)
    try:
        train(args, rank, world_size, device, backend)
    finally:
        dist.destroy_process_group()


def train(args, rank: int, world_size: int, device: torch.device, backend: str) -> None:
    log = print if rank == 0 else (lambda *a, **k: None)
    log(f"{world_size} processes, backend {backend}, device type {device.type}, "
        f"batch {args.batch_size} per process = {args.batch_size * world_size} per step")

    # Each rank seeds differently on purpose: DDP still starts every rank from rank 0's weights.
    torch.manual_seed(args.seed + rank)
    model = small_resnet(args.width).to(device)
    model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    if args.out is not None and rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(model.module.state_dict(), args.out / "initial.pt")

    train_set, test_set = load_data(args)
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=args.seed, drop_last=True)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    # bfloat16 autocast where the course's precision policy picks it (GPUs with native bf16); else
    # float32 (fp16 would need a GradScaler, left out to keep this loop short).
    from course.train import precision

    use_bf16 = precision(device) == "bf16"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()

    seen, step, loss, start = [], 0, torch.zeros(()), time.perf_counter()
    model.train()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        for X, y, idx in loader:
            X, y = to_float(X, device), y.to(device, non_blocking=True)
            with autocast:
                loss = loss_fn(model(X), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()        # DDP all-reduces (averages) the gradients here
            optimizer.step()       # same gradients + same weights -> same step on every rank
            seen += idx.tolist()
            step += 1
            if step % 50 == 0 or step == 1:
                log(f"epoch {epoch + 1} step {step}: loss {loss.item():.4f}")
            if args.steps and step >= args.steps:
                break
        if args.steps and step >= args.steps:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # GPU work is asynchronous: wait for the last step
    seconds = time.perf_counter() - start

    # BatchNorm running statistics are buffers, not parameters: each rank updated its own from
    # its own batches in the last forward. DDP copies rank 0's buffers to all ranks at the start
    # of every forward; do the same once more so that the saved models are identical.
    for buffer in model.module.buffers():
        dist.broadcast(buffer, src=0)

    digest = weights_digest(model.module)
    digests = [None] * world_size
    dist.all_gather_object(digests, digest)
    log(f"trained {step} steps in {seconds:.1f} s; last loss {loss.item():.4f}")
    log(f"weights sha256 per rank: {[d[:12] for d in digests]} -> "
        f"{'identical' if len(set(digests)) == 1 else 'DIFFERENT'}")
    test_acc = None
    if rank == 0:
        test_acc = accuracy(model.module, test_set, device)
        log(f"test accuracy (rank 0, {len(test_set)} images): {test_acc:.2%}")

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(model.module.state_dict(), args.out / f"rank{rank}.pt")
        summary = {"rank": rank, "world_size": world_size, "backend": backend,
                   "device": str(device), "steps": step, "seconds": seconds,
                   "final_loss": loss.item(), "weights_sha256": digest, "samples_seen": seen,
                   "test_acc": test_acc, "test_size": len(test_set)}  # test_acc: rank 0 only
        (args.out / f"rank{rank}.json").write_text(json.dumps(summary))
    dist.barrier()


if __name__ == "__main__":
    main()
