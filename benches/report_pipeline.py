"""The report's section on codec pipelines: ``ours-pipeline`` (our wheel with zarr's config
naming ``icechunk.CodecPipeline``) checked against the issue's targets.

Standard library only, like ``report.markdown``; ``report.py`` calls ``pipeline_section`` with
itself as ``r`` (its helpers: cells, ratios, row labels), as the worker's modules do.
"""

from __future__ import annotations

from statistics import median
from types import ModuleType
from typing import Any

PIPELINE = "ours-pipeline"
ZARRS = "zarrs-pipeline"

# The targets for the pipeline, on the medians: (row, other system, at most this
# ratio ours-pipeline / other, strictly below it?, what the target says). A row or a system
# that did not run leaves its target out (the section says which were not checked).
FASTER_5X = 1 / 5
FASTER_3X = 1 / 3
VS_ZARRS = 1.2
WRITES_VS_ZARRS = f"≤{VS_ZARRS:.1f}x zarrs-pipeline (ours with its commit)"
TIME_TARGETS: list[tuple[str, str, float, bool, str]] = [
    ("a.read_all", "published", FASTER_5X, False, "≥5x faster than published"),
    ("a.read_all", "zarr-memory", 1.0, True, "faster than MemoryStore (zarr's default pipeline)"),
    ("a.read_all", ZARRS, VS_ZARRS, False, f"≤{VS_ZARRS:.1f}x zarrs-pipeline"),
    ("b.read_all", "published", FASTER_3X, False, "≥3x faster than published"),
    ("b.read_all", ZARRS, VS_ZARRS, False, f"≤{VS_ZARRS:.1f}x zarrs-pipeline"),
    ("b.write_commit", "published", FASTER_3X, False, "≥3x faster than published"),
    # "Within 1.2x of the zarrs pipeline" holds for writes too; ours' figure includes the
    # session and the commit, which LocalStore has none of.
    ("a.write_commit", ZARRS, VS_ZARRS, False, WRITES_VS_ZARRS),
    ("b.write_commit", ZARRS, VS_ZARRS, False, WRITES_VS_ZARRS),
    ("s3.read_all", "published", FASTER_3X, False, "≥3x faster than published"),
    ("s3.write_commit", "published", FASTER_3X, False, "≥3x faster than published"),
]
# Peak memory (ru_maxrss of the whole process, as in g) at most our default pipeline's, in
# every workload the pipeline runs.
MEMORY_WORKLOADS = ("a", "b", "f", "s3")


def pipeline_checks(
    samples: dict[str, dict[str, list[float]]],
) -> list[tuple[str, str, float, float, bool | None, str]]:
    """(row, other system, ours-pipeline's median, the other's, met, target text) of every
    target whose both figures are there; ``met`` None where a figure is missing."""
    rows = list(TIME_TARGETS)
    for w in MEMORY_WORKLOADS:
        rows.append((f"g.rss_{w}", "ours", 1.0, False, "≤ ours (zarr's default pipeline)"))
    out = []
    for key, other, limit, strict, text in rows:
        ours = samples.get(key, {}).get(PIPELINE)
        theirs = samples.get(key, {}).get(other)
        if not ours or not theirs:
            continue
        a, b = median(ours), median(theirs)
        x = a / b if b > 0 else float("inf")
        met = x < limit if strict else x <= limit
        out.append((key, other, a, b, met, text))
    return out


def _fallbacks(raw: dict[str, Any]) -> list[str]:
    """Where our pipeline handed batches to zarr's default one (the worker counts them)."""
    seen: dict[str, dict[str, int]] = {}
    for r in raw["results"]:
        counts = r.get("info", {}).get("pipeline_fallback_batches")
        if r["system"] != PIPELINE or not counts:
            continue
        total = seen.setdefault(r["workload"], {"read": 0, "write": 0})
        for k in total:
            total[k] += counts.get(k, 0)
    return [
        f"{w}: {c['read']} read and {c['write']} write batches"
        for w, c in seen.items()
        if c["read"] or c["write"]
    ]


def pipeline_section(
    raw: dict[str, Any],
    samples: dict[str, dict[str, list[float]]],
    r: ModuleType,
) -> list[str]:
    """Markdown lines of the section; none when ours-pipeline did not run."""
    meta = raw["meta"]
    if PIPELINE not in meta.get("systems", []):
        return []
    zarrs_version = meta.get("environments", {}).get("ours", {}).get("zarrs", "")
    unavailable = meta.get("unavailable", {})
    lines = [
        "## Codec pipeline: `icechunk.CodecPipeline`",
        "",
        "**ours-pipeline** is ours (same wheel, virtualenv and repositories) with "
        '`zarr.config.set({"codec_pipeline.path": "icechunk.CodecPipeline"})` in the worker '
        "before any array is opened: batches of chunks read and written in Rust. It runs "
        "a, b, f and s3, where chunk data go through zarr in bulk. **zarrs-pipeline** is zarr's "
        "LocalStore (as zarr-local) with zarrs-python's `zarrs.ZarrsCodecPipeline` "
        "(`codec_pipeline.strict`: no silent fallback to zarr's pipeline), in a and b"
        + (
            f"; zarrs {zarrs_version}."
            if zarrs_version
            and not zarrs_version.startswith("unavailable")
            and ZARRS not in unavailable
            else "."
        ),
        "",
    ]
    if ZARRS in unavailable:
        lines += [f"- **zarrs-pipeline unavailable**: {unavailable[ZARRS]}", ""]
    fallbacks = _fallbacks(raw)
    if fallbacks:
        lines += [
            "- **note**: ours-pipeline handed batches to zarr's default pipeline (its figures "
            "there are partly zarr's): " + "; ".join(fallbacks),
            "",
        ]
    checks = pipeline_checks(samples)
    if checks:
        lines += [
            "| target | ours-pipeline | compared with | ratio | met |",
            "|---|---|---|---|---|",
        ]
        for key, other, a, b, met, text in checks:
            label = r.row_label(key, raw)
            lines.append(
                f"| {label}: {text} | {r.fmt_value(key, a)} | "
                f"{r.SYSTEM_LABELS.get(other, other)} {r.fmt_value(key, b)} | "
                f"{r.fmt_ratio(a / b if b > 0 else None)} | {'✅' if met else '❌'} |"
            )
        met_n = sum(bool(c[4]) for c in checks)
        lines += ["", f"Pipeline targets met: **{met_n} of {len(checks)}**.", ""]
    checked = {(c[0], c[1]) for c in checks}
    wanted = [(k, o) for k, o, *_ in TIME_TARGETS] + [
        (f"g.rss_{w}", "ours") for w in MEMORY_WORKLOADS
    ]
    ran = set(meta.get("workloads", []))
    missing = [
        f"{r.row_label(k, raw)} vs {r.SYSTEM_LABELS.get(o, o)}"
        for k, o in wanted
        if (k, o) not in checked and _workload(k) in ran
    ]
    if missing:
        lines += [
            "Not checked (a figure is missing: the system or step did not run, or failed): "
            + "; ".join(missing)
            + ".",
            "",
        ]
    return lines


def _workload(key: str) -> str:
    """The workload of a row: "a.read_all" -> "a", and the memory row "g.rss_s3" -> "s3"."""
    return key.removeprefix("g.rss_") if key.startswith("g.rss_") else key.partition(".")[0]
