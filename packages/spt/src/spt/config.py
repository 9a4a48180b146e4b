"""Small functions for YAML configs, where Python statements such as ``model.fc = Identity()``
cannot be written.

Example (YAML)::

    backbone:
      _target_: spt.config.without_head
      model: {_target_: spt.backbone.from_torchvision, name: resnet18, low_resolution: true}
"""

from __future__ import annotations

from torch import nn

__all__ = ["without_head"]


def without_head(model: nn.Module, attribute: str = "fc") -> nn.Module:
    """Replace ``model.<attribute>`` (the classifier) with ``nn.Identity`` and return the model.

    Args:
        model: A network such as a torchvision ResNet.
        attribute: The name of its head (``"fc"`` for ResNets, ``"heads"`` for torchvision ViTs,
            ``"classifier"`` for others).

    Raises:
        AttributeError: If the model has no such module, naming the children it has.

    Examples:
        >>> import torchvision
        >>> without_head(torchvision.models.resnet18()).fc
        Identity()
    """
    if not isinstance(getattr(model, attribute, None), nn.Module):
        children = [name for name, _ in model.named_children()]
        raise AttributeError(
            f"without_head: the model has no module {attribute!r}; its children are {children}"
        )
    setattr(model, attribute, nn.Identity())
    return model
