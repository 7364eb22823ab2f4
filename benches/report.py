"""Turns the raw results of ``run.py`` into the markdown table and the PNG chart.

``markdown(raw)`` needs only the standard library (``run.py`` calls it in-process);
the chart needs matplotlib, so ``run.py`` runs this file inside a benchmark virtualenv:

    python report.py png results/latest.json results/latest.png
    python report.py md results/latest.json          # print the table again
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

import report_dask_write
import report_pipeline

SYSTEM_LABELS = {
    "ours": "ours",
    "published": "published",
    "zarr-local": "zarr LocalStore",
    "zarr-memory": "zarr MemoryStore",
    "zarr-obstore": "zarr ObjectStore",
    # codec pipelines (see report_pipeline.py): ours with icechunk.CodecPipeline, and zarr's
    # LocalStore with zarrs-python's pipeline
    "ours-pipeline": "ours-pipeline",
    "zarrs-pipeline": "zarrs-pipeline",
}
# Systems of workload s3 only: they get their own section, not a column of the main table.
S3_ONLY = ("zarr-obstore",)
S3_SYSTEMS = ("ours", "published", "zarr-obstore", "ours-pipeline")
COLORS = {
    "ours": "#1f77b4",
    "published": "#ff7f0e",
    "zarr-local": "#2ca02c",
    "zarr-memory": "#9a9a9a",
    "zarr-obstore": "#8c564b",
    "ours-pipeline": "#17becf",
    "zarrs-pipeline": "#bcbd22",
}

STEP_LABELS = {
    "write_commit": "write + commit",
    "write_commit_commit": "of which commit",
    "read_all": "read all",
    "open_read_one": "open + read one chunk",
    "change_one_commit": "change one chunk + commit",
    "ancestry": "ancestry (all snapshots)",
    "diff": "diff across all commits",
    "list_dir_root": "list_dir of the root",
    "list_dir_groups": "list_dir of every group",
    "getsize_prefix_root": "getsize_prefix of the root",
    "getsize_prefix_group": "getsize_prefix of one group",
    "dask_read_all": "dask read of every chunk",
    "build_hierarchy": "create the hierarchy + commit (once)",
}
# Targets of the issue: ours/published at most this, for every timing.
FASTER_THAN_PUBLISHED = 1 / 1.5
VS_LOCAL = {"read_all": 1.10, "open_read_one": 1.5}
# Issue 16: ours/MemoryStore at most this, zarr's default codec pipeline over each store.
VS_MEMORY = {"a.read_all": 1.5, "f.dask_read_all": 1.1}
# ... and write + commit at most this times MemoryStore's write plus our own commit.
WRITE_VS_MEMORY = {"a.write_commit": 1.5, "b.write_commit": 1.5}
COMMIT_MS = 20.0
FLAT = 1.5  # the largest array's one-chunk commit at most this times the smallest's
S3_ROUND_TRIPS = 3  # open + read one chunk on S3: sequential round trips before the chunk's
# Workload v (virtual refs): the commit of a million refs, and the memory of that process.
V_COMMIT_1E6_S = 5.0
V_RSS_MB = 500.0
# Workload v's steps, in the table's order within each ref count: "<step>_<count>" -> label.
V_STEPS = {
    "set_refs": "set {n} refs",
    "commit": "commit {n} refs",
    "open_read_one": "open + read one chunk ({n})",
    "read_chunks": "read 1,000 chunks ({n})",
}


# ---------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------
def metric_key(r: dict[str, Any], name: str) -> str | None:
    """The table row of one figure, or None for figures the table leaves out."""
    w, phase = r["workload"], r["phase"]
    if phase == "prepare":
        if w == "f":  # duplicates (a)'s write + commit
            return None
        return f"{w}.{name}"
    return f"{w}.{name}"


def aggregate(
    raw: dict[str, Any],
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, str]], list[str]]:
    """(samples[row][system], errors[row][system], rows in display order)."""
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[str, dict[str, str]] = defaultdict(dict)
    order: list[str] = []

    def add_row(key: str) -> None:
        if key not in order:
            order.append(key)

    for r in raw["results"]:
        s, w = r["system"], r["workload"]
        for name, v in r["metrics"].items():
            key = metric_key(r, name)
            if key:
                add_row(key)
                samples[key][s].append(v)
        for name, text in r["errors"].items():
            key = f"{w}.{name}" if name not in ("process", "workload") else f"{w}.*"
            if r["phase"] == "prepare" and name in ("process", "workload"):
                key = f"{w}.* (prepare)"
            add_row(key)
            errors[key][s] = text
        rss = r.get("peak_rss_mb")
        if rss and (r["phase"] == "run" or w in ("c", "d", "e")):
            key = f"g.rss_{w}" + ("_prepare" if r["phase"] == "prepare" else "")
            add_row(key)
            samples[key][s].append(rss)
    # v before g: g (memory) closes the main table
    workload_rank = {w: i for i, w in enumerate(["a", "b", "c", "d", "e", "f", "v", "gc", "g"])}
    order.sort(
        key=lambda k: (
            workload_rank.get(k.partition(".")[0], 9),
            k.endswith(("(prepare)", "_prepare")),
            # c: the setup rows (populate) after the measured ones
            k.startswith("c.populate_"),
            # v: grouped by ref count, steps in their order (an error row may come first)
            _v_rank(k),
        )
    )
    return samples, errors, order


def _v_split(name: str) -> tuple[str, str] | None:
    """A step of workload v: (step, count label), e.g. ("commit", "1e6")."""
    step, _, n = name.rpartition("_")
    return (step, n) if step in V_STEPS else None


def _v_rank(key: str) -> tuple[float, int]:
    w, _, name = key.partition(".")
    parts = _v_split(name) if w == "v" else None
    if parts is None:
        return (0.0, 0)
    step, n = parts
    return (float(n), list(V_STEPS).index(step))


def row_label(key: str, raw: dict[str, Any]) -> str:
    w, _, name = key.partition(".")
    if w == "dw":
        return report_dask_write.row_label(name)
    if w == "v" and (parts := _v_split(name)):
        step, n = parts
        return "v. " + V_STEPS[step].format(n=_count(n))
    if w == "g":
        src = name.removeprefix("rss_")
        if src.endswith("_prepare"):
            return f"g. peak memory, ({src[0]}) setup"
        return f"g. peak memory, ({src})"
    if w == "c" and name.startswith("commit_"):
        n = name.removeprefix("commit_")
        return f"c. one-chunk commit, {_count(n)} chunks"
    if name.startswith("populate_"):
        n = name.removeprefix("populate_")
        return f"c. populate {_count(n)} chunks (setup, once)"
    if name.startswith("commits_"):
        return f"d. {int(name.removeprefix('commits_')):,} commits (once)"
    return f"{w}. {STEP_LABELS.get(name, name)}"


def _count(label: str) -> str:
    if label.startswith("1e"):
        return f"10^{label[2:]}"
    return label


def is_memory(key: str) -> bool:
    return key.startswith("g.")


def is_s3(key: str) -> bool:
    """Rows of workload s3, which has its own section."""
    return key.startswith("s3.") or key == "g.rss_s3"


def is_gcs3(key: str) -> bool:
    """Rows of workload gcs3 (gc on S3), which has its own section beside s3's."""
    return key.startswith("gcs3.") or key == "g.rss_gcs3"


