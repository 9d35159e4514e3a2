"""CLI: `prepare` builds (or reuses, or resumes) a sharded, memory-mapped face set and prints
what was kept and skipped; `show` draws a contact sheet. Exit codes: 0 ok, 1 no usable face
(or the cache cannot be written), 2 bad arguments or source.

`prepare --address auto` (or host:port) builds the shards as Ray tasks across a cluster (Ray
is optional and only imported then; the photos must be at the same path on every node)."""

from __future__ import annotations

import argparse
import sys

from .decode import DEFAULT_MAX_PIXELS, MIN_SIDE
from .observe import OBS_SIZES
from .shards import DEFAULT_SHARD_SIZE


def _shown(name: str) -> str:
    """File names that are not valid UTF-8 (surrogate-escaped bytes) printed with U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _summary(rep: dict, set_dir: str | None, from_cache: bool, out=None) -> None:
    out = out or sys.stdout
    c = rep["counts"]
    for s in rep["skipped"]:
        print(f"  skipped {_shown(s['file'])}: {s['reason']}", file=out)
    if rep.get("ignored"):
        print(
            f"  ignored {len(rep['ignored'])} non-image files: "
            + ", ".join(map(_shown, rep["ignored"][:10]))
            + (" ..." if len(rep["ignored"]) > 10 else ""),
            file=out,
        )
    backends = ", ".join(f"{k} {v}" for k, v in sorted(c["by_backend"].items()))
    sp = rep.get("split", {})
    print(f"faces kept: {c['kept']} ({backends}); skipped: {c['skipped']}; ignored: {c['ignored']}", file=out)
    if sp:
        print(
            f"split (heldout_fraction={sp['heldout_fraction']}, seed={sp['seed']}): "
            f"train {sp['train']}, validation {sp.get('validation', 0)}, heldout {sp['heldout']}",
            file=out,
        )
    sh = rep.get("shards")
    if sh and not from_cache:
        nodes = f" on {len(sh['ray_nodes'])} Ray nodes" if sh.get("ray_nodes") else ""
        print(
            f"shards: {sh['n']} of {sh['size']} photos ({sh['resumed']} reused from an interrupted run){nodes}; "
            f"{c['kept'] + c['skipped']} photos in {rep['seconds']:.1f} s",
            file=out,
        )
    where = set_dir or "(not cached)"
    print(f"{'loaded from cache' if from_cache else 'written to'}: {where}", file=out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m envs.faces", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare", help="detect, align and cache the faces of a folder (or 'default')")
    pp.add_argument("src", help="folder of images (jpg/jpeg/png/webp/bmp, nested) or 'default'")
    pp.add_argument("--out", default=None, help="cache dir (default $RLFF_CACHE_DIR or ~/.cache/rl-face-fusion/faces)")
    pp.add_argument("--canvas", type=int, default=256, help="side of the square face canvas (px)")
    pp.add_argument("--backend", choices=("auto", "mediapipe", "opencv"), default="auto")
    pp.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse images with more pixels (checked from the header); min side is {MIN_SIDE}",
    )
    pp.add_argument("--heldout-fraction", type=float, default=0.2)
    pp.add_argument("--seed", type=int, default=0)
    pp.add_argument("--workers", type=int, default=None, help="local threads (default 2 x cores, max 8)")
    pp.add_argument(
        "--shard-size",
        type=int,
        default=DEFAULT_SHARD_SIZE,
        help="photos per shard, the unit of resuming and of Ray tasks (an interrupted build keeps its own)",
    )
    pp.add_argument(
        "--obs-sizes",
        type=int,
        nargs="*",
        default=list(OBS_SIZES),
        metavar="PX",
        help="observation sizes whose luminance+mask to store for the env (default: %(default)s; "
        "none: the env computes them)",
    )
    pp.add_argument(
        "--address",
        default=None,
        help="build shards as Ray tasks on the cluster at this address ('auto' or host:port; "
        "needs ray installed); default: local threads",
    )
    pp.add_argument("--no-progress", action="store_true")
    ps = sub.add_parser("show", help="write a PNG contact sheet of a cached set")
    ps.add_argument("src", help="cache dir (or any source load_faces accepts)")
    ps.add_argument("--out", default="faces.png")
    ps.add_argument("--max", type=int, default=100, help="faces to draw")
    ps.add_argument("--cols", type=int, default=10)
    args = p.parse_args(argv)

    from .api import prepare
    from .faceset import FaceDataError
    from .pipeline import Settings

    try:
        if args.cmd == "prepare":
            if not 0 < args.heldout_fraction < 1:
                p.error("--heldout-fraction must be in (0, 1)")
            if args.shard_size < 1:
                p.error("--shard-size must be >= 1")
            if any(not 32 <= v <= args.canvas for v in args.obs_sizes):
                p.error(f"--obs-sizes must be in 32..{args.canvas} (the canvas)")
            settings = Settings(canvas=args.canvas, backend=args.backend, max_pixels=args.max_pixels)
            res = prepare(
                args.src,
                args.out,
                settings,
                progress=not args.no_progress,
                workers=args.workers,
                heldout_fraction=args.heldout_fraction,
                seed=args.seed,
                shard_size=args.shard_size,
                address=args.address,
                obs_sizes=args.obs_sizes,
                log=lambda msg: print(msg, file=sys.stderr, flush=True),
            )
            _summary(res.report, res.set_dir, res.from_cache)
        else:
            from ..files import write_png
            from .show import contact_sheet

            res = prepare(args.src)  # a cache dir loads; other sources use the default cache
            write_png(args.out, contact_sheet(res.faces, args.max, args.cols))
            print(f"wrote {args.out} ({min(len(res.faces), args.max)} of {len(res.faces)} faces)")
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FaceDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad settings
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. cannot write the cache or the PNG
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
