"""``SSLPretrainModule``: an encoder and an SSL objective built from a config, on ``spt_module``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from typing_extensions import override

from spt.pretrain._config import (
    IMPORTS_KEY,
    import_components,
    normalize_config,
    to_plain,
)
from spt.pretrain.encoders.base import BaseEncoder, build_encoder, encoder_config, masked_mean
from spt.pretrain.objectives.base import BaseSSLObjective, build_objective
from spt.pretrain.optim_spec import build_optim_spec
from spt_module import Module

_STAGE_PREFIX = {"fit": "train", "validate": "val", "test": "test"}


class SSLPretrainModule(Module):
    """Pretrain any registered encoder with any registered SSL objective, from a config.

    The config has sections ``encoder`` (``name`` plus the encoder's parameters, ``d_input``
    being the number of channels of the series), ``ssl`` (``name`` plus the objective's
    parameters), ``optimizer`` (``name``: adam, adamw or sgd, with ``lr``, ``weight_decay``,
    ``momentum``, ...) and optionally ``scheduler`` (``name``: cosine, step, plateau or
    warmup_cosine). An optional ``imports`` key lists modules to import first, so that
    encoders and objectives registered there can be named. The optimizer and scheduler are
    built by ``spt_optim`` and stepped by ``spt_module.Module``'s manual optimization
    (accumulation, clipping, scheduler intervals).

    Batches are dicts with ``timeseries`` (B, T, C) float and optionally ``mask`` (B, T) bool,
    True where a step is observed (``spt_data.synthetic_timeseries`` samples).

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
        >>> loss, metrics = module(torch.randn(4, 20, 3), torch.ones(4, 20, dtype=torch.bool))
        >>> loss.shape, sorted(metrics)
        (torch.Size([]), ['hidden_fraction', 'mse_visible'])
    """

    log_loss = False  # logs train/loss, val/loss and the objective's metrics itself

    objective: BaseSSLObjective

    def __init__(self, config: Any) -> None:
        cfg = normalize_config(config)
        import_components(cfg.get(IMPORTS_KEY))  # user components register on import
        encoder = build_encoder(cfg["encoder"])
        objective = build_objective(encoder, cfg["ssl"])
        optim = build_optim_spec(cfg["optimizer"], cfg.get("scheduler"))
        super().__init__(optim=optim, hparams=cfg, objective=objective)
        self.config = cfg
        self._ema_hooks: list[Any] = []

    # ------------------------------------------------------------------ forward and steps
    @override
    def forward(self, timeseries: Any, mask: Any = None) -> Any:
        """Run the SSL objective.

        Called as ``forward(timeseries, mask)`` (seed 003) it returns ``(loss, metrics)``.
        ``spt_module.Module``'s steps call it as ``forward(batch, stage)``; then it returns the
        step dict ``{"loss", **metrics, "label"?}`` (``{"embedding", "label"?}`` at the predict
        stage) and logs under ``train/``, ``val/`` or ``test/``.

        Args:
            timeseries: ``(B, T, C)`` series, or a batch dict (from the Module's steps).
            mask: ``(B, T)`` bool, True = observed (None: all observed), or the stage name.
        """
        if isinstance(timeseries, dict) and isinstance(mask, str):
            return self._step(timeseries, mask)
        return self.objective(timeseries, mask)

    def _step(self, batch: dict[str, Any], stage: str) -> dict[str, Any]:
        x = batch["timeseries"]
        mask = batch.get("mask")
        if stage == "predict":
            return {"embedding": self.embed(x, mask), **_label(batch)}
        loss, metrics = self.objective(x, mask)
        prefix = _STAGE_PREFIX[stage]
        size = int(x.shape[0])
        if stage == "fit":
            self.log(
                "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size
            )
            self.log("train/lr", self._current_lr(), on_step=True, on_epoch=False, batch_size=size)
        else:
            self.log(f"{prefix}/loss", loss, on_step=False, on_epoch=True, batch_size=size)
        for key, value in metrics.items():
            self.log(f"{prefix}/{key}", value, on_step=False, on_epoch=True, batch_size=size)
        return {"loss": loss, **metrics, **_label(batch)}

    @torch.no_grad()
    def embed(self, timeseries: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean-pooled encoder features ``(B, d_model)`` over observed steps (no masking)."""
        observed = None if mask is None else mask.bool()
        latents = self.get_encoder()(
            timeseries, padding_mask=None if observed is None else ~observed
        )
        return masked_mean(latents, observed)

    def _current_lr(self) -> float:
        if not self.optimizer_entries:
            return 0.0
        return float(self.optimizer_entries[0].optimizer.param_groups[0]["lr"])

    # ------------------------------------------------------------------ optimizers and EMA
    @override
    def configure_optimizers(self) -> Any:
        """Build the optimizer and scheduler through ``spt_optim`` (see ``Module``).

        Epoch counts of ``warmup_cosine`` become optimizer steps here, where the number of
        batches per epoch is known.
        """
        self.optim = build_optim_spec(
            self.config["optimizer"], self.config.get("scheduler"), self._steps_per_epoch()
        )
        return super().configure_optimizers()

    def _steps_per_epoch(self) -> float | None:
        trainer = self._trainer
        if trainer is None:
            return None
        _ = trainer.estimated_stepping_batches  # loads the train dataloader
        batches = trainer.num_training_batches
        if not math.isfinite(batches) or batches <= 0:
            return None
        return math.ceil(batches / self.trainer_settings.accumulate_grad_batches)

    @override
    def on_train_start(self) -> None:
        """Hook ``objective.on_optimizer_step`` (EMA targets) after every optimizer step."""
        super().on_train_start()
        self._remove_ema_hooks()
        for entry in self.optimizer_entries:
            hook = entry.optimizer.register_step_post_hook(self._after_optimizer_step)
            self._ema_hooks.append(hook)

    @override
    def on_train_end(self) -> None:
        """Remove the optimizer-step hooks."""
        self._remove_ema_hooks()

    def _after_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.objective.on_optimizer_step()

    def _remove_ema_hooks(self) -> None:
        for hook in self._ema_hooks:
            hook.remove()
        self._ema_hooks = []

    # ------------------------------------------------------------------ the encoder
    def get_encoder(self) -> BaseEncoder:
        """The encoder being pretrained (shared with the objective, not a copy)."""
        encoder: BaseEncoder = self.objective.encoder
        return encoder

    def save_encoder(self, path: str | Path) -> Path:
        """Save the encoder's ``state_dict`` (tensors only) to ``path``.

        Load it into an encoder built from the same config with
        ``load_encoder(path, module.config["encoder"])`` or
        ``build_encoder(cfg).load_state_dict(torch.load(path, weights_only=True))``.

        Returns:
            The path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.get_encoder().state_dict().items()}
        torch.save(state, path)
        return path


def load_encoder(path: str | Path, config: Any) -> BaseEncoder:
    """Build the encoder of ``config`` (the ``encoder`` section) and load weights saved by
    ``SSLPretrainModule.save_encoder`` (``torch.load(..., weights_only=True)``).

    Args:
        path: file written by ``save_encoder``.
        config: the ``encoder`` section, or a whole module config (its ``encoder`` is used).
    """
    plain = to_plain(config)
    if isinstance(plain, dict):
        import_components(plain.get(IMPORTS_KEY))
    section = plain.get("encoder", plain) if isinstance(plain, dict) else plain
    encoder = build_encoder(encoder_config(section))
    encoder.load_state_dict(torch.load(Path(path), map_location="cpu", weights_only=True))
    return encoder


def _label(batch: dict[str, Any]) -> dict[str, Any]:
    return {"label": batch["label"]} if "label" in batch else {}