def is_dw(key: str) -> bool:
    """Rows of workload dw (Dask distributed writes), which has its own section: its targets
    are against LocalStore and its own chunk counts, not the main table's."""
    return key.startswith("dw.") or key == "g.rss_dw"


def _unit(key: str, v: float) -> tuple[float, str, str]:
    """(scale, unit, format) that suits ``v``."""
    if key.startswith(("g.", "rss")):
        return 1.0, "MB", "{:.0f}"
    if v >= 1:
        return 1.0, "s", "{:.2f}"
    if v >= 0.001:
        return 1e3, "ms", "{:.1f}"
    return 1e6, "µs", "{:.0f}"


def fmt_value(key: str, v: float) -> str:
    scale, unit, f = _unit(key, v)
    return f"{f.format(v * scale)} {unit}"


def cell(key: str, values: list[float] | None, error: str | None) -> str:
    """ "12.3 ms (11.9-13.0)": the median, then min-max in the median's unit."""
    if not values:
        return "**error**" if error else "-"
    m = median(values)
    text = fmt_value(key, m)
    if len(values) > 1 and not key.startswith("g."):
        scale, _, f = _unit(key, m)
        text += f" ({f.format(min(values) * scale)}-{f.format(max(values) * scale)})"
    elif len(values) > 1 and max(values) - min(values) >= 1:
        text += f" ({min(values):.0f}-{max(values):.0f})"
    return text + (" ⚠" if error else "")


def ratio(a: list[float] | None, b: list[float] | None) -> float | None:
    if not a or not b:
        return None
    mb = median(b)
    return median(a) / mb if mb > 0 else None


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x >= 0.1 else f"{x:.3f}"


