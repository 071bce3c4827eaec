"""Light-weight constants and the training configuration (no numpy, scipy or torch), so
that building the command-line parsers stays instant."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MOTIF_SOURCES", "TrainConfig"]

# The generator's motif families (see symmetry/motifs.py): patches of scikit-image's sample
# images, random anisotropic Gaussian atoms, random power-law fields, atom columns as in
# STEM/STM images, binary domains, line segments and stripes.
MOTIF_SOURCES: tuple[str, ...] = ("image", "blobs", "field", "atoms", "domains", "stripes")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the state and the recipe)."""

    steps: int = 20_000
    batch_size: int = 64
    views: int = 1  # each generated pattern appears this many times per batch (D4 views)
    input_size: int = 96
    arch: str = "resnet18"
    stem: str = "standard"
    width: int = 64
    orientations: int = 8  # inference (and evaluation) averages the square's 8 symmetries
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 500
    label_smoothing: float = 0.05
    train_sources: tuple[str, ...] = ("image", "blobs", "atoms", "domains", "stripes")
    cells: tuple[float, float] = (3.0, 12.0)
    min_cell_px: float = 16.0
    corruption_strength: float = 1.0
    extra_noise: float = 0.0  # share of training patterns given heavy shot + read noise
    seed: int = 0
    test_seed: int = 20_260_000
    test_per_group: int = 200
    variant_per_group: int = 100
    eval_every: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    workers: int | None = None
    device: str = "auto"
    amp: bool = True
    time_limit: float | None = None  # minutes; stop (resumably) after this long
    finish_at_time_limit: bool = False  # at the time limit, also evaluate and checkpoint
    init_from: str = ""  # warm start: a checkpoint whose weights start this run
    command: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Normalise the sequences (a config may come from JSON) and check the values that
        would otherwise fail late, inside the data-loading workers."""
        self.train_sources = tuple(self.train_sources)
        self.cells = tuple(float(c) for c in self.cells)
        if self.steps < 1 or self.batch_size < 1 or self.input_size < 16:
            raise ValueError(
                "steps and batch_size must be at least 1 and input_size at least 16, got "
                f"{self.steps}, {self.batch_size}, {self.input_size}"
            )
        bad = [s for s in self.train_sources if s not in MOTIF_SOURCES]
        if bad or not self.train_sources:
            raise ValueError(f"train_sources must be a non-empty subset of {MOTIF_SOURCES}")
        if not 1 <= self.views <= 8:
            raise ValueError(
                f"views must be between 1 and 8 (the square's symmetries): {self.views}"
            )
        if not 0.0 <= self.corruption_strength <= 1.0:
            raise ValueError(
                f"corruption_strength must be in [0, 1], got {self.corruption_strength}"
            )

        if not 0.0 <= self.extra_noise <= 1.0:
            raise ValueError(f"extra_noise must be in [0, 1], got {self.extra_noise}")

    @property
    def patterns_per_batch(self) -> int:
        """Generated patterns per batch: each appears in ``views`` orientations."""
        return -(-self.batch_size // self.views)

    @property
    def holdout_sources(self) -> tuple[str, ...]:
        return tuple(s for s in MOTIF_SOURCES if s not in self.train_sources)
