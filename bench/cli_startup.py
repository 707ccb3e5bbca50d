"""`oboto --help` wall time against `python -c pass` (the interpreter's own start-up)."""

from __future__ import annotations

from common import PYTHON, median_ms, report, time_command

RUNS = 15


def main() -> None:
    baseline = median_ms(time_command([PYTHON, "-c", "pass"], RUNS))
    help_time = median_ms(time_command([PYTHON, "-m", "oboto", "--help"], RUNS))
    report("oboto --help wall time", help_time, "ms", baseline, "python -c pass")


if __name__ == "__main__":
    main()
