"""Training the symmetry classifier on freshly generated wallpaper patterns.

Every batch is new: batch ``s`` is generated from the seed ``(seed, s)`` in DataLoader
workers, so a run is reproducible and a resumed run sees exactly the batches the
uninterrupted one would have. The run directory holds::

    train_state.pt     model + optimiser + scheduler + step + RNG state (atomic writes)
    symmetry.pt        the final checkpoint (float16 weights + metadata, see network.py)
    metrics.json       the evaluation of the final model
    confusion.png      confusion matrix on the held-out test set
    log.jsonl          one JSON line per logging interval (loss, lr, images/s)

Evaluation uses fixed sets generated from a separate seed, at the run's corruption
strength: the held-out test set (``test_per_group`` images per group, the training motif
sources), and variants (``variant_per_group`` per group): ``rotated`` (rendered larger,
rotated by a random angle, centre-cropped), ``noisy`` (extra Gaussian and shot noise),
``ood_source`` (motifs from the sources left out of training, by default the random smooth
fields), ``independent`` (clean patterns of the independent generator,
:mod:`~symsim_widgets.symmetry.independent`, at the run's scales: a different method of
making patterns) and, when the run trains below full corruption, ``full_corruption`` (the
generator's full corruption strength, 1.0).

With ``views > 1`` every generated pattern appears in a batch in that many orientations
of the square (:func:`dihedral_views`), which divides the generation cost per training
image (generation, not the network, limits training on a few CPU cores).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from symsim_widgets._device import resolve_device
from symsim_widgets._files import copy_file_atomically, write_atomically, write_text_atomically
from symsim_widgets.symmetry.config import TrainConfig
from symsim_widgets.symmetry.corruption import heavy_noise
from symsim_widgets.symmetry.generator import generate_batch, generate_sample, redrawn
from symsim_widgets.symmetry.groups import WALLPAPER_GROUPS
from symsim_widgets.symmetry.independent import independent_wallpaper
from symsim_widgets.symmetry.network import (
    SymmetryNet,
    load_checkpoint,
    save_checkpoint,
)

__all__ = ["TrainConfig", "dihedral_views", "evaluate", "make_eval_sets", "train_symmetry"]

GENERATOR_VERSION = "symsim-wallpaper-generator/2"
STATE_FILE = "train_state.pt"
CHECKPOINT_FILE = "symmetry.pt"


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
class _TrainBatches(torch.utils.data.Dataset):
    """Item ``s`` is training batch ``s``: ``(images (B, 1, S, S), labels (B,))``."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg

    def __len__(self) -> int:
        return self.cfg.steps

    def __getitem__(self, step: int):
        cfg = self.cfg
        images, labels = generate_batch(
            cfg.patterns_per_batch,
            cfg.input_size,
            rng=np.random.default_rng([cfg.seed, int(step)]),
            sources=cfg.train_sources,
            cells=cfg.cells,
            min_cell_px=cfg.min_cell_px,
            corruption_strength=cfg.corruption_strength,
        )
        if cfg.extra_noise > 0:
            noise_rng = np.random.default_rng([cfg.seed, int(step), 2])
            for k in np.flatnonzero(noise_rng.random(len(images)) < cfg.extra_noise):
                # a little beyond the evaluation's range on both ends
                read_noise = noise_rng.uniform(0.0, 0.12)
                images[k] = heavy_noise(
                    images[k], noise_rng, photons=(3.0, 40.0), read_noise=read_noise
                )
        if cfg.views > 1:
            images, labels = dihedral_views(
                images, labels, cfg.views, np.random.default_rng([cfg.seed, int(step), 1])
            )
            images, labels = images[: cfg.batch_size], labels[: cfg.batch_size]
        return torch.from_numpy(images[:, None]), torch.from_numpy(labels)


