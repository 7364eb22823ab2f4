"""The type stubs of the compiled module match it (mypy's stubtest), and the package
type-checks against them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import icechunk

PACKAGE = Path(icechunk.__file__).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=600, check=False
    )


# `_icechunk.pyi` re-exports the stubs of the other two; stubtest checks a class only in the
# module whose stub defines it, so each is checked under its own name.
STUBBED = ["icechunk._icechunk", "icechunk._icechunk_credentials", "icechunk._icechunk_values"]


def test_stubtest_binding() -> None:
    result = run("mypy.stubtest", *STUBBED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_type_checks() -> None:
    assert (PACKAGE / "py.typed").exists()
    result = run("mypy", "--no-incremental", str(PACKAGE))
    assert result.returncode == 0, result.stdout + result.stderr
