"""``symsim train-symmetry`` and ``symsim classify``: parsers and runners.

The main command line (:mod:`symsim_widgets.cli`) adds these to its sub-commands; each
``run_*`` returns the exit status (0 success, 1 nothing could be done, 2 usage error).
torch is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from symsim_widgets.symmetry.config import MOTIF_SOURCES, TrainConfig

__all__ = ["configure_classify_parser", "configure_train_parser", "run_classify", "run_train"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _usage(command: str, message: str) -> int:
    print(f"symsim {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


# --------------------------------------------------------------------------- train
def configure_train_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``train-symmetry`` options to ``parser``."""
    d = TrainConfig()
    parser.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="DIR",
        help="run directory (state, checkpoint, metrics, confusion.png)",
    )
    parser.add_argument("--steps", type=int, default=d.steps, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument(
        "--input-size",
        type=int,
        default=d.input_size,
        help="pattern size in pixels (the network's input size)",
    )
    parser.add_argument("--arch", default=d.arch, choices=["resnet18", "resnet34", "resnet50"])
    parser.add_argument("--stem", default=d.stem, choices=["standard", "small"])
    parser.add_argument(
        "--width",
        type=int,
        default=d.width,
        help="first-stage width (64: torchvision's ResNet; less for quick tests)",
    )
    parser.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate")
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay)
    parser.add_argument("--warmup", type=int, default=d.warmup, help="linear warm-up steps")
    parser.add_argument(
        "--train-sources",
        nargs="+",
        default=list(d.train_sources),
        choices=MOTIF_SOURCES,
        metavar="SOURCE",
        help=f"motif sources for training ({', '.join(MOTIF_SOURCES)}); the "
        "others make the out-of-distribution evaluation set",
    )
    parser.add_argument(
        "--cells",
        nargs=2,
        type=float,
        default=list(d.cells),
        metavar=("MIN", "MAX"),
        help="cells across the image",
    )
    parser.add_argument(
        "--min-cell-px",
        type=float,
        default=d.min_cell_px,
        help="smallest cell, in pixels (caps the number of cells across)",
    )
    parser.add_argument(
        "--corruption-strength",
        type=float,
        default=d.corruption_strength,
        help="scales every microscopy-like corruption (0: none, 1: the generator's full "
        "ranges); the test sets use the same strength, plus a full-strength one below 1",
    )
    parser.add_argument(
        "--extra-noise",
        type=float,
        default=d.extra_noise,
        metavar="SHARE",
        help="share of training patterns given heavy shot and read noise on top of the "
        "corruption (a low-dose scan: 3-40 photons at the brightest pixel, read noise up "
        "to 0.12)",
    )
    parser.add_argument(
        "--orientations",
        type=int,
        default=d.orientations,
        choices=[1, 4, 8],
        help="the trained network averages its features over this many orientations of "
        "an image at inference and in the evaluation (8: all symmetries of the square); "
        "re-running a finished run with another value re-evaluates it",
    )
    parser.add_argument(
        "--views",
        type=int,
        default=d.views,
        help="orientations of the square (1-8) in which each generated pattern appears per "
        "batch; divides the generation cost per training image",
    )
    parser.add_argument("--seed", type=int, default=d.seed, help="training data and init seed")
    parser.add_argument("--test-seed", type=int, default=d.test_seed)
    parser.add_argument("--test-per-group", type=int, default=d.test_per_group)
    parser.add_argument("--variant-per-group", type=int, default=d.variant_per_group)
    parser.add_argument(
        "--eval-every",
        type=int,
        default=d.eval_every,
        help="held-out evaluation every N steps (0: only at the end)",
    )
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    parser.add_argument("--log-every", type=int, default=d.log_every)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader workers generating patterns (default: CPUs - 1)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--no-amp", action="store_true", help="train in float32")
    parser.add_argument(
        "--no-resume", action="store_true", help="start afresh even if DIR holds a saved state"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="MINUTES",
        help="save the state and stop after this long (resume later)",
    )
    parser.add_argument(
        "--finish-at-time-limit",
        action="store_true",
        help="when the time limit runs out, also evaluate and write the checkpoint of the "
        "weights reached (the state is saved as well, so the same command resumes)",
    )
    parser.add_argument(
        "--init-from",
        default="",
        metavar="CHECKPOINT",
        help="warm start: begin with the weights of this checkpoint (same architecture, "
        "input size and width); the schedule and optimiser start afresh",
    )
    parser.add_argument(
        "--install",
        action="store_true",
        help="copy the final checkpoint to the package's weights/symmetry.pt",
    )
    parser.add_argument("--quiet", action="store_true")


