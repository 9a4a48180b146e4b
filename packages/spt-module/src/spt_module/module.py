"""The Module: one ``forward(self, batch, stage)`` and a manually optimized training step."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torchmetrics import Metric
from typing_extensions import override

from spt_module import _memory_format as memory_format
from spt_module._accumulation import (
    StepCounters,
    is_accumulation_boundary,
    pending_gradients,
    restore_gradients,
)
from spt_module._batch import prepare_batch, require_loss
from spt_module._clipping import Clipping, resolve_clipping
from spt_module._compile import CompileOnce
from spt_module._forward import require_forward_function
from spt_module._gpu_transform import GPU_TRANSFORM_ON_MODULE, GPUTransforms
from spt_module._lightning import attached_trainer, epoch_completed, logs_this_step
from spt_module._optimizers import lightning_configs
from spt_module._parameters import ExcludeCallbackParameters
from spt_module._schedulers import step_epoch_schedulers, step_scheduler_after_optimizer
from spt_module._table import optimizer_table
from spt_module._trainer_settings import SettingsKeeper, TrainerSettings
from spt_module.fsdp import callback_state_names, default_parallelize_fn, reject_fsdp1
from spt_module.metrics import METRICS_KEYS, build_stage_metrics, metric_inputs
from spt_optim import OptimizerEntry, build_optimizers, length_from_module, validate_optim

__all__ = ["Module"]

# The Module overrides on_after_batch_transfer on purpose: it applies the DataModule's
# gpu_transform itself, so Lightning's warning about the override (given whenever a
# DataModule is passed) says nothing useful.
warnings.filterwarnings(
    "ignore", message=r".*overridden `on_after_batch_transfer` in `LightningModule` but have"
)


class Module(ExcludeCallbackParameters, pl.LightningModule):
    """A LightningModule defined by one ``forward(self, batch, stage)``, manually optimized.

    Keyword arguments other than the named ones become attributes (modules are registered as
    submodules). ``forward`` returns a dict; at the ``"fit"`` stage it holds ``"loss"``, on
    which the Module runs one ``manual_backward`` and then steps each optimizer on its own
    accumulation and frequency boundary, with clipping and its scheduler.

    ``Trainer(accumulate_grad_batches=N, gradient_clip_val=..., gradient_clip_algorithm=...)``
    work as with automatic optimization: the Module takes them over in
    ``configure_callbacks`` (before Lightning's check that refuses them under manual
    optimization), resets them on the Trainer and applies them itself. Subclasses that
    override ``configure_callbacks`` or ``on_before_optimizer_step`` must call ``super()``.

    The loss is logged as ``train/loss`` (and ``val/loss``, ``test/loss`` when the forward
    returns one there); learning rates as ``hparams/lr_{name}``; ``metrics=`` per stage.

    Args:
        forward: ``forward(self, batch, stage) -> dict``, with stage ``"fit"``,
            ``"validate"``, ``"test"`` or ``"predict"``. Leave it out when a subclass
            defines ``forward``.
        optim: Optimizer spec of ``spt_optim.build_optimizers`` (None: AdamW with
            CosineAnnealingLR; a single- or multi-optimizer dict), or ``False`` for a module
            that is never optimized (evaluation, or training only callbacks' probes).
        hparams: Hyperparameters saved with ``save_hyperparameters`` (logged, checkpointed).
        parallelize_fn: ``fn(module, device_mesh)`` applied in ``configure_model`` under
            ``strategy="fsdp2"``; default :func:`spt_module.fsdp.default_parallelize_fn`.
        metrics: A torchmetrics Metric, a dict of them, or a per-stage dict
            (``{"train": ..., "val": ..., "test": ...}``); see :mod:`spt_module.metrics`.
        compile: ``torch.compile`` the components in place (``nn.Module.compile``: same
            parameters, ``state_dict`` keys and checkpoints) in ``configure_model``: True for
            every component holding parameters, or a list of names such as ``["backbone"]``.
        compile_mode: The ``torch.compile`` mode (``"max-autotune"``, ...); None: default.
        channels_last: Convert the 4-D weights (convolutions) to channels-last at
            construction, and the 4-D floating tensors of every batch after the GPU
            transform; an ``spt_data.gpu`` transform of the data is asked to write its output
            channels-last, which makes that conversion free.
        **components: Attributes of the module (backbone, projector, loss, ...).

    Raises:
        TypeError: If forward is not a function (a module object such as a method's
            submodule, a class, or a non-callable value), with the function to pass; a Module
            built without one raises on its first call (building one without a forward is
            allowed, e.g. to inspect routing).
        ValueError: If a component name clashes with a LightningModule attribute, or is
            ``gpu_transform``; if ``compile`` names something that is not a component (the
            message lists them) or ``compile_mode`` is not a mode of ``torch.compile``; for an
            ``optim`` spec that cannot build (an unknown optimizer, scheduler or argument, see
            :func:`spt_optim.validate_optim`; quoted numbers such as ``lr: "1e-3"`` are taken
            as numbers, with a warning).

    Examples:
        >>> from spt_module.testing import classification_forward
        >>> module = Module(
        ...     forward=classification_forward,
        ...     backbone=nn.Linear(8, 16),
        ...     head=nn.Linear(16, 3),
        ...     optim={"optimizer": {"type": "SGD", "lr": 0.1}},
        ... )
        >>> module.head
        Linear(in_features=16, out_features=3, bias=True)
    """

    log_loss: bool = True
    """Log ``train/loss`` (on the Trainer's logging steps, in the progress bar) and the epoch
    means ``val/loss`` and ``test/loss`` when the forward returns a loss. A subclass that logs
    its own loss sets it to False."""

    def __init__(
        self,
        *,
        forward: Callable[..., Any] | None = None,
        optim: Any = None,
        hparams: Mapping[str, Any] | None = None,
        parallelize_fn: Callable[[nn.Module, Any], Any] | None = None,
        metrics: Any = None,
        compile: bool | Sequence[str] = False,
        compile_mode: str | None = None,
        channels_last: bool = False,
        **components: Any,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        require_forward_function(forward)
        self._forward_fn = forward
        self.optim = validate_optim(optim)  # a bad spec fails here, before model or data
        self._parallelize_fn = parallelize_fn
        self._parallelized = False
        if hparams is not None:
            self.save_hyperparameters(dict(hparams))
        self.metrics = build_stage_metrics(metrics)
        for name, value in components.items():
            if name == "gpu_transform":
                raise ValueError(GPU_TRANSFORM_ON_MODULE)
            if hasattr(Module, name) or name.startswith("_"):
                raise ValueError(
                    f"Module: component name {name!r} clashes with an attribute of the "
                    f"LightningModule (or is private); rename it, e.g. {name.strip('_')}_module=..."
                )
            setattr(self, name, value)
        self._compile = CompileOnce(self, compile, compile_mode)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            memory_format.to_channels_last(self)
        self.optimizer_entries: list[OptimizerEntry] = []
        self._settings = SettingsKeeper()
        self._counters = StepCounters()
        # Clipping of each optimizer Lightning steps, resolved at train start and looked up
        # by on_before_optimizer_step (a dict filled in place: no nn.Module.__setattr__ on
        # the step path).
        self._clipping: dict[torch.optim.Optimizer, Clipping] = {}
        self._gpu_transforms = GPUTransforms()
        self._restored_gradients: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ forward and steps
    @override
    def forward(self, batch: Any, stage: str) -> Any:
        """Run the user's ``forward(self, batch, stage)``."""
        if self._forward_fn is None:
            raise TypeError(
                "Module: no forward given; pass forward=fn with fn(self, batch, stage) -> dict "
                "(e.g. spt.forward.simclr_forward) or subclass Module and define forward."
            )
        return self._forward_fn(self, batch, stage)

    @override
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        """Forward at stage ``"fit"``, one backward of the joint loss, then optimizer steps.

        Returns:
            The dict from ``forward``, unchanged, for the callbacks' ``on_train_batch_end``.
        """
        batch = prepare_batch(batch, batch_idx, "fit")
        outputs = self(batch, "fit")
        if self.optim is not False:
            loss = require_loss(outputs)
            accumulate = self._settings.settings.accumulate_grad_batches
            self.manual_backward(loss / accumulate if accumulate > 1 else loss)
            self.after_manual_backward()
            trainer = self.trainer
            if is_accumulation_boundary(batch_idx, accumulate, trainer.is_last_batch):
                self._step_optimizers(batch_idx // accumulate + 1)
            if logs_this_step(trainer):
                self._log_step(loss)
        self._update_metrics(outputs, "train")
        return outputs

    def _log_step(self, loss: torch.Tensor) -> None:
        """On the Trainer's logging steps: the loss (progress bar) and each optimizer's lr."""
        if self.log_loss:
            self.log("train/loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        for entry in self.optimizer_entries:
            lr = entry.optimizer.param_groups[0]["lr"]
            self.log(f"hparams/lr_{entry.name}", lr, on_step=True, on_epoch=False)

    def after_manual_backward(self) -> None:
        """Hook run right after ``manual_backward``, before any clipping, step or zero_grad.

        Override it for gradient logging, custom clipping or updates that need the current
        gradients. The default does nothing.
        """

    def _step_optimizers(self, boundary_in_epoch: int) -> None:
        """Step every optimizer whose frequency boundary is reached, then its scheduler."""
        counters = self._counters
        counters.boundaries += 1
        optimizers = self.optimizers()
        if not isinstance(optimizers, list):
            optimizers = [optimizers]
        for entry, optimizer in zip(self.optimizer_entries, optimizers, strict=True):
            if boundary_in_epoch % entry.frequency:
                continue
            optimizer.step()  # clips first, in on_before_optimizer_step
            optimizer.zero_grad()
            steps = counters.count_step(entry.name)
            step_scheduler_after_optimizer(entry, steps, self.trainer)

    @override
    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip the gradients of the optimizer about to step (after AMP unscaling)."""
        clipping = self._clipping.get(optimizer)
        if clipping is not None and clipping.value is not None:
            self.clip_gradients(
                optimizer,
                gradient_clip_val=clipping.value,
                gradient_clip_algorithm=clipping.algorithm,
            )

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> Any:
        """Forward at stage ``"validate"``; the dict goes to the callbacks."""
        outputs = self(prepare_batch(batch, batch_idx, "validate"), "validate")
        self._log_eval_loss(outputs, "val")
        self._update_metrics(outputs, "val")
        return outputs

    @override
    def test_step(self, batch: Any, batch_idx: int) -> Any:
        """Forward at stage ``"test"``; the dict goes to the callbacks."""
        outputs = self(prepare_batch(batch, batch_idx, "test"), "test")
        self._log_eval_loss(outputs, "test")
        self._update_metrics(outputs, "test")
        return outputs

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        """Forward at stage ``"predict"`` (a forward may skip the loss there)."""
        return self(prepare_batch(batch, batch_idx, "predict"), "predict")

    def _log_eval_loss(self, outputs: Any, stage: str) -> None:
        if self.log_loss and isinstance(outputs, Mapping):
            loss = outputs.get("loss")
            if isinstance(loss, torch.Tensor) and loss.numel() == 1:
                self.log(f"{stage}/loss", loss.detach(), on_step=False, on_epoch=True)

    def _update_metrics(self, outputs: Any, stage: str) -> None:
        key = METRICS_KEYS[stage]
        if key not in self.metrics:
            return
        preds, target = metric_inputs(outputs, stage)
        stage_metrics: dict[str, Metric] = self.metrics[key]  # type: ignore[assignment]
        for name, metric in stage_metrics.items():
            metric.update(preds, target)
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True)

    # ------------------------------------------------------------------ epochs and schedulers
    @override
    def on_train_epoch_end(self) -> None:
        """Step the schedulers with ``interval="epoch"`` on their frequency.

        A per-step ReduceLROnPlateau whose metric has still not been logged fails here.
        Skipped for an epoch cut short (``max_steps``) and for an epoch whose schedulers
        already stepped (Lightning re-runs this hook when resuming from a checkpoint saved in
        it).
        """
        trainer = self.trainer
        if not epoch_completed(trainer) or self._counters.epochs_stepped > trainer.current_epoch:
            return
        self._counters.epochs_stepped = trainer.current_epoch + 1
        step_epoch_schedulers(self.optimizer_entries, trainer)

    # ------------------------------------------------------------------ configuration hooks
    @override
    def configure_callbacks(self) -> Any:
        """Take accumulation and clipping over from the Trainer (see the class docstring)."""
        callbacks = super().configure_callbacks()
        trainer = attached_trainer(self)
        if trainer is not None:
            self._settings.take_over(trainer)
        return callbacks

    @property
    def trainer_settings(self) -> TrainerSettings:
        """Accumulation and clipping taken over from the Trainer."""
        return self._settings.settings

    @override
    def setup(self, stage: str) -> None:
        """Reject FSDP1 (``strategy="fsdp"``); forget cached GPU transforms."""
        reject_fsdp1(self.trainer.strategy, where="Module: Trainer(strategy=...)")
        self._gpu_transforms.clear()

    @override
    def configure_model(self) -> None:
        """Apply ``parallelize_fn`` when a device mesh exists (``strategy="fsdp2"``), then
        ``compile`` (once).

        Also tells DDP to leave the parameters of callback modules alone.
        """
        ignored = callback_state_names(self)
        if ignored:
            self._ddp_params_and_buffers_to_ignore = ignored
        if self.device_mesh is not None and not self._parallelized:
            parallelize = self._parallelize_fn or default_parallelize_fn
            parallelize(self, self.device_mesh)
            self._parallelized = True
        self._compile.apply(self)

    @override
    def configure_optimizers(self) -> Any:
        """Build the optimizers with ``spt_optim.build_optimizers``, kept as ``optimizer_entries``.

        The schedule length is :func:`spt_optim.length_from_module`'s, which counts the
        accumulation taken over from the Trainer (``trainer_settings``).
        """
        if self.optim is False:
            self.optimizer_entries = []
            return None
        length = length_from_module(self)
        self.optimizer_entries = build_optimizers(self, self.optim, length)
        return lightning_configs(self.optimizer_entries)

    @override
    def on_train_start(self) -> None:
        """Reject ``Module.gpu_transform``; restore pending gradients; resolve each optimizer's
        clipping (its own, else the Trainer's); print the optimizer table."""
        if getattr(self, "gpu_transform", None) is not None:
            raise ValueError(GPU_TRANSFORM_ON_MODULE)
        if self._restored_gradients:
            restore_gradients(self, self._restored_gradients)
            self._restored_gradients = {}
        self._clipping.clear()
        if not self.optimizer_entries:
            return
        optimizers = self.trainer.optimizers
        if len(optimizers) != len(self.optimizer_entries):
            raise RuntimeError(
                f"Module: Lightning holds {len(optimizers)} optimizers but optimizer_entries "
                f"holds {len(self.optimizer_entries)}; a subclass that overrides "
                "configure_optimizers must return super().configure_optimizers() (set "
                "self.optim to change the spec)."
            )
        clipping = [resolve_clipping(e, self._settings.settings) for e in self.optimizer_entries]
        self._clipping.update(zip(optimizers, clipping, strict=True))
        rank_zero_info("Optimizers:\n" + optimizer_table(self.optimizer_entries, clipping))

    # ------------------------------------------------------------------ batches
    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Apply the GPU transform of the dataset or DataModule (see ``_gpu_transform``).

        The transform is resolved once per stage and DataLoader (``GPUTransforms``). With
        ``channels_last``, image batches come out channels-last.
        """
        trainer = attached_trainer(self)
        if trainer is None:
            return batch
        transform = self._gpu_transforms.get(
            trainer, dataloader_idx, self.device, self.channels_last
        )
        batch = batch if transform is None else transform(batch)
        return memory_format.channels_last_batch(batch) if self.channels_last else batch

    # ------------------------------------------------------------------ checkpoints
    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the step counters and pending gradients (Lightning saves the optimizers)."""
        checkpoint["spt_module"] = {
            "counters": self._counters.state_dict(),
            "pending_gradients": pending_gradients(self),
        }

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the step counters; pending gradients go back on at train start."""
        state = checkpoint.get("spt_module", {})
        self._counters.load_state_dict(state.get("counters", {}))
        self._restored_gradients = state.get("pending_gradients", {})
