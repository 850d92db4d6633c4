"""What every learned test fixture's training needs: ComfyUI's model code with trainable layers, a
deterministic run, one optimiser loop, and an fp16 safetensors file ComfyUI's loaders read."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable

import torch


class TrainableOps:
    """Plain torch layers for ComfyUI's model code: its own ops skip weight init (they expect a checkpoint)."""

    Linear, Conv2d, Conv3d = torch.nn.Linear, torch.nn.Conv2d, torch.nn.Conv3d
    GroupNorm, LayerNorm, RMSNorm = torch.nn.GroupNorm, torch.nn.LayerNorm, torch.nn.RMSNorm

    @staticmethod
    def conv_nd(dims, *args, **kwargs):
        return (torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d)(*args, **kwargs)


@contextlib.contextmanager
def deterministic():
    """One thread and deterministic kernels, so a retrain rewrites the fixture bit for bit; restored after."""
    enabled, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled)
        torch.set_num_threads(threads)


def fit(model: torch.nn.Module, batch_loss: Callable[[], torch.Tensor], steps: int, learning_rate: float,
        log=print, max_grad_norm: float | None = None, learning_rate_scales: dict[str, float] | None = None) -> None:
    """AdamW with a one-cycle schedule (short warm-up, cosine decay) on `batch_loss()`, a fresh batch each step.

    `learning_rate_scales` maps parameter-name prefixes to a factor on the learning rate: Adam moves
    every weight by about the learning rate, so a layer with a very wide input needs a smaller one."""
    groups = _parameter_groups(model, learning_rate, learning_rate_scales or {})
    optimiser = torch.optim.AdamW(groups, lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, [group["lr"] for group in groups], total_steps=steps,
                                                   pct_start=0.05)
    start = time.perf_counter()
    for step in range(steps):
        loss = batch_loss()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f} s", flush=True)


def _parameter_groups(model, learning_rate, scales):
    factors = {name: next((factor for prefix, factor in scales.items() if name.startswith(prefix)), 1.0)
               for name, _ in model.named_parameters()}
    return [{"params": [p for name, p in model.named_parameters() if factors[name] == factor],
             "lr": learning_rate * factor} for factor in dict.fromkeys(factors.values())]


def write_fp16(state_dict: dict[str, torch.Tensor], extras: dict[str, torch.Tensor], path: Path,
               description: str) -> Path:
    """The weights in fp16, as released checkpoints ship, plus `extras` (kept exact) under their own keys."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.to(torch.float16).contiguous() for key, value in state_dict.items()}
    tensors.update({key: value.contiguous() for key, value in extras.items()})
    save_file(tensors, str(path), metadata={"rewind_test_model": description})
    return path
