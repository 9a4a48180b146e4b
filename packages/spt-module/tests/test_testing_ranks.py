"""spt_module.testing.run_ranks: each rank runs the script as `python script` would, with its
torchrun environment and arguments, and a failing rank's own output reaches the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from spt_module.testing import run_ranks

SCRIPT = """\
import os, sys
from pathlib import Path
out = Path(sys.argv[1])
rank = os.environ["RANK"]
(out / f"rank{rank}.txt").write_text(
    " ".join([__name__, rank, os.environ["WORLD_SIZE"], os.environ["MASTER_PORT"], *sys.argv[2:]])
)
if sys.argv[2:] == ["fail"] and rank == "1":
    print("rank one says why")
    raise SystemExit(3)
"""


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "rank_script.py"
    script.write_text(SCRIPT)
    return script


def test_each_rank_runs_the_script_as_main_with_its_environment(tmp_path: Path) -> None:
    run_ranks(_script(tmp_path), str(tmp_path), "extra", world=3)
    lines = [(tmp_path / f"rank{r}.txt").read_text().split() for r in range(3)]
    assert [line[:3] for line in lines] == [["__main__", str(r), "3"] for r in range(3)]
    assert len({line[3] for line in lines}) == 1  # one port for the whole group
    assert all(line[4:] == ["extra"] for line in lines)


def test_a_failing_rank_raises_with_its_exit_code_and_output(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"rank 1 failed \(3\):\n(.|\n)*rank one says why"):
        run_ranks(_script(tmp_path), str(tmp_path), "fail")
    assert (tmp_path / "rank0.txt").is_file()  # rank 0 finished on its own


def test_a_rank_that_outlives_the_timeout_is_killed_and_reported(tmp_path: Path) -> None:
    script = tmp_path / "sleeper.py"
    script.write_text("import time\ntime.sleep(60)\n")
    with pytest.raises(AssertionError, match="rank 0 still runs after 1 s"):
        run_ranks(script, timeout=1)
