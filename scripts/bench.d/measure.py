#!/usr/bin/env python3
"""Run one command and report its wall time and peak memory for scripts/bench.

usage: measure.py OUT_FILE -- COMMAND [ARG...]

Writes one line "WALL_SECONDS MAX_RSS_KB" to OUT_FILE. The peak RSS is the one wait4
reports for the child, which on Linux is the largest of the child and every
descendant it waited for (so a shell script's is its biggest command's). The
command's stdout and stderr pass through; the exit code is the command's.
"""
import os
import subprocess
import sys
import time


def main():
    out_file, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        sys.exit(__doc__)
    start = time.monotonic()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    with open(out_file, "w") as f:
        f.write(f"{wall:.6f} {usage.ru_maxrss}\n")
    sys.exit(child.returncode if child.returncode >= 0 else 128 - child.returncode)


if __name__ == "__main__":
    main()
