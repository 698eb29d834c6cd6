#!/usr/bin/env python3
"""Run a command N times; print the best wall time (s) and the peak RSS (KiB) of its
process tree, as `best_seconds peak_rss_kib`. Used by the scripts in scripts/bench/."""
import os, resource, subprocess, sys, time

def main():
    runs = int(sys.argv[1])
    cwd = sys.argv[2]
    cmd = sys.argv[3:]
    best = None
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode(errors="replace"))
            sys.exit(f"command failed: {' '.join(cmd)}")
        best = elapsed if best is None else min(best, elapsed)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{best:.4f} {rss}")

main()
