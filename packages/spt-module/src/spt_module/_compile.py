"""``torch.compile`` for chosen components of a module, in place.

``nn.Module.compile`` compiles a module's ``__call__`` and leaves the module where it is, so
its parameters, ``state_dict`` keys and checkpoints are those of the eager module; the
compilation itself happens at the first call.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from spt_module.fsdp import CALLBACK_PREFIXES

__all__ = [
    "CompileOnce",
    "check_compile_mode",
    "compile_components",
    "compiled_names",
    "components_to_compile",
]


def components_to_compile(module: nn.Module) -> list[str]:
    """Names of the top-level components of ``module`` that hold parameters.

    The modules that callbacks register on the module (``callbacks_modules``, ...) are
    trained by the callbacks and left out.
    """
    return [
        name
        for name, child in module.named_children()
        if name not in CALLBACK_PREFIXES and any(True for _ in child.parameters())
    ]


def compiled_names(module: nn.Module, compile: bool | Sequence[str]) -> list[str]:
    """The components ``compile=`` selects: all of :func:`components_to_compile`, or the named.

    Raises:
        TypeError: If ``compile`` is neither a bool nor a list of names.
        ValueError: If a name is not a component of ``module`` that is an ``nn.Module``.
    """
    if isinstance(compile, bool):
        return components_to_compile(module) if compile else []
    if isinstance(compile, str) or not isinstance(compile, Sequence):
        raise TypeError(
            f"Module: compile={compile!r} must be True, False or a list of component names "
            "such as ['backbone']"
        )
    children = dict(module.named_children())
    unknown = [name for name in compile if name not in children or name in CALLBACK_PREFIXES]
    if unknown:
        known = ", ".join(components_to_compile(module)) or "none"
        raise ValueError(
            f"Module: compile={list(compile)!r} names {unknown}, which are not components of "
            f"the module; components with parameters are: {known}"
        )
    return list(dict.fromkeys(compile))


def check_compile_mode(mode: str | None, compile: bool | Sequence[str]) -> str | None:
    """``mode`` if it is one of ``torch.compile``'s modes and something is compiled.

    Raises:
        ValueError: For an unknown mode, or a mode given with ``compile=False``.
    """
    if mode is None:
        return None
    if compile is False or (not isinstance(compile, bool) and len(compile) == 0):
        raise ValueError(
            f"Module: compile_mode={mode!r} but compile={compile!r}; pass compile=True (or a "
            "list of components) to compile, or leave compile_mode out"
        )
    from torch._inductor import list_mode_options

    modes = sorted(list_mode_options())
    if mode not in modes:
        raise ValueError(
            f"Module: compile_mode={mode!r} is not a torch.compile mode; use one of {modes}"
        )
    return mode


def compile_components(
    module: nn.Module, compile: bool | Sequence[str] = True, mode: str | None = None
) -> list[str]:
    """Compile the selected components of ``module`` in place with ``nn.Module.compile``.

    Works on any ``nn.Module`` (``spt.Module`` calls it in ``configure_model``); calling it
    again recompiles.

    Args:
        module: The model whose components are compiled (its direct children).
        compile: True for every component holding parameters, or a list of names.
        mode: A ``torch.compile`` mode (``"max-autotune"``, ``"reduce-overhead"``, ...).

    Returns:
        The names of the compiled components.

    Raises:
        ValueError: For an unknown component name or mode (see :func:`compiled_names`).

    Examples:
        >>> model = nn.Module()
        >>> model.backbone, model.loss = nn.Linear(4, 2), nn.MSELoss()
        >>> compile_components(model)
        ['backbone']
        >>> list(model.state_dict())
        ['backbone.weight', 'backbone.bias']
    """
    names = compiled_names(module, compile)
    mode = check_compile_mode(mode, compile)
    for name in names:
        child = getattr(module, name)
        child.compile(mode=mode)
    return names


class CompileOnce:
    """What a Module's ``compile=`` and ``compile_mode=`` ask for, checked at construction.

    :meth:`apply` compiles the components once (``spt.Module.configure_model`` calls it
    after any FSDP2 sharding); later calls do nothing.

    Args:
        module: The module whose components are compiled.
        compile: True, False or a list of component names.
        mode: A ``torch.compile`` mode, or None.

    Raises:
        TypeError, ValueError: As :func:`compiled_names` and :func:`check_compile_mode`.
    """

    def __init__(self, module: nn.Module, compile: bool | Sequence[str], mode: str | None) -> None:
        self.names = compiled_names(module, compile)
        self.mode = check_compile_mode(mode, compile)
        self.done = False

    def apply(self, module: nn.Module) -> None:
        """Compile the selected components of ``module`` unless already done."""
        if self.done or not self.names:
            return
        compile_components(module, self.names, self.mode)
        self.done = True