def targets(
    key: str, row: dict[str, list[float]], samples: dict[str, dict[str, list[float]]] | None = None
) -> list[tuple[str, bool]]:
    """The issue's targets that apply to one row (``samples``: every row, for targets that
    combine rows): (text, met)."""
    out: list[tuple[str, bool]] = []
    w, _, name = key.partition(".")
    ours = row.get("ours")
    if not ours or name.startswith("populate_"):
        return out
    vs_pub = ratio(ours, row.get("published"))
    if is_memory(key):
        if vs_pub is not None:
            out.append(("≤ published", vs_pub <= 1.0))
        if key == "g.rss_v":
            out.append((f"≤ {V_RSS_MB:.0f} MB", median(ours) <= V_RSS_MB))
        return out
    if vs_pub is not None:
        out.append(("≥1.5x faster than published", vs_pub <= FASTER_THAN_PUBLISHED))
    if name in VS_LOCAL:
        vs_local = ratio(ours, row.get("zarr-local"))
        if vs_local is not None:
            out.append((f"≤{VS_LOCAL[name]:.2f}x LocalStore", vs_local <= VS_LOCAL[name]))
    memory = row.get("zarr-memory")
    if key in VS_MEMORY and memory:
        limit = VS_MEMORY[key]
        out.append((f"≤{limit:.2f}x MemoryStore", median(ours) <= limit * median(memory)))
    commit = (samples or {}).get(f"{key}_commit", {}).get("ours")
    if key in WRITE_VS_MEMORY and memory and commit:
        limit = WRITE_VS_MEMORY[key]
        bound = limit * (median(memory) + median(commit))
        out.append((f"≤{limit:.2f}x (MemoryStore + our commit)", median(ours) <= bound))
    if w == "c" and name.startswith("commit_"):
        out.append((f"< {COMMIT_MS:.0f} ms", median(ours) * 1e3 < COMMIT_MS))
    if w == "v" and name == "commit_1e6":  # full size only: quick commits fewer refs
        out.append((f"≤ {V_COMMIT_1E6_S:.0f} s", median(ours) <= V_COMMIT_1E6_S))
    return out


def flatness(samples: dict[str, dict[str, list[float]]], system: str) -> float | None:
    rows = [k for k in samples if k.startswith("c.commit_") and samples[k].get(system)]
    if len(rows) < 2:
        return None
    rows.sort(key=lambda k: float(k.rsplit("_", 1)[1]))
    return median(samples[rows[-1]][system]) / median(samples[rows[0]][system])


def flatness_row(
    samples: dict[str, dict[str, list[float]]],
    systems: list[str],
    n_ratio: int,
    lines: list[str],
) -> bool | None:
    """Append the "flatness" row of workload c; whether ours meets the target (or None)."""
    flat = {s: flatness(samples, s) for s in ("ours", "published") if s in systems}
    if all(v is None for v in flat.values()):
        return None
    cells = ["c. flatness: largest ÷ smallest array's commit"]
    cells += ["-" if flat.get(s) is None else f"{flat[s]:.2f}x" for s in systems]
    cells += ["-"] * n_ratio
    f_ours = flat.get("ours")
    ok = None if f_ours is None else f_ours <= FLAT
    cells.append("" if ok is None else f"{'✅' if ok else '❌'} ≤{FLAT}x (flat)")
    lines.append("| " + " | ".join(cells) + " |")
    return ok


# ---------------------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------------------


def add_table_header(
    lines: list[str], first: str, systems: list[str], ratio_cols: list[str]
) -> None:
    """The header of a results table: the step, one column per system, the ratios, targets."""
    header = [
        first,
        *(SYSTEM_LABELS[s] for s in systems),
        *(f"ours/{SYSTEM_LABELS[s].split()[-1]}" for s in ratio_cols),
        "targets",
    ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))


