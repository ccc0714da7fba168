"""Speed figures, each as a ratio against its baseline measured in the same run.

The figures live in scripts/benchmarks/ (one module per area; see its docstring to add one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks import Result, load_all  # noqa: E402


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 10 else f"{value:,.2f} s"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.3g} {unit}"


def render(results: list[Result]) -> str:
    rows = [("figure", "measured", "baseline", "ratio", "target")]
    for r in results:
        f = r.figure
        verdict = {True: " ok", False: " MISSED", None: ""}[r.met]
        rows.append((f.name, _fmt(r.value, f.unit), f"{_fmt(r.baseline, f.unit)}  ({f.baseline})",
                     f"{r.ratio:.3f}x", (r.target + verdict).strip()))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n(values: median of the rounds; ratio: median of the per-round " \
                              "ratios, value / baseline)"


async def run(args: argparse.Namespace) -> int:
    figures = load_all()
    if args.list:
        for f in figures:
            print(f"{f.key:32} {f.name}  (baseline: {f.baseline})")
        return 0
    chosen = [f for f in figures
              if not args.only or any(o in (f.key, f.module) for o in args.only)]
    unknown = [o for o in args.only or [] if not any(o in (f.key, f.module) for f in figures)]
    if unknown:
        print(f"bench: unknown figure(s) {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    results = []
    for f in chosen:
        if not args.json:
            print(f"measuring {f.name} ...", file=sys.stderr, flush=True)
        results.append(Result(f, await f.measure(args.rounds, args.scale)))
    if args.json:
        print(json.dumps({"figures": [r.to_dict() for r in results]}, indent=2))
    else:
        print(render(results))
    return 1 if args.check and any(r.met is False for r in results) else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5, help="paired rounds per figure (default 5)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply each figure's work per round (e.g. 0.1 for a quick look)")
    ap.add_argument("--only", action="append", metavar="FIGURE",
                    help="a figure (module.function) or a module; repeatable; see --list")
    ap.add_argument("--list", action="store_true", help="list the figures and exit")
    ap.add_argument("--json", action="store_true", help="one JSON document on stdout")
    ap.add_argument("--check", action="store_true", help="exit 1 if a figure misses its target")
    args = ap.parse_args()
    if args.rounds < 1 or args.scale <= 0:
        ap.error("--rounds must be >= 1 and --scale > 0")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
