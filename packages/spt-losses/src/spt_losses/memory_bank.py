"""A ring buffer of past embeddings: MoCo's queue of keys, NNCLR's support set, SwAV's queue."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import _distributed


class MemoryBank(nn.Module):
    """First-in first-out ring buffer of `size` items, gathered across ranks.

    The storage is a buffer of shape `(size, *item_shape)`, so it is in the `state_dict`
    (checkpointed and restored) and follows the module through `.to()`, `.double()` and
    the Trainer's device placement. `ptr` (where the next item goes) and `filled` (how many
    slots hold an item) are buffers too.

    `enqueue(keys)` detaches `keys` (the bank never holds an autograd graph, so nothing
    that reads it back gets a gradient into the step that wrote it), casts them to the
    bank's dtype, gathers them from every rank when `torch.distributed` is initialised
    (rank-major, so every rank holds the same bank), and writes them at `ptr` with
    wrap-around, overwriting the oldest items. `contents()` returns the filled part,
    oldest item first.

    Methods that need the size to be a multiple of the global batch (MoCo: each step then
    replaces whole batches of keys) build the bank with `require_batch_multiple=True`; the
    first `enqueue` then calls `check_global_batch` with the gathered batch. Call it
    yourself at setup to fail earlier.

    Args:
        size: number of items the bank holds, >= 1.
        item_shape: shape of one item, e.g. the embedding width `128` or `(2, 128)`.
        dtype: dtype of the storage. Default float32; `.double()` makes it float64.
        init: `"empty"` (default: nothing is filled; `contents()` grows from 0 rows) or
            `"random"`: full from the start with standard normal rows, L2-normalised
            over the last dimension (the MoCo reference implementation's queue).
        require_batch_multiple: check at the first `enqueue` that `size` is a multiple
            of the gathered batch.
        generator: random generator for `init="random"` (for reproducible banks).

    Shapes:
        - enqueue: keys of shape (B, *item_shape) on each rank.
        - contents(): (filled, *item_shape), oldest first.

    Examples:
        >>> bank = MemoryBank(4, 2)
        >>> bank.enqueue(torch.ones(3, 2))
        >>> bank.enqueue(torch.zeros(2, 2))
        >>> bank.contents()[:, 0].tolist()
        [1.0, 1.0, 0.0, 0.0]
        >>> int(bank.filled), int(bank.ptr)
        (4, 1)
    """

    bank: Tensor
    ptr: Tensor
    filled: Tensor

    def __init__(
        self,
        size: int,
        item_shape: int | Sequence[int],
        *,
        dtype: torch.dtype = torch.float32,
        init: str = "empty",
        require_batch_multiple: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"MemoryBank size must be an int >= 1; got {size!r}")
        shape = (item_shape,) if isinstance(item_shape, int) else tuple(item_shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(
                f"MemoryBank item_shape must be a positive int or a tuple of them; "
                f"got {item_shape!r}"
            )
        if init not in ("empty", "random"):
            raise ValueError(f"MemoryBank init must be 'empty' or 'random'; got {init!r}")
        self.size = size
        self.item_shape = shape
        self.init = init
        self.require_batch_multiple = require_batch_multiple
        self.register_buffer("bank", torch.zeros(size, *shape, dtype=dtype))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self._checked = False
        # host copies of ptr and filled, so a training step never syncs with the device;
        # refreshed from the buffers whenever a state_dict is loaded
        self._ptr = 0
        self._filled = 0
        self.register_load_state_dict_post_hook(_refresh_host_counters)  # type: ignore[no-untyped-call]
        self.reset(generator=generator)

    def extra_repr(self) -> str:
        return f"size={self.size}, item_shape={self.item_shape}, init={self.init!r}"

    @torch.no_grad()
    def reset(self, generator: torch.Generator | None = None) -> None:
        """Empties the bank (or refills it with random rows when `init="random"`)."""
        if self.init == "random":
            rows = torch.randn(self.bank.shape, generator=generator, dtype=torch.float64)
            self.bank.copy_(F.normalize(rows, dim=-1))
            self._set_counters(0, self.size)
        else:
            self.bank.zero_()
            self._set_counters(0, 0)

    def _set_counters(self, ptr: int, filled: int) -> None:
        self._ptr, self._filled = ptr, filled
        self.ptr.fill_(ptr)
        self.filled.fill_(filled)

    def check_global_batch(self, global_batch: int) -> None:
        """Raises ValueError unless `size` is a multiple of `global_batch`.

        Args:
            global_batch: number of items one `enqueue` writes, over all ranks.

        Raises:
            ValueError: naming the size, the global batch and the nearest valid sizes.
        """
        if global_batch < 1 or self.size % global_batch != 0:
            lower = max(global_batch, self.size // max(global_batch, 1) * global_batch)
            raise ValueError(
                f"MemoryBank size {self.size} is not a multiple of the global batch "
                f"{global_batch} (per-rank batch x world size {_distributed.world_size()}); "
                f"use a queue size such as {lower} or {lower + global_batch}"
            )
        self._checked = True

    @property
    def batch_checked(self) -> bool:
        """Whether `check_global_batch` has passed (for checks made once, at the first step)."""
        return self._checked

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Writes `keys` of every rank at `ptr`, overwriting the oldest items.

        Args:
            keys: (B, *item_shape) tensor; detached here, cast to the bank's dtype.

        Raises:
            ValueError: keys whose trailing shape is not `item_shape`, or (with
                `require_batch_multiple`) a size that is not a multiple of the global batch.
        """
        if tuple(keys.shape[1:]) != self.item_shape:
            item = ", ".join(map(str, self.item_shape))
            raise ValueError(
                f"MemoryBank.enqueue expects keys of shape (B, {item}); got {tuple(keys.shape)}"
            )
        keys = _gather_detached(keys.detach().to(self.bank.dtype))  # (W*B, *item_shape)
        n = keys.shape[0]
        if self.require_batch_multiple and not self._checked:
            self.check_global_batch(n)
        if n == 0:
            return
        ptr = self._ptr
        if n > self.size:  # only the newest `size` keys survive
            ptr = (ptr + n - self.size) % self.size
            keys = keys[n - self.size :]
            n = self.size
        end = ptr + n
        if end <= self.size:
            self.bank[ptr:end] = keys
        else:  # wrap around
            self.bank[ptr:] = keys[: self.size - ptr]
            self.bank[: end - self.size] = keys[self.size - ptr :]
        self._set_counters(end % self.size, min(self._filled + n, self.size))

    def contents(self) -> Tensor:
        """The filled part of the bank, oldest item first, shape (filled, *item_shape).

        A copy, never a view of the storage: a loss may keep it for its backward pass while
        `enqueue` overwrites the bank in place in the same step.
        """
        if self._filled < self.size:
            return self.bank[: self._filled].clone()
        return torch.cat([self.bank[self._ptr :], self.bank[: self._ptr]])

    @property
    def full(self) -> bool:
        """Whether every slot holds an item."""
        return self._filled == self.size

    @property
    def num_filled(self) -> int:
        """How many slots hold an item (the host copy of the `filled` buffer)."""
        return self._filled


def _refresh_host_counters(module: nn.Module, incompatible_keys: object) -> None:
    assert isinstance(module, MemoryBank)
    module._ptr = int(module.ptr)
    module._filled = int(module.filled)
    if not 0 <= module._ptr < module.size or not 0 <= module._filled <= module.size:
        raise ValueError(
            f"MemoryBank state_dict has ptr {module._ptr} and filled {module._filled}, "
            f"outside a bank of size {module.size}"
        )


def _gather_detached(x: Tensor) -> Tensor:
    """All-gather along dim 0 without gradient, rank-major; `x` in one process."""
    world = _distributed.world_size()
    if world == 1:
        return x
    out = x.new_empty((world * x.shape[0], *x.shape[1:]))
    dist.all_gather_into_tensor(out, x.contiguous())
    return out


__all__ = ["MemoryBank"]