def markdown(raw: dict[str, Any]) -> str:
    meta = raw["meta"]
    samples, errors, all_rows = aggregate(raw)
    order = [k for k in all_rows if not is_s3(k) and not is_dw(k) and not is_gcs3(k)]
    systems = [s for s in SYSTEM_LABELS if s in meta["systems"] and s not in S3_ONLY]
    plain = [s for s in ("zarr-local", "zarr-memory") if s in systems]
    ratio_cols = []
    if "ours" in systems and "published" in systems:
        ratio_cols.append("published")
    if "ours" in systems:
        ratio_cols += plain

    lines = [f"# Icechunk benchmarks ({meta['mode']} run)", ""]
    envs = meta.get("environments", {})
    lines.append(
        f"{meta['date']} · git {meta.get('git', '?')} · {meta['host']['cpus']} CPUs · "
        f"{meta['reps']} repetition(s), each a fresh process per system, systems alternating "
        f"· millisecond steps: median of {meta['inner']} in-process repeats · "
        f"setup {meta['setup_s']:.0f} s, workloads {meta['run_s']:.0f} s"
    )
    load = meta.get("load_avg")
    if load:
        lines.append("")
        lines.append(
            "Load average (1, 5, 15 min) when the workloads started: "
            + ", ".join(f"{x:.1f}" for x in load["start"])
            + "; when they ended: "
            + ", ".join(f"{x:.1f}" for x in load["end"])
            + f" (the benchmark itself keeps about 1 of the {meta['host']['cpus']} CPUs busy)."
        )
    lines.append("")
    for name, v in envs.items():
        label = "ours (and plain zarr)" if name == "ours" else name
        wheel = f" (wheel {meta['our_wheel']})" if name == "ours" and meta.get("our_wheel") else ""
        lines.append(
            f"- **{label}**: icechunk {v.get('icechunk')}{wheel}, zarr {v.get('zarr')}, "
            f"numpy {v.get('numpy')}, dask {v.get('dask')}, "
            + (
                f"distributed {v['distributed']}, xarray {v['xarray']}, "
                if "dw" in meta.get("workloads", []) and "xarray" in v
                else ""
            )
            + (f"obstore {v['obstore']}, " if "obstore" in v else "")
            + (
                f"zarrs {v['zarrs']}, "
                if name == "ours"
                and not v.get("zarrs", "unavailable").startswith("unavailable")
                and "zarrs-pipeline" not in meta.get("unavailable", {})
                else ""
            )
            + f"Python {v.get('python')}"
        )
    notes = list(raw.get("notes", []))
    cached = sorted(
        {
            r["info"]["cached_populate_date"]
            for r in raw["results"]
            if "cached_populate_date" in r.get("info", {})
        }
    )
    if cached:
        notes.append(
            "the published wheel's populated arrays of (c) are kept between runs (populating "
            "10^6 chunks through its async store takes minutes): its 'populate' rows and its "
            f"(c) setup memory are those of the run that made them ({', '.join(cached)})"
        )
    floors = sorted({(r["workload"], r["system"]) for r in raw["results"]})
    counts = {
        key: sum(
            1 for r in raw["results"] if (r["workload"], r["system"]) == key and r["phase"] == "run"
        )
        for key in floors
    }
    unavailable = meta.get("unavailable", {})  # one error result each, not a repetition
    short = [
        f"{w} on {SYSTEM_LABELS.get(s, s)}"
        for (w, s), n in counts.items()
        if 0 < n < meta["reps"] and s not in unavailable
    ]
    if short:
        notes.append(f"fewer repetitions (to fit the time budget) for: {', '.join(short)}")
    for n in notes:
        lines.append(f"- **note**: {n}")
    lines.append("")
    lines.append("Workloads:")
    for w, text in meta["descriptions"].items():
        if w in meta["workloads"] or w == "g":
            lines.append(f"- **{w}**: {text}")
    lines += [
        "",
        "Cells: median (min-max) over the repetitions. Ratios are ours ÷ other on the medians: "
        "**below 1 means ours is faster** (or smaller). ⚠ marks a cell where some repetition "
        "failed; **error** one where all did (texts below).",
        "",
    ]
    add_table_header(lines, "workload / step", systems, ratio_cols)
    table_start = len(lines)
    met = missed = 0
    commit_rows = [k for k in order if k.startswith("c.commit_")]
    last_commit_row = commit_rows[-1] if commit_rows else None
    for key in order:
        row = samples.get(key, {})
        if (not row and key.endswith("*")) or key.endswith("(prepare)"):
            continue  # whole-process errors are listed below the table
        cells = [row_label(key, raw)]
        for s in systems:
            cells.append(cell(key, row.get(s), errors.get(key, {}).get(s)))
        for s in ratio_cols:
            cells.append(fmt_ratio(ratio(row.get("ours"), row.get(s))))
        checks = targets(key, row, samples)
        met += sum(ok for _, ok in checks)
        missed += sum(not ok for _, ok in checks)
        cells.append("; ".join(f"{'✅' if ok else '❌'} {t}" for t, ok in checks))
        lines.append("| " + " | ".join(cells) + " |")
        if key == last_commit_row:
            ok = flatness_row(samples, systems, len(ratio_cols), lines)
            if ok is not None:
                met, missed = met + ok, missed + (not ok)
    if len(lines) == table_start:  # nothing but workloads s3 or dw ran: no main table
        del lines[table_start - 2 :]
    lines.append("")
    if met + missed:
        lines.append(f"Targets met: **{met} of {met + missed}**.")
        slower = [
            row_label(k, raw)
            for k in order
            if not k.startswith("c.populate_")
            and (x := ratio(samples.get(k, {}).get("ours"), samples.get(k, {}).get("published")))
            is not None
            and x > 1
        ]
        if slower:
            lines.append("")
            lines.append(
                "Where ours is slower (or bigger) than the published wheel: "
                + "; ".join(slower)
                + "."
            )
        lines.append("")
    lines += report_pipeline.pipeline_section(raw, samples, sys.modules[__name__])
    lines += s3_section(raw, samples, errors)
    lines += gcs3_section(raw, samples, errors)
    lines += report_dask_write.dask_write_section(raw, samples, errors, sys.modules[__name__])
    err_lines = [
        f"- {row_label(k, raw) if not k.endswith(('*', '(prepare)')) else k} · "
        f"{SYSTEM_LABELS.get(s, s)}: `{t[:300]}`"
        for k in all_rows
        for s, t in errors.get(k, {}).items()
    ]
    if err_lines:
        lines += ["Errors:", "", *err_lines, ""]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# workload s3: its own section
