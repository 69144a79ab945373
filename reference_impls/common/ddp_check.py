"""A tiny full-tier-style entry point for checking DDP: `torchrun --nproc_per_node=N -m
reference_impls.common.ddp_check OUT.pt` trains a linear model on a fixed dataset, each rank on
its shard, and rank 0 writes the weights. With one process it trains on the whole batch, so
the results must agree (DDP averages gradients across ranks)."""
import sys

import torch
from torch import nn

from .runtime import init_distributed, seed_everything
from .train import atomic_save, fit


def main(out: str):
    rank, world_size, device = init_distributed("cpu")
    seed_everything(0)
    x = torch.randn(64, 8)
    y = x @ torch.randn(8, 1)
    model = nn.Linear(8, 1)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    fit(model, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), batches, epochs=3, optimizer=opt,
        device=device, progress=False, split_batches=True)    # each global batch split across the ranks
    if rank == 0:
        atomic_save(model.state_dict(), out)
    if world_size > 1:
        torch.distributed.barrier()     # no rank tears gloo down while another still talks to it
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
