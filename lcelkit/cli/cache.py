"""``lcelkit cache``: what the model caches hold, and removing what no run can use.

    lcelkit cache                 # each area: folder, entries, size, stale entries
    lcelkit cache prune           # delete the stale entries (see chains/caches.py)
    lcelkit cache prune --compiled  # ... and OpenVINO's compiled blobs
    lcelkit cache clear --yes     # delete everything (rebuilt at the next use)

The folders follow ``XDG_CACHE_HOME`` and ``LCELKIT_MODEL_CACHE``, ``LCELKIT_GGUF_CACHE``
and ``LCELKIT_OPENVINO_CACHE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lcelkit.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL

__all__ = ["register", "run_cache"]


def register(subparsers: Any) -> None:
    """Add the ``cache`` subcommand."""
    parser = subparsers.add_parser(
        "cache",
        help="show the model caches; prune what no run can use",
        description="Show lcelkit's model caches (converted models, OpenVINO exports, "
        "compiled blobs, tokenizers), delete the stale entries (prune), or everything (clear).",
    )
    parser.add_argument(
        "action", nargs="?", choices=("show", "prune", "clear"), default="show",
        help="show (default), prune (stale entries) or clear (everything)",
    )  # fmt: skip
    parser.add_argument(
        "--compiled", action="store_true",
        help="prune: also delete OpenVINO's compiled blobs (compiled again when needed)",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    parser.add_argument("--yes", action="store_true", help="clear: do it without asking")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run_cache)


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size < 1e9 else f"{size / 1e9:,.2f} GB"


def run_cache(args: argparse.Namespace) -> int:
    """Run ``lcelkit cache``."""
    from lcelkit.chains.caches import cache_areas, remove, scan_caches

    entries = scan_caches()
    if args.action == "show":
        areas = []
        for area, folder in cache_areas().items():
            mine = [e for e in entries if e.area == area]
            stale = [e for e in mine if e.stale]
            areas.append({
                "area": area, "folder": str(folder), "entries": len(mine),
                "bytes": sum(e.size for e in mine), "stale": len(stale),
                "stale_bytes": sum(e.size for e in stale),
            })  # fmt: skip
        if args.json:
            stale = [{"path": str(e.path), "bytes": e.size, "why": e.stale} for e in entries
                     if e.stale]  # fmt: skip
            print(json.dumps({"areas": areas, "stale": stale}, indent=2))
            return EXIT_OK
        for a in areas:
            line = f"{a['area']:<13} {a['entries']:>4} entries {_mb(a['bytes']):>10}  {a['folder']}"
            if a["stale"]:
                line += f"  ({a['stale']} stale, {_mb(a['stale_bytes'])})"
            print(line)
        for e in entries:
            if e.stale:
                print(f"  stale: {e.path} ({_mb(e.size)}): {e.stale}")
        total_stale = sum(e.size for e in entries if e.stale)
        if total_stale:
            print(f"`lcelkit cache prune` frees {_mb(total_stale)}")
        return EXIT_OK

    if args.action == "prune":
        chosen = [e for e in entries if e.stale or (args.compiled and e.area == "compiled")]
    else:
        chosen = entries
        if not args.yes and not args.dry_run:
            print(
                f"error: clear deletes all {len(chosen)} cached entries "
                f"({_mb(sum(e.size for e in chosen))}); they are rebuilt at the next use",
                file=sys.stderr,
            )
            print("  what to do: run `lcelkit cache clear --yes`", file=sys.stderr)
            return EXIT_ERROR
    removed, errors = (chosen, []) if args.dry_run else remove(chosen)
    freed = sum(e.size for e in removed)
    if args.json:
        print(json.dumps({"removed": len(removed), "bytes": freed, "errors": errors,
                          "dry_run": args.dry_run}))  # fmt: skip
    else:
        verb = "would remove" if args.dry_run else "removed"
        for e in removed:
            print(f"{verb}: {e.path} ({_mb(e.size)}){': ' + e.stale if e.stale else ''}")
        print(f"{verb} {len(removed)} entries, {_mb(freed)}")
        for err in errors:
            print(f"error: cannot delete {err}", file=sys.stderr)
    return EXIT_PARTIAL if errors else EXIT_OK