# ---------------------------------------------------------------------------------------
S3_STEPS = ("write_commit", "read_all", "open_read_one")


def _counts(values: list[float]) -> str:
    """A count: the median, then min-max where they differ."""
    if not values:
        return "-"
    m = median(values)
    text = f"{m:g}"
    if min(values) != max(values):
        text += f" ({min(values):g}-{max(values):g})"
    return text


def _methods(
    raw: dict[str, Any], system: str, step: str, workload: str = "s3", field: str = "methods"
) -> str:
    """The requests of the first sample of a step by HTTP method: "PUT 112, GET 11" (``field``
    "kinds": listings and DeleteObjects apart from GET and POST)."""
    for r in sorted(raw["results"], key=lambda r: r["rep"]):
        if r["workload"] == workload and r["system"] == system and r["phase"] == "run":
            first = ((r.get("s3") or {}).get(step) or [{}])[0]
            methods = sorted(first.get(field, {}).items(), key=lambda kv: -kv[1])
            return ", ".join(f"{m} {n}" for m, n in methods)
    return ""


def s3_figures(
    raw: dict[str, Any], system: str, step: str, field: str, workload: str = "s3"
) -> list[float]:
    """One request-count figure of every timed sample of every repetition of a system."""
    out: list[float] = []
    for r in raw["results"]:
        if r["workload"] != workload or r["system"] != system or r["phase"] != "run":
            continue
        for sample in (r.get("s3") or {}).get(step, []):
            v = sample.get(field)
            if v is not None:
                out.append(v)
    return out


def s3_server_name(meta: dict[str, Any]) -> str:
    """The S3 server of workloads s3 and gcs3, e.g. ``SeaweedFS 4.48``: ``meta["s3"]`` names it
    (runs before SeaweedFS: only ``server``, "moto <version>, ThreadedMotoServer ...")."""
    s3meta = meta.get("s3", {})
    return s3meta.get("server_name") or s3meta.get("server", "moto").split(",")[0]