def run_train(args: argparse.Namespace) -> int:
    """Run ``symsim train-symmetry``."""
    from symsim_widgets.symmetry.classify import DEFAULT_WEIGHTS
    from symsim_widgets.symmetry.training import train_symmetry

    settings = {name: getattr(args, name) for name in _TRAIN_OPTIONS}
    settings.update(
        train_sources=tuple(args.train_sources),
        cells=tuple(args.cells),
        amp=not args.no_amp,
        finish_at_time_limit=args.finish_at_time_limit,
    )
    try:
        TrainConfig(**settings)
    except ValueError as exc:
        return _usage("train-symmetry", str(exc))
    result = train_symmetry(
        args.out,
        resume=not args.no_resume,
        progress=not args.quiet,
        install_to=DEFAULT_WEIGHTS if args.install else None,
        command=_train_command(args),
        **settings,
    )
    if not result.get("finished"):
        print(f"stopped at step {result['step']}; run the same command again to resume",
              file=sys.stderr)  # fmt: skip
    return EXIT_OK


# the training options that map one-to-one onto TrainConfig fields, in the order the
# recorded command spells them out
_TRAIN_OPTIONS = (
    "steps", "batch_size", "views", "input_size", "arch", "stem", "width", "orientations",
    "lr", "weight_decay", "warmup", "min_cell_px", "corruption_strength", "extra_noise", "seed",
    "test_seed", "test_per_group", "variant_per_group", "eval_every", "checkpoint_every",
    "log_every", "workers", "device", "time_limit", "init_from",
)  # fmt: skip


def _train_command(args: argparse.Namespace) -> str:
    """The exact command that reproduces this run, every option spelled out."""
    import shlex

    words = ["symsim", "train-symmetry", "--out", str(args.out)]
    for name in _TRAIN_OPTIONS:
        value = getattr(args, name)
        if value not in (None, ""):
            words += ["--" + name.replace("_", "-"), str(value)]
    words += ["--train-sources", *args.train_sources]
    words += ["--cells", *(f"{c:g}" for c in args.cells)]
    for flag in ("finish_at_time_limit", "no_amp", "no_resume", "install", "quiet"):
        if getattr(args, flag):
            words.append("--" + flag.replace("_", "-"))
    return shlex.join(words)


# --------------------------------------------------------------------------- classify
def configure_classify_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``classify`` options to ``parser``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: path, group, confidence, periodicity, lattice",
    )
    parser.add_argument(
        "--weights",
        default=None,
        metavar="PATH",
        help="checkpoint (default: the package's weights/symmetry.pt)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)


def run_classify(args: argparse.Namespace) -> int:
    """Run ``symsim classify``: one line (or JSON object) per image item."""
    from symsim_widgets.collection import Collection
    from symsim_widgets.symmetry.classify import classify_symmetry

    missing = [p for p in args.inputs if not Path(p).exists()]
    for p in missing:
        print(f"symsim classify: {p}: no such file or folder", file=sys.stderr)
    inputs = [p for p in args.inputs if Path(p).exists()]
    if not inputs:
        return EXIT_FAILED
    collection = Collection.from_paths(inputs, progress=False)
    for row in collection.errors.itertuples():
        print(f"symsim classify: {row.source}: {row.reason}", file=sys.stderr)
    if len(collection) == 0:
        print("symsim classify: no image could be read", file=sys.stderr)
        return EXIT_FAILED
    result = classify_symmetry(
        collection,
        model=args.weights or "symmetry",
        device=args.device,
        batch_size=args.batch_size,
        progress=False,
    )
    items = collection.items
    multi = items.groupby("source")["frame"].transform("nunique") > 1
    for i, row in result.iterrows():
        item = items.iloc[i]
        if row["group"] is None:  # unreadable: classify_symmetry warned, naming it
            continue
        record = {"path": str(item["source"])}
        if multi.iloc[i]:
            record["frame"] = int(item["frame"])
        record["group"] = row["group"]
        record["confidence"] = round(float(row["confidence"]), 6)
        for key in ("periodicity", "lattice_a_px", "lattice_b_px", "lattice_angle_deg"):
            value = float(row[key])
            record[key] = round(value, 4) if np.isfinite(value) else None
        if args.json:
            print(json.dumps(record))
        else:
            where = f"[{record['frame']}]" if "frame" in record else ""
            print(f"{record['path']}{where}\t{record['group']}\t{record['confidence']:.3f}")
    return EXIT_OK
