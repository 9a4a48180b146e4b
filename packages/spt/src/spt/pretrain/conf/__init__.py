"""Hydra config groups ``encoder/`` and ``ssl/`` for ``hydra.searchpath: [pkg://spt.pretrain.conf]``."""

__all__: list[str] = []