def s3_section(
    raw: dict[str, Any],
    samples: dict[str, dict[str, list[float]]],
    errors: dict[str, dict[str, str]],
) -> list[str]:
    """The S3 section: timings and ratios, then requests and round trips, then what the
    requests of one cold open + read one chunk were."""
    meta = raw["meta"]
    results = [r for r in raw["results"] if r["workload"] == "s3" and r["phase"] == "run"]
    if "s3" not in meta.get("workloads", []) or not results:
        return []
    s3meta = meta.get("s3", {})
    latency = s3meta.get("latency_ms", 20)
    target = s3meta.get("round_trips_target", S3_ROUND_TRIPS)
    systems = [s for s in S3_SYSTEMS if s in meta["systems"]]
    ratio_cols = [s for s in ("published", "zarr-obstore") if s in systems and "ours" in systems]
    lines = [
        f"## S3: {s3_server_name(meta)} on 127.0.0.1 behind a proxy adding {latency:.0f} ms "
        "to every request",
        "",
        f"**s3**: {meta['descriptions'].get('s3', '')}. Server: {s3meta.get('server', 'moto')}; "
        "the proxy (`tests/_fault_proxy.py`) runs in the runner's process and logs every request. "
        "icechunk: `s3_storage(endpoint_url=<proxy>, allow_http=True, force_path_style=True, "
        "...)`, `Repository.create`/`open`; zarr ObjectStore: `zarr.storage.ObjectStore("
        "obstore.store.S3Store(...))`, no commit (write + commit is the writes alone). Each step "
        "opens from scratch as in (a); every value read is checked against the data.",
        "",
    ]
    add_table_header(lines, "step", systems, ratio_cols)
    met = missed = 0
    for key in [*(f"s3.{step}" for step in S3_STEPS), "g.rss_s3"]:
        row = samples.get(key, {})
        errs = errors.get(key, {})
        if not row and not errs:
            continue
        cells = [row_label(key, raw).replace("g. peak memory, (s3)", "s3. peak memory")]
        cells += [cell(key, row.get(s), errs.get(s)) for s in systems]
        cells += [fmt_ratio(ratio(row.get("ours"), row.get(s))) for s in ratio_cols]
        checks = targets(key, {s: v for s, v in row.items() if s in ("ours", "published")})
        met += sum(ok for _, ok in checks)
        missed += sum(not ok for _, ok in checks)
        cells.append("; ".join(f"{'✅' if ok else '❌'} {t}" for t, ok in checks))
        lines.append("| " + " | ".join(cells) + " |")
    concurrency = sorted({r["info"].get("zarr_concurrency") for r in results} - {None})
    if concurrency:
        c = concurrency[-1]
        default = [SYSTEM_LABELS[s] for s in systems if s != "ours-pipeline"]
        lines += [
            "",
            f"zarr's default codec pipeline makes at most {c} store calls at a time (its "
            f"`async.concurrency`) whatever the store, so writing or reading N chunks takes at "
            f"least N/{c} sequential round trips (≥ N/{c} x {latency:.0f} ms) for "
            f"{' and '.join(default)}: the write and read-all figures mostly measure zarr, the "
            "server and the proxy, open + read one chunk the engine."
            + (
                " ours-pipeline hands zarr's whole batch of chunks to the engine, whose own limit "
                "on requests in flight (the repository's `max_concurrent_requests`) applies "
                "instead: see its sequential round trips below."
                if "ours-pipeline" in systems
                else ""
            ),
        ]
    lines += [
        "",
        "Requests the proxy served during each timed sample (median over the samples of all "
        "repetitions, min-max where they differ). *Sequential round trips* = the longest chain "
        "of requests each starting after the previous one ended (overlapping requests are one "
        f"round): each costs at least {latency:.0f} ms here. *Before the chunk's GET* = the "
        "rounds that must end before the GET that brings the first chunk byte can start (that "
        "GET not counted).",
        "",
        "| requests | " + " | ".join(SYSTEM_LABELS[s] for s in systems) + " | target |",
        "|" + "---|" * (len(systems) + 2),
    ]
    after = "requests started after it returned (background)"
    rows: list[tuple[str, str, str]] = [
        ("write + commit: requests", "write_commit", "requests"),
        (f"write + commit: {after}", "write_commit", "after"),
        ("write + commit: sequential round trips", "write_commit", "rounds"),
        ("read all: requests", "read_all", "requests"),
        (f"read all: {after}", "read_all", "after"),
        ("read all: sequential round trips", "read_all", "rounds"),
        ("open + read one chunk: requests", "open_read_one", "requests"),
        (f"open + read one chunk: {after}", "open_read_one", "after"),
        ("open + read one chunk: sequential round trips", "open_read_one", "rounds"),
        (
            "**open + read one chunk: round trips before the chunk's GET**",
            "open_read_one",
            "rounds_before_chunk",
        ),
    ]
    for label, step, field in rows:
        figures = {s: s3_figures(raw, s, step, field) for s in systems}
        if not any(figures.values()) or (field == "after" and not any(map(any, figures.values()))):
            continue
        mark = ""
        if field == "rounds_before_chunk" and figures.get("ours"):
            ok = median(figures["ours"]) <= target
            met, missed = met + ok, missed + (not ok)
            mark = f"{'✅' if ok else '❌'} ours ≤ {target}"
        texts = []
        for s in systems:
            text = _counts(figures[s])
            methods = _methods(raw, s, step) if field == "requests" else ""
            if methods and figures[s]:
                text += f" ({methods})"
            texts.append(text)
        lines.append(f"| {label} | " + " | ".join(texts) + f" | {mark} |")
    lines.append("")
    if met + missed:
        lines += [f"S3 targets met: **{met} of {met + missed}**.", ""]
    background = []
    for s in systems:
        for step in S3_STEPS:
            seen: dict[str, int] = {}
            for r in results:
                if r["system"] == s:
                    for sample in (r.get("s3") or {}).get(step, []):
                        for req in sample.get("after_requests", []):
                            seen[req] = seen.get(req, 0) + 1
            if seen:
                what = "; ".join(f"{req} ({n}x)" for req, n in sorted(seen.items()))
                background.append(f"- {SYSTEM_LABELS[s]}, {STEP_LABELS[step]}: {what}")
    if background:
        lines += [
            "Requests that started after a step had returned (the worker pauses "
            f"{s3meta.get('settle_s', 0.2):g} s, untimed, after every sample, so they are not "
            "counted in the next one), over all samples:",
            "",
            *background,
            "",
        ]
    # What the round trips were: the first (cold) open + read one chunk of the first repetition.
    seq_lines = []
    for s in systems:
        for r in sorted(results, key=lambda r: r["rep"]):
            first = ((r.get("s3") or {}).get("open_read_one") or [{}])[0]
            if r["system"] == s and first.get("sequence"):
                rounds = " → ".join(
                    f"({k}) " + " ‖ ".join(reqs) for k, reqs in enumerate(first["sequence"], 1)
                )
                seq_lines.append(f"- **{SYSTEM_LABELS[s]}**: {rounds}")
                break
    if seq_lines:
        lines += [
            "The requests of one cold open + read one chunk, round by round (‖: overlapping "
            "requests in the same round; bucket and prefix left out, long ids cut):",
            "",
            *seq_lines,
            "",
        ]
    return lines


