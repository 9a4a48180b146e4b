"""Online probe: a small model trained on detached step outputs with its own optimizer."""

from __future__ import annotations

from typing import Any

import lightning as pl
import torch
import torch.distributed as dist
from torch import Tensor, nn
from typing_extensions import override

import spt_optim
from spt_callbacks._lightning import logs_this_step
from spt_callbacks._metrics import StageMetrics, TopOneAccuracy, log_metrics, metric_dict
from spt_callbacks._outputs import check_rows, read_key
from spt_callbacks._state import HeldState, NamedCallback
from spt_callbacks._torch import skip_graph_capture_check

__all__ = ["OnlineProbe"]


def _linears(probe: nn.Module) -> list[nn.Linear]:
    return [m for m in probe.modules() if isinstance(m, nn.Linear)]


def _in_features(probe: nn.Module) -> int | None:
    found = getattr(probe, "in_features", None)
    if isinstance(found, int):
        return found
    linears = _linears(probe)
    return linears[0].in_features if linears and linears[0].in_features > 0 else None


class OnlineProbe(NamedCallback):
    """Train a probe on a key of the training step outputs, evaluate it on validation steps.

    On every training batch the probe reads ``input`` (detached) and ``target`` from the step
    outputs (else the batch), computes ``loss_fn(probe(input), target)`` under the Trainer's
    precision and takes one step of its own optimizer (and scheduler). The main loss, the
    main gradients, ``trainer.global_step`` and the LightningModule are never touched: the
    probe lives in the callback, outside the module's parameters. Under DDP the probe's
    gradients are averaged across ranks, so every rank holds the same probe.

    Logged: ``{name}/train/loss`` on the steps Lightning sends to the loggers (every
    ``log_every_n_steps``, and the last batch of an epoch); ``{name}/train/{metric}`` at the
    end of each training epoch; ``{name}/val/{metric}`` at the end of validation. The probe
    weights, its optimizer, scheduler and gradient scaler are in the callback's checkpoint
    state.

    Args:
        module: The LightningModule being trained (accepted as the first argument, as
            stable-pretraining's ``OnlineProbe`` takes it, and type-checked; nothing is read
            from or set on it).
        name: Name of the probe, prefix of its logged metrics.
        input: Key of the probe's input ``(B, D)`` in the step outputs or the batch.
        target: Key of the target.
        probe: The probe, an ``nn.Module`` (e.g. ``nn.Linear(512, 10)``).
        loss_fn: Called as ``loss_fn(probe(input), target)``; default ``nn.CrossEntropyLoss()``.
        optimizer: An ``spt_optim.build_optimizer`` spec; default AdamW (lr 1e-3, the fused
            implementation on CPU and CUDA).
        scheduler: An ``spt_optim.build_scheduler`` spec stepped after every probe step, one
            per training batch: its default length is the run's training batches
            (``spt_optim.length_from_module(pl_module).training_batches()``); default None
            (constant learning rate).
        metrics: A ``torchmetrics.Metric`` or dict of them fed ``(probe output, target)``;
            None logs top-1 accuracy as ``top1`` (micro-averaged, like
            ``MulticlassAccuracy(C, average="micro")``, with less per-step overhead).

    Raises:
        TypeError: If ``probe`` is not an ``nn.Module`` or a metric is not a Metric.
        ValueError: If ``name`` is empty.

    Examples:
        >>> probe = OnlineProbe(None, name="linear_probe", probe=nn.Linear(512, 10),
        ...                     optimizer={"type": "Adam", "lr": 1e-3})
    """

    def __init__(
        self,
        module: nn.Module | None = None,
        name: str = "probe",
        input: str = "embedding",
        target: str = "label",
        probe: nn.Module | None = None,
        loss_fn: Any = None,
        optimizer: Any = None,
        scheduler: Any = None,
        metrics: Any = None,
    ) -> None:
        super().__init__(name)
        owner = self._owner
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(f"{owner}: module must be the LightningModule, got {type(module)}")
        if not isinstance(probe, nn.Module):
            raise TypeError(
                f"{owner}: probe={probe!r} is not a torch.nn.Module; pass e.g. "
                "probe=torch.nn.Linear(embedding_dim, num_classes)"
            )
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"{owner}: loss_fn={loss_fn!r} is not callable")
        self.input = input
        self.target = target
        self.probe = probe
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        self.optimizer_spec = optimizer  # None: AdamW, built in on_fit_start
        self.scheduler_spec = scheduler
        given = metric_dict(owner, metrics)
        self.metrics = StageMetrics(given if given is not None else {"top1": TopOneAccuracy()})
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.scaler: torch.amp.GradScaler | None = None
        self._held = HeldState()  # optimizer, scheduler, scaler: built in on_fit_start
        self._precision: Any = None
        self._in_features = _in_features(probe)
        self._world = 1  # processes averaging the probe's gradients, known in on_fit_start
        self._params: list[nn.Parameter] = []  # what the optimizer updates, from on_fit_start

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._precision = trainer.precision_plugin
        device = trainer.strategy.root_device
        self.probe = self._precision.convert_module(self.probe).to(device)
        self.metrics.to(device)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        params = [p for p in self.probe.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{self._owner}: the probe has no trainable parameters")
        spec = (
            self.optimizer_spec if self.optimizer_spec is not None else _default_optimizer(params)
        )
        self.optimizer = spt_optim.build_optimizer(spec, params)
        skip_graph_capture_check(self.optimizer)  # a CPU probe's step: no graph to capture
        self._params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if self.scheduler_spec is not None:
            self.scheduler = spt_optim.build_scheduler(
                self.scheduler_spec, self.optimizer, _probe_length(pl_module), interval="step"
            )
        if getattr(self._precision, "scaler", None) is not None:  # fp16 mixed: own scaler
            self.scaler = torch.amp.GradScaler(trainer.strategy.root_device.type)
        self._world = _world_size()
        if self._world > 1:  # start every rank from rank 0's probe
            for tensor in self.probe.state_dict().values():
                dist.broadcast(tensor, src=0)
        self._held.restore(**self._built())

    def _check(self, x: Tensor, y: Tensor) -> None:
        check_rows(self._owner, self.input, x, self.target, y)
        if self._in_features is not None and x.shape[-1] != self._in_features:
            raise ValueError(
                f"{self._owner}: input {self.input!r} has dimension {x.shape[-1]} "
                f"(shape {tuple(x.shape)}) but the probe expects {self._in_features}; make the "
                f"probe's input size {x.shape[-1]} or read another key"
            )

    def _read(self, outputs: Any, batch: Any) -> tuple[Tensor, Tensor]:
        x = read_key(outputs, batch, self.input, owner=self._owner, argument="input").detach()
        y = read_key(outputs, batch, self.target, owner=self._owner, argument="target").detach()
        self._check(x, y)
        return self._precision.convert_input(x), y

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if outputs is None or self.optimizer is None:
            return
        x, y = self._read(outputs, batch)
        with torch.enable_grad(), self._precision.forward_context():
            logits = self.probe(x)
            loss = self.loss_fn(logits, y)
        for p in self._params:  # zero_grad(set_to_none=True), without its profiler context
            p.grad = None
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self._average_gradients()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self._average_gradients()
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.metrics.update("train", logits.detach(), y)
        if logs_this_step(trainer):  # each self.log costs ~0.1 ms of Python: only when kept
            pl_module.log(f"{self.name}/train/loss", loss.detach(), on_step=True, on_epoch=False)

    def _average_gradients(self) -> None:
        world = self._world
        if world == 1:
            return
        for p in self.probe.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad.div_(world)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log_metrics(pl_module, f"{self.name}/train", self.metrics.compute_and_reset("train"))

    @override
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if outputs is None:
            return
        x, y = self._read(outputs, batch)
        was_training = self.probe.training
        self.probe.eval()
        with torch.no_grad(), self._precision.forward_context():
            logits = self.probe(x)
        self.probe.train(was_training)
        self.metrics.update("val", logits, y)

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log_metrics(pl_module, f"{self.name}/val", self.metrics.compute_and_reset("val"))

    def _built(self) -> dict[str, Any]:
        """The objects built in ``on_fit_start`` whose states the checkpoint holds (or None)."""
        return {"optimizer": self.optimizer, "scheduler": self.scheduler, "scaler": self.scaler}

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"probe": self.probe.state_dict(), **self._held.collect(**self._built())}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.probe.load_state_dict(state_dict["probe"])
        self._held.hold({k: v for k, v in state_dict.items() if k != "probe"})
        self._held.restore(**self._built())


def _probe_length(pl_module: pl.LightningModule) -> spt_optim.TrainingLength | None:
    """The probe's schedule length: it steps once per training batch of the run.

    The run's length comes from spt_optim, its one reader of the Trainer. An unbounded run
    (``max_epochs=-1`` without ``max_steps``) gives an empty length: a scheduler that needs
    none (``StepLR``) still builds, one that does fails in ``build_scheduler`` saying so.
    """
    length = spt_optim.length_from_module(pl_module)
    if length is None:
        return None
    try:
        batches = length.training_batches()
    except ValueError:
        return spt_optim.TrainingLength()
    return spt_optim.TrainingLength(total_batches=batches)


def _default_optimizer(params: list[nn.Parameter]) -> Any:
    """AdamW (lr 1e-3), fused where torch has the kernel (CPU and CUDA floating parameters).

    The probe steps on every training batch; the fused kernel updates all its parameters in
    one call, without the per-parameter Python loop of the default implementation (on a
    small probe that loop is most of the probe's step).
    """
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return {"type": "AdamW", "fused": True} if fused else "AdamW"


def _world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_world_size())
    return 1
