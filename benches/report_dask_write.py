"""The report's section on workload dw: Dask distributed writes of an xarray Dataset, checked
against issue 16's part-4 targets.

Standard library only, like ``report.markdown``; ``report.py`` calls ``dask_write_section``
with itself as ``r`` (its helpers: cells, ratios, labels), as it does ``report_pipeline``.
"""

from __future__ import annotations

from statistics import median
from types import ModuleType
from typing import Any

SYSTEMS = ("ours", "published", "zarr-local")
# The issue's targets: ours' write + commit at most this times zarr's to_zarr on LocalStore
# on the same cluster, at every chunk count ...
VS_LOCAL = 1.10
# ... and ours' cost per chunk flat: at the largest count at most this times the smallest's.
FLAT = 1.25


def row_label(name: str) -> str:
    """The label of one of the workload's figures ("write_400" -> write + commit, ...)."""
    step, _, n = name.rpartition("_")
    if n.isdigit():
        if step == "write":
            return f"dw. write + commit, {int(n):,} chunks"
        if step == "commit":
            return f"dw. of which commit, {int(n):,} chunks"
    if name == "warmup":
        return "dw. warm-up write (untimed)"
    if name == "worker_rss":
        return "dw. workers' peak memory"
    return f"dw. {name}"


def counts(samples: dict[str, dict[str, list[float]]]) -> list[int]:
    """The chunk counts that have a write figure or error row, smallest first."""
    out = set()
    for key in samples:
        w, _, name = key.partition(".")
        step, _, n = name.rpartition("_")
        if w == "dw" and step == "write" and n.isdigit():
            out.add(int(n))
    return sorted(out)


def repeated_note(results: list[dict[str, Any]]) -> str:
    """Which counts were written more than once per process (their cell is the median of
    the repetitions' medians)."""
    seen: dict[int, int] = {}
    for x in results:
        for key, v in x.get("info", {}).items():
            step, _, n = key.removesuffix(".samples").rpartition("_")
            if key.endswith(".samples") and step == "write" and n.isdigit():
                seen[int(n)] = max(seen.get(int(n), 0), len(v))
    if not seen:
        return ""
    which = " and ".join(f"{n:,}" for n in sorted(seen))
    return f" The {which}-chunk writes run {max(seen.values())} times per process (median)."


def per_chunk_ms(values: list[float] | None, n: int) -> float | None:
    return median(values) / n * 1e3 if values else None


def flatness(
    samples: dict[str, dict[str, list[float]]], system: str, ns: list[int]
) -> float | None:
    """ms per chunk at the largest count ÷ at the smallest (None: either is missing)."""
    if len(ns) < 2:
        return None
    lo = per_chunk_ms(samples.get(f"dw.write_{ns[0]}", {}).get(system), ns[0])
    hi = per_chunk_ms(samples.get(f"dw.write_{ns[-1]}", {}).get(system), ns[-1])
    return hi / lo if lo and hi is not None else None