# ---------------------------------------------------------------------------------------
# workload gcs3: garbage collection on S3, its own section
# ---------------------------------------------------------------------------------------
GCS3_STEPS = {
    "expire": "expire_snapshots (midpoint of main)",
    "gc": "garbage_collect",
    "gc_again": "garbage_collect again (no garbage left)",
}


def gcs3_section(
    raw: dict[str, Any],
    samples: dict[str, dict[str, list[float]]],
    errors: dict[str, dict[str, str]],
) -> list[str]:
    """The section of workload gcs3: the time of each step, then its requests (in all and by
    method), sequential round trips, and what each collection deleted; ours and published."""
    meta = raw["meta"]
    results = [r for r in raw["results"] if r["workload"] == "gcs3" and r["phase"] == "run"]
    if "gcs3" not in meta.get("workloads", []) or not results:
        return []
    latency = meta.get("s3", {}).get("latency_ms", 20)
    systems = [s for s in ("ours", "published") if s in meta["systems"]]
    ratio_cols = ["published"] if systems == ["ours", "published"] else []
    lines = [
        f"## GC on S3: {s3_server_name(meta)} on 127.0.0.1 behind a proxy adding "
        f"{latency:.0f} ms to every request",
        "",
        f"**gcs3**: {meta['descriptions'].get('gcs3', '')}. The storage is that of s3 "
        "(`s3_storage(endpoint_url=<proxy>, ...)`, a fresh prefix per process); the setup "
        "(every commit) is untimed, the three steps run in a fresh process of the system's "
        "virtualenv (its peak memory is the collector's). Checked: gc deletes exactly the "
        "deleted branch's chunk objects, the second collection none, and the tip reads back.",
        "",
    ]
    add_table_header(lines, "step", systems, ratio_cols)
    met = missed = 0
    collector: dict[str, list[float]] = defaultdict(list)
    for r in results:
        rss = r.get("info", {}).get("collector_peak_rss_mb")
        if rss:
            collector[r["system"]].append(rss)
    table = {**samples, "g.collector_gcs3": collector}
    labels = {f"gcs3.{step}": label for step, label in GCS3_STEPS.items()}
    labels["g.collector_gcs3"] = "peak memory of the collector process"
    labels["g.rss_gcs3"] = "peak memory of the worker (setup + check)"
    for key, label in labels.items():
        row = table.get(key, {})
        errs = errors.get(key, {})
        if not row and not errs:
            continue
        cells = [label]
        cells += [cell(key, row.get(s), errs.get(s)) for s in systems]
        cells += [fmt_ratio(ratio(row.get("ours"), row.get(s))) for s in ratio_cols]
        checks = targets(key, {s: v for s, v in row.items() if s in systems})
        met += sum(ok for _, ok in checks)
        missed += sum(not ok for _, ok in checks)
        cells.append("; ".join(f"{'✅' if ok else '❌'} {t}" for t, ok in checks))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Requests the proxy served during each step (median over the repetitions, min-max where "
        "they differ; by kind: those of the first repetition). LIST is a ListObjectsV2 page "
        "(up to 1,000 keys), DeleteObjects a POST deleting up to 1,000 keys. *Sequential round "
        "trips*: the longest chain of requests each starting after the previous one ended "
        f"(each at least {latency:.0f} ms here).",
        "",
        "| requests | " + " | ".join(SYSTEM_LABELS[s] for s in systems) + " |",
        "|" + "---|" * (len(systems) + 1),
    ]
    for step, label in GCS3_STEPS.items():
        for field, what in (
            ("requests", "requests"),
            ("after", "requests started after it returned (background)"),
            ("rounds", "sequential round trips"),
        ):
            figures = {s: s3_figures(raw, s, step, field, "gcs3") for s in systems}
            if not any(figures.values()) or (
                field == "after" and not any(map(any, figures.values()))
            ):
                continue
            texts = []
            for s in systems:
                text = _counts(figures[s])
                kinds = _methods(raw, s, step, "gcs3", "kinds") if field == "requests" else ""
                if kinds and figures[s]:
                    text += f" ({kinds})"
                texts.append(text)
            lines.append(f"| {label}: {what} | " + " | ".join(texts) + " |")
    for field, what in (
        ("expired", "snapshots expired"),
        ("gc_snapshots_deleted", "garbage_collect: snapshots deleted"),
        ("gc_chunks_deleted", "garbage_collect: chunk objects deleted"),
        ("gc_again_chunks_deleted", "garbage_collect again: chunk objects deleted"),
    ):
        counts = {
            s: [r["info"][field] for r in results if r["system"] == s and field in r["info"]]
            for s in systems
        }
        if any(counts.values()):
            lines.append(f"| {what} | " + " | ".join(_counts(counts[s]) for s in systems) + " |")
    lines.append("")
    if met + missed:
        lines += [f"GC on S3 targets met: **{met} of {met + missed}**.", ""]
    return lines


