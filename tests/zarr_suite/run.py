"""zarr-python's own array, indexing and codec tests, run with ``icechunk.CodecPipeline``
switched on and IcechunkStores in place of the suite's memory and local stores (issue 16,
item 5). See ``zarr_suite_plugin.py`` for what is substituted and what is expected to fail.

    python tests/zarr_suite/run.py            # the installed zarr's version of its tests

The suite is the source distribution of the installed zarr version, fetched once from PyPI
(``pip download``) into ``~/.cache/icechunk-zarr-suite`` (or ``$ICECHUNK_ZARR_SUITE_CACHE``).
Exits non-zero when a test fails, or when no batch took the pipeline's own path (the run
would then prove nothing about it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = ["tests/test_array.py", "tests/test_indexing.py", "tests/test_codecs"]


def zarr_source(version: str) -> Path:
    """The unpacked source distribution of zarr ``version`` (fetched on first use)."""
    default = Path.home() / ".cache" / "icechunk-zarr-suite"
    cache = Path(os.environ.get("ICECHUNK_ZARR_SUITE_CACHE", default))
    source = cache / f"zarr-{version}"
    if (source / "tests" / "conftest.py").exists():
        return source
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        pip += ["--no-binary", ":all:", "--dest", tmp, f"zarr=={version}"]
        subprocess.run(pip, check=True)
        (archive,) = Path(tmp).glob("zarr-*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        Path(tmp, f"zarr-{version}").rename(source)
    return source


def main() -> int:
    import zarr

    source = zarr_source(zarr.__version__)
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        env = {
            **os.environ,
            "ZARR_CODEC_PIPELINE__PATH": "icechunk.CodecPipeline",
            "ICECHUNK_ZARR_SUITE_REPORT": str(report_path),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        # zarr's own pytest settings (its pyproject.toml), but for the benchmark plugin's
        # options: pytest-benchmark is not among our test dependencies.
        command = [sys.executable, "-m", "pytest", "-p", "zarr_suite_plugin", "-p"]
        command += ["no:cacheprovider", "-o", "addopts=", "-q", "-rfX", *SUITE]
        done = subprocess.run(command, cwd=source, env=env, check=False)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    batches = report.get("batches", {})
    native = sum(n for kind, n in batches.items() if kind.endswith(" all")) - sum(
        n for kind, n in batches.items() if kind.endswith(" fallback")
    )
    print(f"zarr {zarr.__version__}'s tests with icechunk.CodecPipeline: {report}")
    if done.returncode != 0:
        print("zarr's suite FAILED with the pipeline on IcechunkStores", file=sys.stderr)
        return done.returncode
    if native <= 0:
        print("no batch took the pipeline's own path: the run proves nothing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