def dask_write_section(
    raw: dict[str, Any],
    samples: dict[str, dict[str, list[float]]],
    errors: dict[str, dict[str, str]],
    r: ModuleType,
) -> list[str]:
    """Markdown lines of the section; none when workload dw did not run."""
    meta = raw["meta"]
    results = [x for x in raw["results"] if x["workload"] == "dw" and x["phase"] == "run"]
    if "dw" not in meta.get("workloads", []) or not results:
        return []
    systems = [s for s in SYSTEMS if s in meta["systems"]]
    ratio_cols = [s for s in ("published", "zarr-local") if s in systems and "ours" in systems]
    ns = counts({**samples, **{k: {} for k in errors}})
    label = {s: r.SYSTEM_LABELS[s] for s in systems}
    lines = [
        "## Dask distributed writes (dw)",
        "",
        f"**dw**: {meta['descriptions'].get('dw', '')}. Every process (one per system and "
        "repetition) starts the `distributed.LocalCluster(n_workers=2, threads_per_worker=1, "
        "processes=True, dashboard_address=None)` and its `Client` once, untimed, as is one "
        "4-chunk warm-up write that loads the libraries into the workers; then, per chunk "
        "count, a write into a new repository (or directory) on local disk. Timed, icechunk "
        "(the same code on both wheels, Icechunk 2.3's public API): "
        '`session = repo.writable_session("main")`, `icechunk.xarray.to_icechunk(ds, session)`, '
        "`session.commit(...)` (`Repository.create` before the timer); zarr LocalStore: "
        '`ds.to_zarr(zarr.storage.LocalStore(path), mode="w", zarr_format=3, '
        "consolidated=False)`, the floor. After every write, untimed: all N chunks must be "
        "stored and 12 of them read back equal to the source blocks." + repeated_note(results),
        "",
    ]
    header = [
        "chunks",
        *label.values(),
        *(f"{label[s]} ms/chunk" for s in systems),
        *(f"ours/{label[s].split()[-1]}" for s in ratio_cols),
        "targets",
    ]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    met = missed = 0
    for n in ns:
        key = f"dw.write_{n}"
        row = samples.get(key, {})
        errs = errors.get(key, {})
        cells = [f"{n:,}"]
        cells += [r.cell(key, row.get(s), errs.get(s)) for s in systems]
        for s in systems:
            ms = per_chunk_ms(row.get(s), n)
            cells.append("-" if ms is None else f"{ms:.2f}")
        cells += [r.fmt_ratio(r.ratio(row.get("ours"), row.get(s))) for s in ratio_cols]
        checks = []
        vs_local = r.ratio(row.get("ours"), row.get("zarr-local"))
        if vs_local is not None:
            checks.append((f"≤{VS_LOCAL:.2f}x LocalStore's to_zarr", vs_local <= VS_LOCAL))
        elif "ours" in systems and "zarr-local" in systems:
            checks.append((f"≤{VS_LOCAL:.2f}x LocalStore's to_zarr (a figure is missing)", False))
        met += sum(ok for _, ok in checks)
        missed += sum(not ok for _, ok in checks)
        cells.append("; ".join(f"{'✅' if ok else '❌'} {t}" for t, ok in checks))
        lines.append("| " + " | ".join(cells) + " |")
    if len(ns) >= 2:
        flat = {s: flatness(samples, s, ns) for s in systems}
        cells = [f"ms/chunk: {ns[-1]:,} ÷ {ns[0]:,} chunks"]
        cells += ["-"] * len(systems)
        cells += ["-" if flat[s] is None else f"{flat[s]:.2f}x" for s in systems]
        cells += ["-"] * len(ratio_cols)
        if "ours" in systems:
            ok = flat["ours"] is not None and flat["ours"] <= FLAT
            met, missed = met + ok, missed + (not ok)
            cells.append(f"{'✅' if ok else '❌'} ours ≤{FLAT:.2f}x (cost per chunk flat)")
        else:
            cells.append("")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if met + missed:
        lines += [f"Dask write targets met: **{met} of {met + missed}**.", ""]
    commit_parts = []
    for s in systems:
        figures = [samples.get(f"dw.commit_{n}", {}).get(s) for n in ns]
        if any(figures):
            texts = ["-" if not f else r.fmt_value("dw", median(f)) for f in figures]
            commit_parts.append(f"{label[s]} {' / '.join(texts)}")
    if commit_parts:
        lines += [
            f"Of which `session.commit` ({' / '.join(f'{n:,}' for n in ns)} chunks): "
            + "; ".join(commit_parts)
            + ".",
            "",
        ]
    memory = []
    for s in systems:
        client = samples.get("g.rss_dw", {}).get(s)
        workers = [
            x["info"]["worker_peak_rss_mb"]
            for x in results
            if x["system"] == s and "worker_peak_rss_mb" in x.get("info", {})
        ]
        if client or workers:
            text = f"{label[s]}: client {median(client):.0f} MB" if client else f"{label[s]}:"
            if workers:
                text += f", busiest worker {median(workers):.0f} MB"
            memory.append(text)
    if memory:
        lines += [
            "Peak memory (ru_maxrss, median over the repetitions; the worker processes "
            "reported by `client.run`): " + "; ".join(memory) + ".",
            "",
        ]
    starts = [x["info"]["cluster_start_s"] for x in results if "cluster_start_s" in x["info"]]
    if starts:
        lines += [
            f"Starting the LocalCluster and its Client (untimed) took {min(starts):.1f}-"
            f"{max(starts):.1f} s per process.",
            "",
        ]
    return lines
