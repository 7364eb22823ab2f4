"""The main job: ``python -m icechunk demo PATH`` plays the talk and tells it clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_and_tells_the_story(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "icechunk", "demo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for line in (
        "=== 1. Plain Zarr on a LocalStore",
        "ingest broke after 1234 of 2000 writes",
        "Mean of the whole array is now 0.617",
        "=== 2. The same on an icechunk repository",
        "nothing was committed",
        "The reader saw only [0.0, 1.0]",
        "Mean is 0.000; main is still at",
        "the tag still reads 1.0",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    assert (tmp_path / "plain-zarr").is_dir() and (tmp_path / "icechunk-repo").is_dir()
    # A second run refuses to mix with the first one's data.
    again = subprocess.run(
        [sys.executable, "-m", "icechunk", "demo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2 and "empty or new directory" in again.stdout
