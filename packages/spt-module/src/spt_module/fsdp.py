"""FSDP2 for :class:`spt_module.Module`: the ``"fsdp2"`` strategy name and the default sharding.

Importing ``spt_module`` registers ``Trainer(strategy="fsdp2")`` in Lightning's
``StrategyRegistry``. It maps to :class:`FSDP2Strategy`, a ``ModelParallelStrategy`` whose
device mesh puts the whole world on the data-parallel axis (Lightning's default mesh puts the
devices of a node on the tensor-parallel axis), so that ``fully_shard`` over
``mesh["data_parallel"]`` is plain FSDP2 data parallelism.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lightning.pytorch.strategies import FSDPStrategy, ModelParallelStrategy, StrategyRegistry
from torch import nn
from typing_extensions import override

from spt_module._lightning import put_devices_on_data_parallel_axis

__all__ = [
    "CALLBACK_PREFIXES",
    "FSDP2Strategy",
    "callback_parameters",
    "callback_state_names",
    "default_parallelize_fn",
    "register_fsdp2",
    "reject_fsdp1",
]

#: Attributes under which callbacks register their modules and metrics on the Module.
CALLBACK_PREFIXES = ("callbacks_modules", "callbacks_metrics")


class FSDP2Strategy(ModelParallelStrategy):
    """``ModelParallelStrategy`` with all devices on the data-parallel axis (tensor parallel = 1).

    Args:
        data_parallel_size: ``"auto"`` (the world size) or an int.
        tensor_parallel_size: ``"auto"`` (1) or an int.
        **kwargs: Passed to ``ModelParallelStrategy``.
    """

    def __init__(
        self,
        data_parallel_size: Any = "auto",
        tensor_parallel_size: Any = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            data_parallel_size=data_parallel_size,
            tensor_parallel_size=tensor_parallel_size,
            **kwargs,
        )

    @override
    def setup_environment(self) -> None:
        put_devices_on_data_parallel_axis(self)
        super().setup_environment()


def register_fsdp2() -> None:
    """Register ``"fsdp2"`` in Lightning's StrategyRegistry (idempotent)."""
    if "fsdp2" not in StrategyRegistry:
        StrategyRegistry.register(
            "fsdp2",
            FSDP2Strategy,
            description="FSDP2 (fully_shard) data parallelism over all devices (spt_module)",
        )


def _is_fsdp1(strategy: Any) -> bool:
    if isinstance(strategy, str):
        return strategy in FSDPStrategy.get_registered_strategies()
    if isinstance(strategy, type):
        return issubclass(strategy, FSDPStrategy)
    return isinstance(strategy, FSDPStrategy)


def reject_fsdp1(strategy: Any, where: str = "Trainer(strategy=...)") -> None:
    """Refuse FSDP1 (``strategy="fsdp"``, an ``FSDPStrategy``), naming ``"fsdp2"`` instead.

    :class:`spt_module.Module` calls it in ``setup``; the ``spt`` command and
    ``spt.Manager(trainer={...})`` call it on a config's strategy before the Trainer is built,
    so that on a CPU this advice comes before Lightning's "requires a GPU accelerator".

    Args:
        strategy: A strategy name, class or instance (anything else passes).
        where: The setting as the message names it (``"trainer.strategy"`` for a config).

    Raises:
        ValueError: For FSDP1, with the reason and the fix.

    Examples:
        >>> reject_fsdp1("fsdp2")
        >>> reject_fsdp1("fsdp", where="trainer.strategy")
        Traceback (most recent call last):
        ...
        ValueError: trainer.strategy='fsdp' (FSDP1) is not supported by spt_module.Module: ...
    """
    if not _is_fsdp1(strategy):
        return
    if isinstance(strategy, str):
        given = repr(strategy)
    else:
        given = getattr(strategy, "__name__", None) or f"{type(strategy).__name__}(...)"
    raise ValueError(
        f"{where}={given} (FSDP1) is not supported by spt_module.Module: its flat-parameter "
        "state machine allows one forward/backward per step, which multi-forward methods "
        "(DINO, I-JEPA, ...) break. Use strategy='fsdp2' instead (FSDP2: fully_shard, "
        "registered by spt_module; it also runs on a CPU with gloo)."
    )


def _callback_modules(module: nn.Module) -> Iterator[nn.Module]:
    for name in CALLBACK_PREFIXES:
        child = getattr(module, name, None)
        if isinstance(child, nn.Module):
            yield child


def callback_state_names(module: nn.Module) -> list[str]:
    """Qualified names of the parameters and buffers of callback modules (DDP ignores them)."""
    names = []
    for prefix in CALLBACK_PREFIXES:
        child = getattr(module, prefix, None)
        if isinstance(child, nn.Module):
            names += [name for name, _ in child.named_parameters(prefix=prefix)]
            names += [name for name, _ in child.named_buffers(prefix=prefix)]
    return names


def callback_parameters(module: nn.Module) -> set[nn.Parameter]:
    """Parameters of the modules that callbacks registered on ``module``."""
    return {p for child in _callback_modules(module) for p in child.parameters()}


def default_parallelize_fn(
    module: nn.Module,
    device_mesh: Any,
    *,
    min_num_params: int = 1_000_000,
    **fully_shard_kwargs: Any,
) -> nn.Module:
    """Apply ``fully_shard`` bottom-up to submodules worth sharding, then to the root.

    A submodule is worth sharding when it holds at least ``min_num_params`` parameter values
    not already in a sharded descendant (the size-based policy of FSDP1's auto-wrap). Modules
    that callbacks registered (``callbacks_modules``, ``callbacks_metrics``) are left
    unsharded: their optimizers are built before sharding.

    Args:
        module: The Module to shard, in place.
        device_mesh: The strategy's mesh; its ``"data_parallel"`` dimension is used if named.
        min_num_params: Size threshold of a shard group.
        **fully_shard_kwargs: Passed to ``fully_shard`` (``mp_policy``, ``reshard_after_forward``).

    Returns:
        The sharded module.
    """
    from torch.distributed.fsdp import fully_shard

    names = getattr(device_mesh, "mesh_dim_names", None) or ()
    mesh = device_mesh["data_parallel"] if "data_parallel" in names else device_mesh
    skip = {id(m) for child in _callback_modules(module) for m in child.modules()}
    ignored = callback_parameters(module)

    def shard(sub: nn.Module) -> int:
        pending = sum(p.numel() for p in sub.parameters(recurse=False))
        for child in sub.children():
            if id(child) not in skip:
                pending += shard(child)
        if sub is not module and pending >= min_num_params:
            fully_shard(sub, mesh=mesh, ignored_params=ignored or None, **fully_shard_kwargs)
            return 0
        return pending

    shard(module)
    fully_shard(module, mesh=mesh, ignored_params=ignored or None, **fully_shard_kwargs)
    return module
