"""SynthConfig: what the synthetic generator draws, and its smoke / cpu profiles."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from benchmark.errors import ConfigError, UnknownNameError

SETS = (
    "market1501",
    "partial_reid",
    "partial_ilids_2018",
    "partial_ilids_2019",
    "occluded_reid",
    "coco_densepose",
)
_TYPES = {"int": int, "float": (int, float), "tuple[str, ...]": tuple}
GENERATOR_VERSION = 1  # bump when the drawing changes, so cached trees are regenerated


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """Everything that determines the synthetic tree (its hash names the cache).

    The defaults are the ``cpu`` profile.

    Attributes:
        seed: the one seed everything is drawn from.
        height, width: ReID image size (Market-1501's native 128x64).
        train_ids, train_images_per_id: the Market-1501-format training set (holistic people).
        test_ids, query_per_id, gallery_per_id: the Market test split (ids disjoint from train).
        distractors, junk: gallery images with pid 0000 and -1.
        cameras: Market cameras (2-9; the file names hold one digit).
        occlusion: mean fraction of the body hidden in the occluded/partial sets (each image
            draws uniformly within +-0.15 of it).
        scale_occluded_sets: 1.0 = the real sets' identity/image counts (paper Table 1).
        coco_images: DensePose-COCO-format parsing set size (train images).
        sets: which data sets to write.
    """

    seed: int = 0
    height: int = 128
    width: int = 64
    train_ids: int = 250
    train_images_per_id: int = 10
    test_ids: int = 150
    query_per_id: int = 2
    gallery_per_id: int = 8
    distractors: int = 100
    junk: int = 50
    cameras: int = 6
    occlusion: float = 0.4
    scale_occluded_sets: float = 1.0
    coco_images: int = 600
    sets: tuple[str, ...] = SETS

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), _TYPES[str(f.type)]
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ConfigError(f"synthetic {f.name} must be {f.type}, got {value!r}")
        positive = ("height", "width", "train_ids", "test_ids", "query_per_id", "coco_images")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"synthetic {name} must be >= 1, got {getattr(self, name)}")
        for name in ("distractors", "junk"):
            if getattr(self, name) < 0:
                raise ConfigError(f"synthetic {name} must be >= 0, got {getattr(self, name)}")
        if self.height < 32 or self.width < 16:
            raise ConfigError("synthetic images must be at least 32x16 pixels; raise height/width")
        if self.train_images_per_id < 2 or self.gallery_per_id < 2:
            raise ConfigError(
                "synthetic train_images_per_id and gallery_per_id must be >= 2 "
                "(identities need images in two cameras)"
            )
        if not 2 <= self.cameras <= 9:
            raise ConfigError(f"synthetic cameras must be in 2..9, got {self.cameras}")
        if self.train_ids + self.test_ids > 9998:
            raise ConfigError("synthetic train_ids + test_ids must be <= 9998 (4-digit pids)")
        if not 0.0 <= self.occlusion <= 0.85:
            raise ConfigError(f"synthetic occlusion must be in [0, 0.85], got {self.occlusion}")
        if not 0.0 < self.scale_occluded_sets <= 4.0:
            raise ConfigError("synthetic scale_occluded_sets must be in (0, 4]")
        unknown = [s for s in self.sets if s not in SETS]
        if unknown or not self.sets:
            raise ConfigError(f"unknown synthetic sets {unknown}; choose from {', '.join(SETS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        d = dataclasses.asdict(self)
        d["sets"] = list(self.sets)
        return d

    def digest(self) -> str:
        """Hash of the config and the generator version: the cache key of a tree."""
        payload = json.dumps({"v": GENERATOR_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


# smoke: seconds to generate (tests, CI); cpu (the defaults): the default benchmark.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        train_ids=16,
        train_images_per_id=8,
        test_ids=12,
        query_per_id=2,
        gallery_per_id=4,
        distractors=10,
        junk=5,
        scale_occluded_sets=0.1,
        coco_images=40,
    ),
    "cpu": {},
}


def synth_config(profile: str, **overrides: Any) -> SynthConfig:
    """The SynthConfig of a named profile ("smoke" or "cpu") with field overrides.

    Raises:
        UnknownNameError: unknown profile.
        ConfigError: unknown or invalid field.
    """
    if profile not in PROFILES:
        close = difflib.get_close_matches(profile, PROFILES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UnknownNameError(
            f"unknown synthetic profile {profile!r}{hint}; valid profiles: {', '.join(PROFILES)}"
        )
    fields = {f.name for f in dataclasses.fields(SynthConfig)}
    bad = sorted(set(overrides) - fields)
    if bad:
        raise ConfigError(
            f"unknown synthetic option(s) {', '.join(bad)}; "
            f"valid options: {', '.join(sorted(fields))}"
        )
    if "sets" in overrides:
        overrides["sets"] = tuple(overrides["sets"])
    return SynthConfig(**{**PROFILES[profile], **overrides})
