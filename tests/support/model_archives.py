"""Real model files written by torch, small and large: TorchScript, torch.save and torch.export (.pt2).

"Large" puts more than 64 KiB of weights before the code and the program's description, as torch does
with a real model (a 34 MB TorchScript file's first 64 KiB are all weights)."""

from __future__ import annotations

import functools
import io

import torch

SMALL_WIDTH = 4
LARGE_WIDTH = 40_000  # 40,000 x 2 float32 weights: 320 KB before code/ or models/


@functools.cache
def torchscript(width: int) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(width, 2)), buffer)
    return buffer.getvalue()


@functools.cache
def torch_save(width: int) -> bytes:
    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(width, 2).state_dict(), buffer)
    return buffer.getvalue()


@functools.cache
def exported(width: int) -> bytes:
    """A torch.export program of a Linear layer, the batch dimension dynamic."""
    module = torch.nn.Linear(width, 2).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(module, (torch.zeros(2, width),), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()