# ---------------------------------------------------------------------------------------
# chart
# ---------------------------------------------------------------------------------------
def png(raw: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    samples, _, order = aggregate(raw)
    with_data = {s for row in samples.values() for s, v in row.items() if v}
    systems = [s for s in SYSTEM_LABELS if s in raw["meta"]["systems"] and s in with_data]
    time_rows = [k for k in order if samples.get(k) and not is_memory(k)]
    mem_rows = [k for k in order if samples.get(k) and is_memory(k)]
    n_t, n_m = max(len(time_rows), 1), max(len(mem_rows), 1)
    fig, axes = plt.subplots(
        2,
        2,
        figsize=(15, 0.42 * (n_t + n_m) + 3),
        gridspec_kw={"height_ratios": [n_t, n_m], "width_ratios": [3, 1.3]},
        squeeze=False,
    )
    bar_h = 0.8 / len(systems)
    for row_i, (rows, unit, scale) in enumerate(
        ((time_rows, "seconds (log scale", 1.0), (mem_rows, "peak RSS, MB (linear", 1.0))
    ):
        ax, rax = axes[row_i]
        ys = list(range(len(rows)))[::-1]
        for si, s in enumerate(systems):
            meds, lo, hi, yy = [], [], [], []
            for y, k in zip(ys, rows, strict=True):
                v = samples[k].get(s)
                if not v:
                    continue
                m = median(v) * scale
                meds.append(m)
                lo.append(m - min(v) * scale)
                hi.append(max(v) * scale - m)
                yy.append(y + 0.4 - bar_h * (si + 0.5))
            ax.barh(
                yy,
                meds,
                height=bar_h,
                color=COLORS[s],
                label=SYSTEM_LABELS[s],
                xerr=[lo, hi],
                error_kw={"elinewidth": 0.8, "capsize": 1.5},
            )
        ax.set_yticks(ys, [row_label(k, raw) for k in rows], fontsize=8)
        if row_i == 0:
            ax.set_xscale("log")
        ax.set_xlabel(f"{unit}; bars: median, whiskers: min-max)")
        ax.grid(axis="x", which="both", alpha=0.3)
        if row_i == 0:
            ax.legend(loc="lower right", fontsize=8)
        # ratios panel: ours/published above, ours/plain zarr (ObjectStore for s3) below
        for s in (r for r in ("published", "zarr-local", "zarr-obstore") if r in systems):
            si = 0 if s == "published" else 1
            xs, yy = [], []
            for y, k in zip(ys, rows, strict=True):
                x = ratio(samples[k].get("ours"), samples[k].get(s))
                if x is not None:
                    xs.append(x)
                    yy.append(y + 0.2 - 0.4 * si)
            # bars grow from 1 (parity) towards the ratio: left of 1, ours is faster
            rax.barh(
                yy,
                [x - 1 for x in xs],
                left=1,
                height=0.38,
                color=COLORS[s],
                label=f"ours / {SYSTEM_LABELS[s]}",
            )
        rax.axvline(1.0, color="black", lw=0.8)
        if row_i == 0:
            rax.axvline(
                FASTER_THAN_PUBLISHED,
                color="red",
                lw=0.8,
                ls="--",
                label="target vs published (1/1.5)",
            )
            rax.legend(loc="best", fontsize=7)
        if row_i == 0:
            rax.set_xscale("log")
        rax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        rax.xaxis.set_minor_formatter(FormatStrFormatter(""))
        rax.set_yticks(ys, [""] * len(ys))
        rax.set_ylim(ax.get_ylim())
        rax.set_xlabel(
            f"ratio ours / other ({'log' if row_i == 0 else 'linear'}; < 1: ours better)"
        )
        rax.grid(axis="x", which="both", alpha=0.3)
    meta = raw["meta"]
    fig.suptitle(
        f"Icechunk benchmarks, {meta['mode']} run, {meta['date']} "
        f"(git {meta.get('git', '?')}, {meta['reps']} reps)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("png", "md"):
        print(__doc__)
        return 2
    raw = json.loads(Path(argv[1]).read_text())
    if argv[0] == "png":
        png(raw, Path(argv[2]))
    else:
        print(markdown(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
