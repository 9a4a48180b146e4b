"""Settings shared by every test directory of the workspace."""

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_wandb_settings() -> Iterator[None]:
    """End a test's wandb run and forget wandb's process-wide settings after each test.

    wandb reads ``WANDB_MODE`` once per process and keeps it, and Lightning's ``WandbLogger``
    joins a run still open; either would carry one test's ``disabled`` run into the next test's
    ``offline`` one in the same worker.
    """
    yield
    wandb = sys.modules.get("wandb")
    if wandb is not None:
        if wandb.run is not None:
            wandb.finish()
        wandb.teardown()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start with the files that hold a ``slow`` test, the end-to-end ones under ``tests/`` first.

    The suite hands out whole files to its xdist workers in this order (``--no-loadscope-reorder``
    keeps xdist from sorting them by their number of tests); started last, the multi-process
    files (the fault run, the DDP resumes, the wheels) would leave one worker busy long after the
    other has finished. Each file keeps its tests in their order.
    """
    files = list(dict.fromkeys(item.path for item in items))
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    rank = {path: (0, -n) if path in slow else (1, n) for n, path in enumerate(files)}
    items.sort(key=lambda item: rank[item.path])  # a stable sort: each file keeps its order
