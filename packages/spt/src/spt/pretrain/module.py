"""``SSLPretrainModule``: an ``spt_module.Module`` built from an encoder and objective config."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from typing_extensions import override

from spt._lightning import attached_trainer
from spt.backbone.timeseries import masked_mean
from spt.ema import TeacherStudent, attach_teacher_updates
from spt.pretrain._config import IMPORTS_KEY, import_components, normalize_config, to_plain
from spt.pretrain.encoders import TimeSeriesEncoder, build_encoder
from spt.pretrain.objectives.objective import Objective
from spt.pretrain.optim import build_optim_spec
from spt.pretrain.registry import OBJECTIVES
from spt_module import Module

__all__ = ["SSLPretrainModule", "load_encoder"]

_STAGE_PREFIX = {"fit": "train", "validate": "val", "test": "test"}
_NOT_METRICS = ("loss", "label", "embedding")


class SSLPretrainModule(Module):
    """Pretrain any registered encoder with any registered SSL objective, from a config.

    The config has sections ``encoder`` (``name`` plus the encoder's parameters, ``d_input``
    being the number of channels of the series), ``ssl`` (``name`` plus the objective's
    parameters), ``optimizer`` (``name``: adam, adamw or sgd, with ``lr``, ``weight_decay``,
    ``momentum``, ...) and optionally ``scheduler`` (``name``: cosine, step, plateau or
    warmup_cosine). An optional ``imports`` key lists modules to import first, so that
    encoders and objectives registered there can be named.

    The encoder becomes ``self.encoder``, the objective's components (heads, losses,
    settings) become attributes too, and the objective's ``forward(self, batch, stage)`` is
    the module's forward; ``spt_optim`` builds the optimizer and ``spt_module.Module`` steps
    it. Batches are dicts with ``timeseries`` (B, T, C) float and optionally ``mask`` (B, T)
    bool, True where a step is observed (``spt_data.synthetic_timeseries`` samples).

    Logged: ``train/loss`` (step and epoch), ``val/loss`` (epoch), ``train/{metric}`` and
    ``val/{metric}`` (epoch) for every metric the objective returns, ``train/lr`` (step) and
    ``Module``'s ``hparams/lr_default``.

    Args:
        config: a dict, a dataclass or an OmegaConf ``DictConfig`` with the sections above.

    Raises:
        ValueError: a missing section (named), an unknown encoder, objective, optimizer or
            scheduler name (the known ones listed) or a parameter a component does not accept
            (named, with the accepted ones).

    Examples:
        >>> module = SSLPretrainModule({
        ...     "encoder": {"name": "transformer", "d_input": 3, "d_model": 32},
        ...     "ssl": {"name": "mae", "mask_ratio": 0.15},
        ...     "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01},
        ... })
        >>> loss, metrics = module.compute_loss(torch.randn(4, 20, 3))
        >>> loss.shape, sorted(metrics)
        (torch.Size([]), ['hidden_fraction', 'mse_visible'])
    """

    log_loss = False  # logs train/loss (step and epoch), val/loss and the metrics itself

    def __init__(self, config: Any) -> None:
        cfg = normalize_config(config)
        import_components(cfg.get(IMPORTS_KEY))  # user components register on import
        encoder = build_encoder(cfg["encoder"])
        objective: Objective = OBJECTIVES.build(cfg["ssl"], encoder)
        optim = build_optim_spec(cfg["optimizer"], cfg.get("scheduler"))
        components = {"encoder": encoder, **objective.components}
        super().__init__(forward=objective.forward, optim=optim, hparams=cfg, **components)
        self.config = cfg
        self.objective = objective

    @override
    def forward(self, batch: Any, stage: str) -> Any:
        """The objective's step dict ``{"loss", **metrics, "embedding", "label"?}``, logged.

        ``embedding`` (B, D) is the detached encoder features of the whole series (no step
        hidden), mean-pooled over observed steps and computed in eval mode (no dropout, no
        random numbers drawn), what ``spt.callbacks.OnlineProbe(input="embedding")`` reads;
        ``label`` is the batch's, when it has one (an objective that returns an
        ``embedding`` of its own keeps it). At the predict stage only
        ``{"embedding", "label"?}``.
        """
        if stage == "predict":
            return {
                "embedding": self.embed(batch["timeseries"], batch.get("mask")),
                **_label(batch),
            }
        outputs = dict(super().forward(batch, stage))
        if attached_trainer(self) is not None:  # called by a Trainer's step: log
            self._log_outputs(outputs, stage, int(batch["timeseries"].shape[0]))
        if "embedding" not in outputs:  # an objective's own embedding is kept
            outputs["embedding"] = self._eval_embedding(batch["timeseries"], batch.get("mask"))
        return {**outputs, **_label(batch)}

    def _eval_embedding(self, timeseries: Tensor, mask: Tensor | None) -> Tensor:
        """:meth:`embed` with the encoder in eval mode, its training mode restored after."""
        encoder = self.get_encoder()
        was_training = encoder.training
        encoder.eval()
        try:
            return self.embed(timeseries, mask)
        finally:
            encoder.train(was_training)

    def compute_loss(
        self, timeseries: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The objective's ``(loss, metrics)`` on ``timeseries`` (B, T, C), nothing logged.

        Args:
            timeseries: ``(B, T, C)`` series.
            mask: ``(B, T)`` bool, True where a step is observed (None: all observed).
        """
        batch = (
            {"timeseries": timeseries} if mask is None else {"timeseries": timeseries, "mask": mask}
        )
        outputs = self.objective.forward(self, batch, "fit" if self.training else "validate")
        loss = outputs.pop("loss")
        return loss, {k: v for k, v in outputs.items() if k not in _NOT_METRICS}

    def _log_outputs(self, outputs: dict[str, Any], stage: str, size: int) -> None:
        prefix = _STAGE_PREFIX[stage]
        loss = outputs["loss"]
        if stage == "fit":
            self.log(
                "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size
            )
            lr = (
                self.optimizer_entries[0].optimizer.param_groups[0]["lr"]
                if self.optimizer_entries
                else 0.0
            )
            self.log("train/lr", float(lr), on_step=True, on_epoch=False, batch_size=size)
        else:
            self.log(f"{prefix}/loss", loss, on_step=False, on_epoch=True, batch_size=size)
        for key, value in outputs.items():
            if key not in _NOT_METRICS:
                self.log(f"{prefix}/{key}", value, on_step=False, on_epoch=True, batch_size=size)

    @torch.no_grad()
    def embed(self, timeseries: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encoder features ``(B, D)``, mean-pooled over observed steps (no step hidden)."""
        encoder = cast(TimeSeriesEncoder, self.get_encoder())
        tokens, token_mask = encoder.tokens(timeseries, _observed(mask))
        return masked_mean(tokens, token_mask)

    @override
    def configure_optimizers(self) -> Any:
        """Build the optimizer and scheduler through ``spt_optim`` (see ``Module``).

        ``warmup_cosine``'s epoch counts become optimizer steps here, from the run's length.
        """
        scheduler = self.config.get("scheduler")
        steps_per_epoch = None
        if scheduler is not None and str(scheduler["name"]).lower() == "warmup_cosine":
            steps_per_epoch = self._optimizer_steps_per_epoch()
        self.optim = build_optim_spec(self.config["optimizer"], scheduler, steps_per_epoch)
        return super().configure_optimizers()

    def _optimizer_steps_per_epoch(self) -> int | None:
        from spt_optim import length_from_module

        length = length_from_module(self)  # counts the accumulation the Module applies
        if length is None or length.batches_per_epoch is None:
            return None
        return dataclasses.replace(length, total_batches=None, max_epochs=1).optimizer_steps()

    @override
    def on_train_start(self) -> None:
        """Make an EMA target encoder (``jepa``) follow the optimizer steps."""
        super().on_train_start()
        attach_teacher_updates(self)

    def get_encoder(self) -> nn.Module:
        """The encoder being pretrained (the module's own, not a copy)."""
        encoder = self.encoder
        if isinstance(encoder, TeacherStudent):
            return encoder.student
        assert isinstance(encoder, nn.Module)
        return encoder

    def save_encoder(self, path: str | Path) -> Path:
        """Save the encoder's ``state_dict`` (tensors only) to ``path``.

        Load it with ``load_encoder(path, module.config)``, or into
        ``build_encoder(config["encoder"])`` with ``torch.load(path, weights_only=True)``.

        Returns:
            The path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.get_encoder().state_dict().items()}
        torch.save(state, path)
        return path


def load_encoder(path: str | Path, config: Any) -> nn.Module:
    """Build the encoder of ``config`` and load weights saved by ``save_encoder``.

    Args:
        path: file written by ``SSLPretrainModule.save_encoder``.
        config: the ``encoder`` section, or a whole module config (its ``encoder`` is used).
    """
    plain = to_plain(config)
    import_components(plain.get(IMPORTS_KEY))
    encoder = build_encoder(plain.get("encoder", plain))
    encoder.load_state_dict(torch.load(Path(path), map_location="cpu", weights_only=True))
    return encoder


def _observed(mask: Tensor | None) -> Tensor | None:
    return None if mask is None else mask.bool()


def _label(batch: dict[str, Any]) -> dict[str, Any]:
    return {"label": batch["label"]} if "label" in batch else {}
