"""Parameters of the model without those of the modules that callbacks registered on it."""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn
from typing_extensions import override

from spt_module.fsdp import CALLBACK_PREFIXES

__all__ = ["ExcludeCallbackParameters"]


class ExcludeCallbackParameters(nn.Module):
    """Mixin: ``named_parameters()`` / ``parameters()`` leave out callback modules' parameters.

    Modules registered under ``callbacks_modules`` or ``callbacks_metrics`` are trained by
    their callbacks, so the model's optimizers, DDP and FSDP2 must not see them. Both
    methods accept ``with_callbacks=True`` to include them, and ``named_parameters``
    accepts ``remove_duplicate`` (FSDP2's ``fully_shard`` passes it).
    """

    @override
    def named_parameters(
        self,
        prefix: str = "",
        recurse: bool = True,
        remove_duplicate: bool = True,
        *,
        with_callbacks: bool = False,
    ) -> Iterator[tuple[str, nn.Parameter]]:
        """Parameters of the model, without those of modules that callbacks registered.

        Args:
            prefix: Prefix of the names.
            recurse: Include submodules.
            remove_duplicate: Yield a shared parameter once (FSDP2 passes False).
            with_callbacks: Also yield ``callbacks_modules`` / ``callbacks_metrics``
                parameters.
        """
        params = super().named_parameters(
            prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate
        )
        if with_callbacks:
            yield from params
            return
        dot = f"{prefix}." if prefix else ""
        skip = tuple(f"{dot}{name}." for name in CALLBACK_PREFIXES)
        for name, param in params:
            if not name.startswith(skip):
                yield name, param

    @override
    def parameters(
        self, recurse: bool = True, *, with_callbacks: bool = False
    ) -> Iterator[nn.Parameter]:
        """Parameters of the model, without callback modules' (see ``named_parameters``)."""
        for _, param in self.named_parameters(recurse=recurse, with_callbacks=with_callbacks):
            yield param
