"""Route a module's parameters to named optimizers by regex on qualified module names."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

from torch import nn

__all__ = ["UnmatchedParametersWarning", "route_modules", "route_parameters"]

_UNMATCHED = ("warn", "error", "ignore", "freeze")
_LISTED = 20


class UnmatchedParametersWarning(UserWarning):
    """Trainable parameters that no route matched are left out of every optimizer."""


def _compile(routes: Mapping[str, str]) -> dict[str, re.Pattern[str]]:
    compiled: dict[str, re.Pattern[str]] = {}
    for name, pattern in routes.items():
        if not isinstance(pattern, str):
            raise TypeError(
                f"optim route {name!r}: 'modules' must be a regex string over qualified "
                f"module names, got {pattern!r}; write e.g. 'encoder' or '.*head$'"
            )
        try:
            compiled[name] = re.compile(pattern)
        except re.error as err:
            raise ValueError(
                f"optim route {name!r}: pattern {pattern!r} is not a valid regex ({err}); "
                "fix the pattern (escape literal dots and brackets with a backslash)"
            ) from err
    return compiled


def _shown(names: list[str]) -> str:
    head = ", ".join(repr(n) if n == "" else n for n in names[:_LISTED])
    more = len(names) - _LISTED
    return head + (f", ... and {more} more" if more > 0 else "")


def route_modules(module: nn.Module, routes: Mapping[str, str]) -> dict[str, str | None]:
    """The route of every module (qualified name -> route name, None when unrouted).

    A pattern matches a module when ``re.fullmatch(pattern, qualified_name)`` succeeds (the
    root module's name is ``""``). A module takes the route whose pattern matches its own
    name; a module matched by no pattern inherits the route of its parent. So the most
    specific route of a parameter is the one matched by the deepest module on the path
    from the root to the module that owns the parameter.

    Args:
        module: The root module.
        routes: Route name -> regex over qualified module names.

    Returns:
        Route of every module, in ``named_modules()`` order.

    Raises:
        ValueError: When a pattern matches no module (the message lists the module names),
            when two patterns match the same module, or when a pattern is not a valid regex.

    Examples:
        >>> from torch import nn
        >>> model = nn.Module()
        >>> model.encoder = nn.Sequential(nn.Linear(2, 2))
        >>> model.head = nn.Linear(2, 2)
        >>> route_modules(model, {"enc": "encoder", "head": "head"})
        {'': None, 'encoder': 'enc', 'encoder.0': 'enc', 'head': 'head'}
    """
    compiled = _compile(routes)
    names = [name for name, _ in module.named_modules()]
    own: dict[str, str] = {}
    hits: dict[str, int] = dict.fromkeys(compiled, 0)
    for qualified in names:
        matched = [route for route, rx in compiled.items() if rx.fullmatch(qualified)]
        for route in matched:
            hits[route] += 1
        if len(matched) > 1:
            patterns = ", ".join(f"{r!r} ({routes[r]!r})" for r in matched)
            raise ValueError(
                f"optim routes {patterns} all match module {qualified!r}; a module may match "
                "one pattern only. Children inherit their parent's route, so route the parent "
                "alone (e.g. 'backbone' rather than 'backbone.*') and give other children "
                "their own patterns"
            )
        if matched:
            own[qualified] = matched[0]
    for route, count in hits.items():
        if count == 0:
            raise ValueError(
                f"optim route {route!r}: pattern {routes[route]!r} matched no module; "
                f"modules are: {_shown([n for n in names if n]) or '(none)'}"
            )
    resolved: dict[str, str | None] = {}
    for qualified in names:
        resolved[qualified] = _inherited(qualified, own)
    return resolved


def _inherited(qualified: str, own: Mapping[str, str]) -> str | None:
    path = qualified
    while True:
        if path in own:
            return own[path]
        if not path:
            return None
        path = path.rpartition(".")[0]


def route_parameters(
    module: nn.Module,
    routes: Mapping[str, str],
    *,
    unmatched: str = "warn",
) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Assign each trainable parameter of ``module`` to at most one route.

    Parameters come from ``module.named_parameters()`` (so a module that hides some
    parameters there is honoured; shared parameters appear once). A parameter belongs to
    the module that holds it directly and goes to that module's route (see
    :func:`route_modules`: its own match, else its nearest matched ancestor). Frozen
    parameters (``requires_grad=False``) are skipped.

    Args:
        module: The root module.
        routes: Route name -> regex over qualified module names (``re.fullmatch``).
        unmatched: What to do with trainable parameters no route takes: ``"warn"`` (leave
            them out with an :class:`UnmatchedParametersWarning` naming them), ``"error"``
            (raise ``ValueError``), ``"ignore"``, or ``"freeze"`` (set their
            ``requires_grad`` to False, so no gradient is computed for them).

    Returns:
        Route name -> ``(qualified parameter name, parameter)`` pairs, in the order of
        ``routes`` and of ``named_parameters()``; a route may receive an empty list.

    Raises:
        ValueError: See :func:`route_modules`; also for unmatched parameters with
            ``unmatched="error"`` and for a bad ``unmatched`` value.

    Examples:
        >>> from torch import nn
        >>> model = nn.Module()
        >>> model.encoder = nn.Linear(2, 2)
        >>> model.classifier_head = nn.Linear(2, 1)
        >>> routed = route_parameters(model, {"enc": "encoder", "head": ".*head$"})
        >>> {route: [n for n, _ in pairs] for route, pairs in routed.items()}["head"]
        ['classifier_head.weight', 'classifier_head.bias']
    """
    if unmatched not in _UNMATCHED:
        raise ValueError(f"unmatched must be one of {_UNMATCHED}, got {unmatched!r}")
    module_routes = route_modules(module, routes)
    own = {name: route for name, route in module_routes.items() if route is not None}
    routed: dict[str, list[tuple[str, nn.Parameter]]] = {route: [] for route in routes}
    left_out: list[str] = []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        owner = name.rpartition(".")[0]
        route = module_routes.get(owner)
        if route is None and owner not in module_routes:
            route = _inherited(owner, own)
        if route is None:
            left_out.append(name)
        else:
            routed[route].append((name, param))
    if unmatched == "freeze":
        params = dict(module.named_parameters())
        for name in left_out:
            params[name].requires_grad_(False)
    elif left_out and unmatched != "ignore":
        message = (
            f"{len(left_out)} trainable parameter(s) match no optim route and are in no "
            f"optimizer: {_shown(left_out)}. Add a route for them, freeze them "
            "(requires_grad=False, or unmatched='freeze'), or pass unmatched='ignore'"
        )
        if unmatched == "error":
            raise ValueError(message)
        warnings.warn(message, UnmatchedParametersWarning, stacklevel=2)
    return routed