def dihedral_views(
    images: np.ndarray, labels: np.ndarray, views: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each image in ``views`` distinct orientations of the square (rotations by 90 degrees
    and reflections), which keep its wallpaper group.

    Rotating or reflecting a whole pattern conjugates its symmetry group, so the label
    stays; the patterns' lattices are already randomly oriented, so the views are new
    samples of the same distribution that cost no generation. Returns
    ``(images (n * views, S, S), labels (n * views,))``, view ``v`` of every image in the
    ``v``-th block.
    """
    if not 1 <= views <= 8:
        raise ValueError(f"views must be between 1 and 8 (the square's symmetries), got {views}")
    picks = np.argsort(rng.random((len(images), 8)), axis=1)[:, :views]
    out = np.empty((views, *images.shape), images.dtype)
    for i, img in enumerate(images):
        for v, k in enumerate(picks[i]):
            view = np.rot90(img, k % 4)
            out[v, i] = view.T if k >= 4 else view
    return out.reshape(-1, *images.shape[1:]), np.tile(labels, views)


def _variant_image(cfg: TrainConfig, variant: str, group: str, rng) -> np.ndarray:
    n = cfg.input_size
    strength = 1.0 if variant == "full_corruption" else cfg.corruption_strength
    kw = dict(cells=cfg.cells, min_cell_px=cfg.min_cell_px, corruption_strength=strength)
    if variant == "independent":
        # the run's scales, within what the independent generator can draw (8-px cells)
        hi = max(1.0, min(cfg.cells[1], n / cfg.min_cell_px, n / 8.0))
        cells = (max(1.0, min(cfg.cells[0], hi)), hi)
        return independent_wallpaper(group, n, cells=cells, rng=rng).image
    if variant == "ood_source":
        return generate_sample(group, n, rng=rng, sources=cfg.holdout_sources, **kw).image
    if variant == "rotated":
        big = math.ceil(n * math.sqrt(2)) + 2
        scale = big / n
        kw["cells"] = (cfg.cells[0] * scale, cfg.cells[1] * scale)
        img = generate_sample(group, big, rng=rng, sources=cfg.train_sources, **kw).image
        rot = ndimage.rotate(img, rng.uniform(0, 360), reshape=False, order=1, mode="reflect")
        y0 = (big - n) // 2
        return np.clip(rot[y0 : y0 + n, y0 : y0 + n], 0, 1)
    img = generate_sample(group, n, rng=rng, sources=cfg.train_sources, **kw).image
    if variant == "noisy":
        img = heavy_noise(img, rng)
    return img.astype(np.float32)


def _identity(x):
    return x


EVAL_VARIANTS = (
    "held_out", "rotated", "noisy", "ood_source", "full_corruption", "independent"
)  # fmt: skip


class _EvalImages(torch.utils.data.Dataset):
    """Item ``(variant, group index)``: that group's fixed evaluation images."""

    def __init__(self, cfg: TrainConfig, variants: Sequence[str]):
        self.cfg = cfg
        self.items = [(v, g) for v in variants for g in range(len(WALLPAPER_GROUPS))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int):
        variant, g = self.items[idx]
        cfg = self.cfg
        count = cfg.test_per_group if variant == "held_out" else cfg.variant_per_group
        vid = EVAL_VARIANTS.index(variant)
        rng = np.random.default_rng([cfg.test_seed, vid, g])
        imgs = np.stack(
            [redrawn(_variant_image, cfg, variant, WALLPAPER_GROUPS[g], rng) for _ in range(count)]
        )
        return variant, g, torch.from_numpy(imgs[:, None])


def make_eval_sets(
    cfg: TrainConfig, workers: int = 0
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The fixed evaluation sets: ``{variant: (images (N, 1, S, S), labels (N,))}``."""
    variants = ["held_out"]
    if cfg.variant_per_group > 0:
        variants += ["rotated", "noisy"]
        if cfg.holdout_sources:
            variants.append("ood_source")
        if cfg.corruption_strength < 1.0:
            variants.append("full_corruption")
        variants.append("independent")
    ds = _EvalImages(cfg, variants)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=None, num_workers=workers, collate_fn=_identity
    )
    parts: dict[str, list] = {v: [] for v in variants}
    for variant, g, imgs in loader:
        parts[variant].append((g, imgs))
    out = {}
    for v, items in parts.items():
        items.sort(key=lambda t: t[0])
        x = torch.cat([imgs for _, imgs in items])
        y = torch.cat([torch.full((len(imgs),), g, dtype=torch.int64) for g, imgs in items])
        out[v] = (x, y)
    return out


# --------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------
def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, device: torch.device, amp: bool, batch_size: int = 256
) -> torch.Tensor:
    """Class probabilities ``(N, C)`` float32 on CPU."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        with _autocast(device, amp):
            logits = model(xb)
        out.append(torch.softmax(logits.float(), dim=1).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty((0, len(WALLPAPER_GROUPS)))


def evaluate(
    model: nn.Module,
    sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    amp: bool,
) -> dict:
    """Accuracy overall and per group for each evaluation set, plus confusion matrices."""
    result = {}
    for name, (x, y) in sets.items():
        pred = predict(model, x, device, amp).argmax(1)
        n = len(WALLPAPER_GROUPS)
        conf = np.zeros((n, n), dtype=np.int64)
        np.add.at(conf, (y.numpy(), pred.numpy()), 1)
        per = {
            g: float(conf[i, i] / max(conf[i].sum(), 1)) for i, g in enumerate(WALLPAPER_GROUPS)
        }
        result[name] = {
            "overall": float(np.trace(conf) / max(conf.sum(), 1)),
            "per_group": per,
            "n": int(conf.sum()),
            "confusion": conf.tolist(),
        }
    return result


def save_confusion_png(confusion: np.ndarray, path: Path, title: str) -> bool:
    """Draw the confusion matrix to ``path``; False (nothing drawn) without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    conf = np.asarray(confusion, dtype=float)
    norm = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 7), dpi=100)
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    n = len(WALLPAPER_GROUPS)
    ax.set_xticks(range(n), WALLPAPER_GROUPS, rotation=90)
    ax.set_yticks(range(n), WALLPAPER_GROUPS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            if conf[i, j]:
                ax.text(j, i, int(conf[i, j]), ha="center", va="center", fontsize=6,
                        color="black" if norm[i, j] > 0.5 else "white")  # fmt: skip
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    write_atomically(path, fig.savefig)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
def _warm_start(model: SymmetryNet, cfg: TrainConfig) -> None:
    """Load the weights of the checkpoint ``cfg.init_from`` (same architecture and input)."""
    weights, meta = load_checkpoint(cfg.init_from)  # verifies the weights' sha256
    wanted = {"arch": cfg.arch, "input_size": cfg.input_size, "width": cfg.width}
    found = {k: meta.get(k, 64 if k == "width" else None) for k in wanted}
    if found != wanted:
        raise ValueError(
            f"--init-from {cfg.init_from}: the checkpoint is {found}, this run is {wanted}"
        )
    model.load_state_dict(weights.state_dict())


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / max(cfg.warmup, 1)
        progress = (step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return f


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


_SAME_RUN_KEYS = (
    "batch_size", "views", "input_size", "arch", "stem", "width", "train_sources", "cells",
    "min_cell_px", "corruption_strength", "extra_noise", "seed", "lr", "weight_decay", "warmup",
)  # fmt: skip


def _config_dict(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    d["train_sources"] = list(cfg.train_sources)
    d["cells"] = list(cfg.cells)
    return d


def train_symmetry(
    out_dir: str | os.PathLike,
    *,
    resume: bool = True,
    progress: bool = True,
    install_to: str | os.PathLike | None = None,
    **config,
) -> dict:
    """Train the wallpaper-group classifier; return the final checkpoint's metadata.

    Parameters
    ----------
    out_dir : run directory (created); see the module docstring for its files.
    resume : continue from ``out_dir/train_state.pt`` when it exists (the run's defining
        parameters must match; ``steps`` may be raised to extend a finished run, which
        also stretches the learning-rate schedule).
    progress : print a line every ``log_every`` steps.
    install_to : also copy the final checkpoint there (e.g. the package's
        ``weights/symmetry.pt``).
    **config : fields of :class:`TrainConfig` (``steps``, ``batch_size``, ``input_size``,
        ``arch``, ``lr``, ``train_sources``, ``seed``, ``workers``, ``device``, ``amp``...).

    When ``time_limit`` (minutes) runs out, the state is saved and the function returns
    ``{"finished": False, "step": ...}`` without writing the final checkpoint; calling it
    again resumes. With ``finish_at_time_limit`` it also evaluates and writes the
    checkpoint of the weights reached (its metadata has ``finished`` False and the
    recipe ``finished_schedule`` False); calling it again still resumes.
    """
    cfg = TrainConfig(**config)  # checks and normalises the values
    if not cfg.command:  # called from Python: record the call itself
        args = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "command")
        cfg.command = f"train_symmetry({str(out_dir)!r}{', ' if args else ''}{args})"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    amp = bool(cfg.amp)
    workers = cfg.workers if cfg.workers is not None else max(1, (os.cpu_count() or 2) - 1)
    t_start = time.monotonic()

    torch.manual_seed(cfg.seed)
    model = SymmetryNet(
        cfg.arch,
        len(WALLPAPER_GROUPS),
        1,
        stem=cfg.stem,
        width=cfg.width,
        orientations=cfg.orientations,
    ).to(device)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    step = 0
    history: list[dict] = []

    state_path = out / STATE_FILE
    resuming = resume and state_path.exists()
    if cfg.init_from and not resuming:
        _warm_start(model, cfg)
        if progress:
            print(f"weights initialised from {cfg.init_from}", flush=True)
    if resuming:
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        old = state["config"]
        mismatch = {
            k: (old.get(k), _config_dict(cfg)[k])
            for k in _SAME_RUN_KEYS
            if old.get(k) != _config_dict(cfg)[k]
        }
        if mismatch:
            raise ValueError(
                f"{state_path} belongs to a different run (differs in {mismatch}); "
                "use another output directory or resume=False"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        history = list(state.get("history", []))
        _set_rng_state(state["rng"], device)
        if progress:
            print(f"resumed from {state_path} at step {step}", flush=True)

    def save_state() -> None:
        state = {
            "config": _config_dict(cfg),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "rng": _rng_state(device),
            "history": history,
            "generator": GENERATOR_VERSION,
        }
        write_atomically(state_path, lambda tmp: torch.save(state, tmp))

    eval_sets = None

    def get_eval_sets():
        nonlocal eval_sets
        if eval_sets is None:
            t0 = time.monotonic()
            eval_sets = make_eval_sets(cfg, workers=workers if workers > 0 else 0)
            if progress:
                n = sum(len(y) for _, y in eval_sets.values())
                print(f"generated {n} evaluation images in {time.monotonic() - t0:.1f}s",
                      flush=True)  # fmt: skip
        return eval_sets

    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    if step < cfg.steps:
        loader = torch.utils.data.DataLoader(
            _TrainBatches(cfg),
            batch_size=None,
            sampler=range(step, cfg.steps),
            num_workers=workers,
            prefetch_factor=4 if workers > 0 else None,
            persistent_workers=False,
            pin_memory=device.type == "cuda",
        )
        log_path = out / "log.jsonl"
        t_log = time.monotonic()
        seen = 0
        loss_sum = 0.0
        correct = 0
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with _autocast(device, amp):
                logits = model(x)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            if step % cfg.log_every == 0 or step == cfg.steps:
                dt = time.monotonic() - t_log
                rec = {
                    "step": step,
                    "loss": loss_sum / max(seen, 1),
                    "train_acc": correct / max(seen, 1),
                    "lr": scheduler.get_last_lr()[0],
                    "images_per_s": seen / max(dt, 1e-9),
                    "elapsed_s": time.monotonic() - t_start,
                }
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                if progress:
                    print(f"step {step}/{cfg.steps} loss {rec['loss']:.3f} "
                          f"acc {rec['train_acc']:.3f} lr {rec['lr']:.2e} "
                          f"{rec['images_per_s']:.0f} img/s", flush=True)  # fmt: skip
                t_log, seen, loss_sum, correct = time.monotonic(), 0, 0.0, 0
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                res = evaluate(model, {"held_out": get_eval_sets()["held_out"]}, device, amp)
                history.append({"step": step, "held_out": res["held_out"]["overall"]})
                if progress:
                    print(f"step {step}: held-out accuracy {history[-1]['held_out']:.4f}",
                          flush=True)  # fmt: skip
            out_of_time = (
                cfg.time_limit is not None and time.monotonic() - t_start > 60 * cfg.time_limit
            )
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
                save_state()
            if out_of_time:
                if progress:
                    print(f"time limit reached at step {step}; state saved", flush=True)
                if not cfg.finish_at_time_limit:
                    return {"finished": False, "step": step, "state": str(state_path)}
                break
        else:
            save_state()

    # final evaluation and checkpoint (at the time limit too with finish_at_time_limit)
    sets = get_eval_sets()
    res = evaluate(model, sets, device, amp)
    accuracy = {name: {k: v for k, v in r.items() if k != "confusion"} for name, r in res.items()}
    if "ood_source" in accuracy:
        accuracy["ood_source"]["sources"] = list(cfg.holdout_sources)
    accuracy["history"] = history
    save_confusion_png(
        np.array(res["held_out"]["confusion"]),
        out / "confusion.png",
        f"held-out confusion ({res['held_out']['n']} images, "
        f"accuracy {res['held_out']['overall']:.3f})",
    )
    recipe = {
        "command": cfg.command,
        "config": _config_dict(cfg),
        "data": {
            "generator": GENERATOR_VERSION,
            "train_sources": list(cfg.train_sources),
            "holdout_sources": list(cfg.holdout_sources),
            "cells": list(cfg.cells),
            "min_cell_px": cfg.min_cell_px,
            "corruption_strength": cfg.corruption_strength,
            "extra_noise": cfg.extra_noise,
            "views_per_pattern": cfg.views,
            "batch_seed": "numpy default_rng([seed, step])",
            "test_seed": cfg.test_seed,
            "test_per_group": cfg.test_per_group,
            "variant_per_group": cfg.variant_per_group,
        },
        "seeds": {"train": cfg.seed, "test": cfg.test_seed},
        "steps": step,
        "finished_schedule": step >= cfg.steps,
        "images_seen": step * cfg.batch_size,
        "patterns_generated": step * cfg.patterns_per_batch,
        "device": str(device),
        "amp": "bfloat16" if amp else None,
        "torch": str(torch.__version__),
    }
    metadata = {
        "input_size": cfg.input_size,
        "mean": [0.5],
        "std": [0.25],
        "class_names": list(WALLPAPER_GROUPS),
        "recipe": recipe,
        "accuracy": accuracy,
    }
    meta = save_checkpoint(out / CHECKPOINT_FILE, model, metadata)
    metrics = {"accuracy": accuracy, "confusion": res["held_out"]["confusion"]}
    write_text_atomically(out / "metrics.json", json.dumps(metrics, indent=1))
    if install_to is not None:
        copy_file_atomically(out / CHECKPOINT_FILE, install_to)
    if progress:
        summary = ", ".join(
            f"{k} {v['overall']:.4f}" for k, v in accuracy.items() if k != "history"
        )
        print(f"final accuracy: {summary}; checkpoint {out / CHECKPOINT_FILE}", flush=True)
    meta["finished"] = step >= cfg.steps
    meta["step"] = step
    return meta
