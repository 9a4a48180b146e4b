"""The ``spt`` command: ``spt CONFIG.yaml [key=value ...] [-m]``, and ``spt eval | embed | plot``.

The YAML file is composed by Hydra (its folder is the config path, its name the config name),
command-line overrides are applied, then :func:`spt._hydra.run_config` builds the Trainer,
the Module, the data and the callbacks from their ``_target_`` entries and runs them with a
:class:`spt.Manager`. The subcommands are dispatched to ``spt.eval.main``, ``spt.embed.main``
and ``spt.plots.main``, each imported only when asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["SUBCOMMANDS", "USAGE", "check_file", "main"]

USAGE = """\
usage: spt CONFIG.yaml [OVERRIDE ...] [-m | --multirun] [HYDRA FLAGS]
       spt eval {knn,linear,finetune} CONFIG.yaml [OVERRIDE ...]
       spt embed CONFIG.yaml [OVERRIDE ...]
       spt plot RUN_DIR [RUN_DIR ...]

Train what a YAML config describes: the sections trainer, module and data (and optionally
callbacks) are built from their `_target_` entries with Hydra, and an spt.Manager runs the
fit (seeding, run directory, checkpoints and exact resume, CSV or wandb logs, final table).

  spt examples/simclr_digits.yaml
  spt examples/simclr_digits.yaml trainer.max_epochs=5 module.optim.optimizer.lr=0.01
  spt examples/simclr_digits.yaml manager.seed=1 +trainer.limit_train_batches=2
  spt examples/simclr_digits.yaml -m manager.seed=0,1,2          # a sweep, one run each
  spt examples/cifar10/simclr_slurm.yaml -m hydra.launcher.partition=gpu \\
      hydra.launcher.timeout_min=720                            # SLURM (pip install 'spt[slurm]')

Overrides use Hydra's syntax: key=value changes a key, +key=value adds one, ~key removes one.
Useful Hydra flags: --cfg job (print the composed config and exit), --info, --hydra-help.
Runs go to Hydra's output directory (outputs/DATE/TIME, or multirun/... with -m) unless
manager.run_dir is set; then that directory also holds Hydra's config of each invocation
(.hydra/<time>/) and cli.log. A run whose directory holds a checkpoint resumes from it; a
finished one prints its table and changes nothing. Each run writes results.json, and a -m
sweep a summary table (summary.txt) in its directory. A run stopped by SIGTERM or SIGUSR1
checkpoints and exits with status 128 + the signal's number.

After a run: `spt eval` evaluates its saved backbone offline (kNN, linear, fine-tune),
`spt embed` writes embeddings to disk, `spt plot` redraws (and compares) training curves;
`spt eval --help` and the others print their own usage.

A config's `_target_` imports and runs code: only run configs you trust.
"""

SUBCOMMANDS = {"eval": "spt.eval", "embed": "spt.embed", "plot": "spt.plots"}
"""Subcommand -> the module whose ``main(argv: list[str]) -> int`` runs it."""

_HYDRA_HELP_FLAGS = ("--hydra-help", "--info", "-i", "--cfg", "-c", "--resolve", "--package", "-p")


def _error(message: str, status: int = 2) -> int:
    print(f"spt: error: {message}", file=sys.stderr)
    return status


def _split(argv: Sequence[str]) -> tuple[Path | None, list[str]]:
    config: Path | None = None
    rest: list[str] = []
    for arg in argv:
        if config is None and not arg.startswith("-") and "=" not in arg:
            config = Path(arg)
        else:
            rest.append(arg)
    return config, rest


def check_file(config: Path) -> str | None:
    """A message when the file is missing or not valid YAML, else ``None``."""
    if config.suffix not in (".yaml", ".yml"):
        return f"the config must be a .yaml file, got '{config}'"
    if not config.is_file():
        return f"config file '{config}' not found"
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        loaded = OmegaConf.load(config)
    except (OmegaConfBaseException, ValueError) as exc:  # yaml errors are ValueErrors here
        return f"{config}: not a valid YAML config: {exc}"
    except Exception as exc:
        return f"{config}: not a valid YAML config: {exc}"
    if not hasattr(loaded, "keys"):
        return f"{config}: the top level must be a mapping of sections (trainer, module, data)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spt`` command; returns the exit status.

    Args:
        argv: The arguments after the program name (default ``sys.argv[1:]``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return _run_subcommand(args[0], args[1:])
    if not args or args[0] in ("-h", "--help") or (len(args) == 1 and args[0] == "help"):
        print(USAGE, end="")
        return 0 if args else 2
    config, rest = _split(args)
    if config is None:
        return _error("no config file given\n\n" + USAGE)
    if "-h" in rest or "--help" in rest:
        print(USAGE, end="")
        return 0
    message = check_file(config)
    if message is not None:
        return _error(message)
    return _run_hydra(config.resolve(), rest, shown=str(config))


def _run_subcommand(name: str, argv: list[str]) -> int:
    import importlib

    module = importlib.import_module(SUBCOMMANDS[name])
    code = module.main(argv)
    return int(code) if code is not None else 0


def _log_once() -> None:
    """Lightning's loggers have their own console handler: stop them also reaching Hydra's."""
    import logging

    import lightning.pytorch  # noqa: F401  (it installs its handlers on import)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        if logger.handlers:
            logger.propagate = False


def _run_hydra(config: Path, overrides: list[str], shown: str) -> int:
    import hydra
    from omegaconf import DictConfig

    from spt._failure_log import log_failure
    from spt._hydra import run_config
    from spt._invocation import plan_invocation, record_sweep_job
    from spt._preflight import check_command_line
    from spt._results import report_finished

    problem = check_command_line(config, overrides, shown)  # before Hydra makes a directory
    if problem is not None:
        return _error(problem, status=1)  # the status of Hydra's config errors
    plan = plan_invocation(config, overrides)
    if plan.finished is not None and plan.run_dir is not None:  # nothing to run, nothing written
        report_finished(plan.run_dir, plan.finished)
        return 0
    results: list[Any] = []

    def task(cfg: DictConfig) -> dict[str, float]:
        from hydra.core.hydra_config import HydraConfig

        _log_once()
        output_dir = HydraConfig.get().runtime.output_dir
        run_dir = (cfg.get("manager") or {}).get("run_dir") or output_dir
        try:
            metrics = run_config(cfg, shown, run_dir=output_dir)
        except Exception as exc:
            log_failure(exc)  # into the run's cli.log; Hydra prints it on the console
            raise
        finally:
            if plan.multirun:
                record_sweep_job(run_dir)
        results.append(metrics)
        return metrics

    entry = hydra.main(version_base="1.3", config_path=str(config.parent), config_name=config.stem)
    argv, sys.argv = sys.argv, ["spt", *plan.overrides]
    try:
        entry(task)()
    except SystemExit as exc:  # Hydra exits 1 after printing a config or job error
        code = exc.code
        return code if isinstance(code, int) else 1
    finally:
        sys.argv = argv
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
