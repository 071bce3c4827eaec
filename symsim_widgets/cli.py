"""The ``symsim`` command line.

``symsim embed``  turns images (files, folders or the bundled demo data) into a bundle
of items, thumbnails and embeddings; ``symsim info`` describes a bundle; ``symsim
classify`` names the wallpaper group of images; ``symsim train-symmetry`` trains the
symmetry network. Heavy modules (torch, umap, dask) are imported only by the command that
needs them, so ``symsim --help`` answers at once.

Exit status: 0 on success (some inputs may have been rejected and are listed), 2 for
usage errors, 1 when nothing could be done.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line argument is invalid (exit status 2)."""


class CommandFailed(Exception):
    """The command could not do anything useful (exit status 1)."""


# --------------------------------------------------------------------------- parsers
def build_parser() -> argparse.ArgumentParser:
    """The ``symsim`` argument parser with all its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="symsim",
        description="Symmetry-aware, recursive image-similarity exploration of microscopy "
        "image collections.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    embed = commands.add_parser(
        "embed",
        help="embed images into a bundle (items, thumbnails, embeddings)",
        description="Decode, tile and embed images, and write a bundle folder that "
        "`symsim info` and the dashboard read. Rejected inputs are listed with their "
        "reasons; the others proceed.",
    )
    embed.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders")
    embed.add_argument(
        "--demo",
        action="store_true",
        help="embed the bundled demo collection (built at first use, then cached)",
    )
    embed.add_argument("--out", "-o", required=True, metavar="BUNDLE", help="bundle folder")
    embed.add_argument(
        "--model",
        default="auto",
        help="feature model: natural, symmetry, symmetry+natural, a torchvision backbone "
        "whose weights are cached locally, or 'auto' (symmetry+natural when the symmetry "
        "weights are installed, else natural). Default: auto",
    )
    embed.add_argument(
        "--tiles",
        metavar="SIZES",
        help="comma-separated tile sizes: fractions of the short side (0.5), pixels "
        "(256) or physical sizes in nm (500nm, 1.5um), e.g. 1,0.5,0.25 or 500nm,1000nm "
        "(physical sizes need calibrated files, or --pixel-size-nm). Default: whole images",
    )
    embed.add_argument(
        "--channels",
        metavar="NAMES",
        help="keep only these channels of instrument files, comma-separated and "
        "case-insensitive, e.g. Amplitude,Phase (Phase also keeps Phase1)",
    )
    embed.add_argument(
        "--metadata",
        metavar="CSV",
        help="a table with a column 'file' (file names or paths) whose other columns "
        "are joined onto the items, to colour the map by them",
    )
    embed.add_argument(
        "--pixel-size-nm",
        type=float,
        metavar="NM",
        help="pixel size for files without a calibration (for nm tiles)",
    )
    embed.add_argument(
        "--overlap", type=float, default=0.0, help="tile overlap fraction in [0, 1)"
    )
    embed.add_argument(
        "--frames",
        choices=("all", "first"),
        default="all",
        help="pages of multi-page TIFFs and slices of 3-D stacks (default: all)",
    )
    embed.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    embed.add_argument(
        "--scheduler",
        metavar="S",
        help="shard the work over a Dask cluster: 'local' or 'local:N' (a LocalCluster of "
        "N worker processes), a scheduler address (tcp://host:8786) or a scheduler "
        "JSON file (as written by `dask scheduler --scheduler-file`)",
    )
    embed.add_argument("--batch-size", type=int, help="images per forward pass")
    embed.add_argument(
        "--symmetry-weight",
        "--weight",
        dest="weight",
        type=float,
        default=None,
        help="share of the symmetry features in symmetry+natural, in [0, 1], gated per item "
        "by its periodicity (default 0.5)",
    )
    embed.add_argument(
        "--no-cache", action="store_true", help="do not read or write the embedding cache"
    )
    embed.add_argument("--max-pixels", type=int, help="refuse images with more pixels")
    embed.add_argument("--force", action="store_true", help="replace an existing bundle")
    embed.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    embed.set_defaults(run=run_embed)

    info = commands.add_parser(
        "info",
        help="describe a bundle",
        description="Print what a bundle holds: items, scales, model, rejected inputs.",
    )
    info.add_argument("bundle", metavar="BUNDLE")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(run=run_info)

    classify = commands.add_parser(
        "classify",
        help="name the wallpaper group of images",
        description="Classify images into the 17 wallpaper groups with the shipped "
        "symmetry network.",
    )
    train = commands.add_parser(
        "train-symmetry",
        help="train the wallpaper-group network",
        description="Train the symmetry network on freshly generated wallpaper patterns.",
    )
    _configure_symmetry_commands(classify, train)

    demo = commands.add_parser(
        "demo",
        help="serve the read-only dashboard on the demo data",
        description="Build the demo collection, embed it into a demo bundle in the cache "
        "(once), and serve the read-only dashboard with Voila on 127.0.0.1.",
    )
    dashboard = commands.add_parser(
        "dashboard",
        help="serve the read-only dashboard on a bundle",
        description="Serve the read-only dashboard on BUNDLE with Voila on 127.0.0.1.",
    )
    dashboard.add_argument("bundle", metavar="BUNDLE", help="a bundle written by `symsim embed`")
    for sub in (demo, dashboard):
        sub.add_argument("--port", type=_port, help="port on 127.0.0.1 (default: a free one)")
        sub.add_argument("--no-browser", action="store_true", help="do not open a web browser")
        sub.add_argument(
            "--pool-size",
            type=_count,
            default=None,
            help="kernels kept preheated for arriving viewers (default 4; 0: none)",
        )
        sub.set_defaults(run=run_dashboard)
    return parser


def _configure_symmetry_commands(
    classify: argparse.ArgumentParser, train: argparse.ArgumentParser
) -> None:
    try:
        from symsim_widgets.symmetry import cli as symmetry_cli
    except ImportError as exc:  # the symmetry package is part of the install
        message = f"the symmetry commands are unavailable: {exc}"

        def unavailable(args: argparse.Namespace) -> int:
            raise CommandFailed(message)

        classify.set_defaults(run=unavailable)
        train.set_defaults(run=unavailable)
        return
    symmetry_cli.configure_classify_parser(classify)
    classify.set_defaults(run=symmetry_cli.run_classify)
    symmetry_cli.configure_train_parser(train)
    train.set_defaults(run=symmetry_cli.run_train)


# --------------------------------------------------------------------------- embed
def run_embed(args: argparse.Namespace) -> int:
    """``symsim embed``: collection -> embeddings -> bundle."""
    from symsim_widgets.bundle import read_manifest
    from symsim_widgets.pipeline import build_bundle

    if args.demo == bool(args.inputs):
        raise UsageError("give INPUT files/folders or --demo (one of the two)")
    out = Path(args.out).expanduser()
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; add --force to replace it")
    if out.exists() and not (out / "manifest.json").is_file():
        raise UsageError(f"{out} exists and is not a bundle; choose another --out")
    tiles = parse_tiles(args.tiles, args.overlap)
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.weight is not None and not 0.0 <= args.weight <= 1.0:
        raise UsageError("--symmetry-weight must lie in [0, 1]")
    progress = not args.quiet
    model = resolve_model_name(args.model)

    started = time.perf_counter()
    collection = _open_collection(args, tiles, progress)
    for source, reason in zip(
        collection.errors["source"], collection.errors["reason"], strict=True
    ):
        print(f"rejected: {source}: {reason}", file=sys.stderr)
    if len(collection) == 0:
        raise CommandFailed("no usable images: every input was rejected (see above)")

    client, close_client = _dask_client(args.scheduler)
    try:
        build_bundle(
            collection,
            out,
            model=model,
            device=args.device,
            cache=not args.no_cache,
            progress=progress,
            client=client,
            batch_size=args.batch_size,
            symmetry_weight=args.weight,
            info={
                "device": args.device,
                "tiles": args.tiles,
                "overlap": args.overlap,
                "channels": args.channels,
                "metadata": args.metadata,
                "inputs": ["<demo>"] if args.demo else [str(p) for p in args.inputs],
            },
            overwrite=args.force,
        )
    finally:
        close_client()
    seconds = time.perf_counter() - started
    dims = ", ".join(f"{k} {v[1]}-D" for k, v in read_manifest(out)["embeddings"].items())
    print(
        f"wrote {out}: {len(collection)} items ({dims}), {len(collection.errors)} rejected, "
        f"{seconds:.1f} s"
    )
    return EXIT_OK


def _open_collection(args: argparse.Namespace, tiles: Any, progress: bool) -> Any:
    from symsim_widgets.collection import Collection

    if args.demo:
        from symsim_widgets.demo import demo_collection

        collection = demo_collection(progress=progress)
        if tiles is None and args.frames == "all" and args.max_pixels is None:
            return collection
        sources = list(dict.fromkeys(collection.items["source"]))
        paths: list[str] = sources
    else:
        paths = []
        for raw in args.inputs:
            path = Path(raw).expanduser()
            if not path.exists():
                # Still handed to the collection, which records it among the errors.
                print(f"warning: {raw} does not exist", file=sys.stderr)
            paths.append(str(path))
    channels = None
    if args.channels is not None:
        channels = [c.strip() for c in args.channels.split(",") if c.strip()]
        if not channels:
            raise UsageError("--channels: give at least one channel name")
    if args.pixel_size_nm is not None and not args.pixel_size_nm > 0:
        raise UsageError(f"--pixel-size-nm must be positive, got {args.pixel_size_nm}")
    metadata = None
    if args.metadata is not None:
        from symsim_widgets.collection import read_metadata_table

        try:
            metadata = read_metadata_table(Path(args.metadata).expanduser())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # unmatched rows are printed below
        collection = Collection.from_paths(
            paths,
            tiles=tiles,
            frames=args.frames,
            max_pixels=args.max_pixels,
            progress=progress,
            metadata=metadata,
            channels=channels,
            pixel_size_nm=args.pixel_size_nm,
        )
    for file, problem in collection.metadata_unmatched.itertuples(index=False):
        print(f"metadata: {file}: {problem}", file=sys.stderr)
    return collection


def resolve_model_name(name: str) -> str:
    """Turn ``auto`` into the best model this installation has; check other names."""
    from symsim_widgets.models import available_models, best_available_model

    if name == "auto":
        best = best_available_model()
        if best == "natural":
            print("note: the symmetry weights are not installed; using 'natural'", file=sys.stderr)
        return best
    if name not in available_models():
        raise UsageError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return name


_LENGTH_SUFFIXES = {"nm": 1.0, "um": 1e3, "µm": 1e3, "mm": 1e6}


def _physical_size(part: str) -> float | None:
    """``"500nm"`` -> 500.0, ``"1.5um"`` -> 1500.0 (nm); None without a length suffix."""
    for suffix, factor in _LENGTH_SUFFIXES.items():
        if part.lower().endswith(suffix):
            try:
                value = float(part[: -len(suffix)])
            except ValueError:
                raise UsageError(f"--tiles: {part!r} is not a length") from None
            if not value > 0:
                raise UsageError(f"--tiles: sizes must be positive, got {part}")
            return value * factor
    return None


def parse_tiles(text: str | None, overlap: float = 0.0) -> Any:
    """Parse ``--tiles 1,0.5,256`` or ``--tiles 500nm,1um`` into a
    :class:`~symsim_widgets.collection.Tiling`.

    Sizes with a decimal point or below 1 are fractions of the short side; whole numbers
    above 1 are pixels; sizes ending in ``nm``, ``um`` or ``mm`` are physical (all of the
    sizes then, since one tiling has one unit).
    """
    if not 0.0 <= overlap < 1.0:
        raise UsageError(f"--overlap must lie in [0, 1), got {overlap}")
    if text is None:
        if overlap:
            raise UsageError("--overlap needs --tiles")
        return None
    parts = [part.strip() for part in text.split(",")]
    physical = [_physical_size(part) for part in parts]
    if any(p is not None for p in physical):
        if any(p is None for p in physical):
            raise UsageError(
                f"--tiles {text}: mix of physical (nm) and pixel/fraction sizes; give all "
                "sizes with a length unit, e.g. 500nm,1000nm"
            )
        from symsim_widgets.collection import Tiling

        return Tiling(sizes=tuple(physical), overlap=overlap, unit="nm")
    sizes: list[float | int] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"--tiles: {part!r} is not a number") from None
        if value <= 0:
            raise UsageError(f"--tiles: sizes must be positive, got {part}")
        if "." in part or value <= 1:
            if value > 1:
                raise UsageError(f"--tiles: fraction {part} exceeds 1 (use pixels: {int(value)})")
            sizes.append(value)
        else:
            sizes.append(int(value))
    from symsim_widgets.collection import Tiling

    return Tiling(sizes=tuple(sizes), overlap=overlap)


def _dask_client(scheduler: str | None) -> tuple[Any, Any]:
    """A ``dask.distributed.Client`` for ``--scheduler``, and a function that closes it."""
    if not scheduler:
        return None, lambda: None
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise CommandFailed(
            "--scheduler needs dask.distributed: pip install 'symsim-widgets[dask]'"
        ) from None
    if scheduler == "local" or scheduler.startswith("local:"):
        count = scheduler.partition(":")[2] or "2"
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--scheduler {scheduler!r}: expected local or local:N (N >= 1)")
        cluster = LocalCluster(
            n_workers=int(count), threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    try:
        if Path(scheduler).is_file():
            client = Client(scheduler_file=scheduler, timeout="30s")
        else:
            client = Client(scheduler, timeout="30s")
    except OSError as exc:
        raise CommandFailed(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from exc
    return client, client.close


# --------------------------------------------------------------------------- info
def run_info(args: argparse.Namespace) -> int:
    """``symsim info``: what a bundle holds."""
    from symsim_widgets.bundle import Bundle, BundleError

    try:
        bundle = Bundle.load(args.bundle)
    except BundleError as exc:
        raise CommandFailed(str(exc)) from exc
    summary = bundle.summary()
    summary["path"] = str(Path(args.bundle).expanduser())
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return EXIT_OK
    info = summary["info"]
    print(f"bundle     {summary['path']}")
    print(f"items      {summary['items']} from {summary.get('sources', '?')} sources")
    if "scales" in summary:
        scales = ", ".join(f"{k}: {v}" for k, v in summary["scales"].items())
        print(f"scales     {scales}")
    if summary.get("channels"):
        channels = ", ".join(f"{k}: {v}" for k, v in summary["channels"].items())
        print(f"channels   {channels}")
    pixel = summary.get("pixel_size_nm")
    if pixel and pixel["calibrated_sources"]:
        print(
            f"pixel size {pixel['min']:.4g}-{pixel['max']:.4g} nm "
            f"({pixel['calibrated_sources']} calibrated sources, "
            f"{pixel['uncalibrated_sources']} without a calibration)"
        )
    elif pixel:
        print("pixel size none: no source has a calibration")
    print(f"model      {info.get('model', '?')}")
    for name, shape in summary["embeddings"].items():
        marker = " (primary)" if name == summary["primary"] else ""
        print(f"embedding  {name}: {shape[0]} x {shape[1]}{marker}")
    for name, fingerprint in info.get("fingerprints", {}).items():
        print(f"fingerprint {name}: {fingerprint}")
    print(f"rejected   {summary['rejected']}")
    for error in summary["errors"]:
        print(f"  {error['source']}: {error['reason']}")
    return EXIT_OK


# --------------------------------------------------------------------------- dashboard
def _port(text: str) -> int:
    """An argparse type: a TCP port number."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"a port lies between 1 and 65535; got {port}")
    return port


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more; got {count}")
    return count


def run_dashboard(args: argparse.Namespace) -> int:
    """``symsim demo`` and ``symsim dashboard``: serve the Voila dashboard."""
    from symsim_widgets.dashboard import DashboardError, run_command

    try:
        return run_command(args)
    except DashboardError as exc:
        raise CommandFailed(str(exc)) from exc


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``symsim`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or EXIT_OK)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"symsim {args.command}: error: {exc}\n")
    except CommandFailed as exc:
        print(f"symsim {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"symsim {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear line for users; the details stay one flag away
        from symsim_widgets.models import ModelUnavailableError

        if isinstance(exc, ModelUnavailableError | FileExistsError | ValueError):
            print(f"symsim {args.command}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise
    return EXIT_OK  # pragma: no cover - parser.exit does not return


def _version() -> str:
    from symsim_widgets import __version__

    return __version__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
