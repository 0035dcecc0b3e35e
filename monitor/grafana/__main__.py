"""`python3 -m monitor.grafana [--check] [--dir DIR]`: write the dashboards, or with --check
exit 1 when the files in DIR are not what the code produces."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.grafana.generate import stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m monitor.grafana", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--dir", type=Path, default=Path("dashboards"), help="output directory")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale(args.dir)
        for name in differ:
            print(
                f"{args.dir / name} is not what the code produces: run python3 -m monitor.grafana"
            )
        return 1 if differ else 0
    for path in write(args.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
