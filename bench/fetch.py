"""Benchmark of release verification: `check_file` (stat + chunked sha256) against `sha256sum`.

    python -m bench.fetch [--size-mib 1024] [--tmp-dir DIR]

Writes a file of random bytes (a random 64 MiB block repeated), then times, alternately and twice
each, our verification in a fresh child process and the system `sha256sum` on the same file; the
best of each is kept, so the page cache is equally warm for both. The child reports its own peak
resident memory (VmHWM, read inside the child: getrusage(RUSAGE_CHILDREN) would also count the
parent's pages at fork time), which is the memory cost of verifying: it must stay flat whatever the
file size. The last line printed is one JSON object. Goals: peak RSS < 150 MiB, time ratio < 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

MIB = 1 << 20
BLOCK = 64 * MIB
GOAL_RSS_MIB = 150.0
GOAL_RATIO = 2.0

# Runs in a fresh interpreter: imports the library, verifies the file once, reports time and VmHWM.
CHILD = """
import json, sys, time
from pathlib import Path
from unimse_core.io.manifest import ManifestEntry, check_file

path, size, sha = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
entry = ManifestEntry(path=path.name, dataset="mosi", kind="msa_features", size=size, sha256=sha)
start = time.perf_counter()
check = check_file(entry, path.parent)
seconds = time.perf_counter() - start
hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "status": check.status, "sha256": check.sha256, "vm_hwm_kib": hwm_kib}))
"""


def write_random_file(path: Path, size: int) -> None:
    block = os.urandom(min(BLOCK, size))
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, len(block))
            out.write(block[:n])
            left -= n


def time_ours(path: Path, size: int, sha256: str) -> dict:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(size), sha256], cwd=root,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_sha256sum(path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stdout.split()[0]


@click.command()
@click.option("--size-mib", type=click.IntRange(min=1), default=1024, show_default=True, help="size of the test file")
@click.option("--tmp-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where to write the test file (default: the system temporary folder)")
def main(size_mib: int, tmp_dir: Path | None) -> None:
    """Time and measure the memory of manifest verification on a large file."""
    if shutil.which("sha256sum") is None:
        raise click.ClickException("sha256sum not found on PATH")
    size = size_mib * MIB
    workdir = Path(tempfile.mkdtemp(prefix="unimse-bench-fetch-", dir=tmp_dir))
    try:
        path = workdir / "blob.bin"
        start = time.perf_counter()
        write_random_file(path, size)
        click.echo(f"wrote {size_mib} MiB to {path} in {time.perf_counter() - start:.1f} s")

        ours, theirs = [], []
        for _ in range(2):
            seconds, reference = time_sha256sum(path)
            theirs.append(seconds)
            run = time_ours(path, size, reference)
            if run["status"] != "ok":
                raise click.ClickException(f"check_file disagrees with sha256sum: {run}")
            ours.append(run)
        best = min(r["seconds"] for r in ours)
        best_theirs = min(theirs)
        peak_rss_mib = max(r["vm_hwm_kib"] for r in ours) / 1024
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {
        "size_mib": size_mib,
        "seconds": round(best, 3),
        "mb_per_s": round(size / 1e6 / best, 1),
        "sha256sum_seconds": round(best_theirs, 3),
        "sha256sum_mb_per_s": round(size / 1e6 / best_theirs, 1),
        "sha256sum_ratio": round(best / best_theirs, 3),
        "peak_rss_mib": round(peak_rss_mib, 1),
        "goals_met": peak_rss_mib < GOAL_RSS_MIB and best / best_theirs < GOAL_RATIO,
    }
    click.echo(f"check_file (stat + sha256_file): {best:.2f} s, {summary['mb_per_s']} MB/s, "
               f"peak RSS {peak_rss_mib:.1f} MiB (goal < {GOAL_RSS_MIB:.0f})")
    click.echo(f"sha256sum:                       {best_theirs:.2f} s, {summary['sha256sum_mb_per_s']} MB/s")
    click.echo(f"ratio ours / sha256sum: {summary['sha256sum_ratio']:.2f} (goal < {GOAL_RATIO:.0f}); "
               f"best of 2 each, warm page cache; MB = 10^6 bytes")
    click.echo(json.dumps(summary))


if __name__ == "__main__":
    main()
