"""A shared synthetic initialisation of the trunk: ``python -m benchmark pretrain``, its cache.

The paper starts every method from ImageNet weights (section 4.1); nothing can be downloaded
here, so ``method.pretrained=synthetic`` starts every method from the same trunk (Conv1-Conv5),
pretrained once on a disjoint synthetic identity-classification task
(``benchmark.training.pretrain_fit``) and cached under ``data/pretrained/`` like the synthetic
data: the file name holds a hash of the trunk spec, the pretraining config, the generator
version and the identities it must avoid; a JSON card beside it says how it was made.

The trunk of the default profile ships with the package (``benchmark/training/trunks/``, made by
``python -m benchmark pretrain`` and committed with its card), so a fresh clone does not pay its
pretraining: it is stored in half precision (1.4 MB) and read into the float32 model. A file of
the same name under ``data/pretrained/`` wins over the shipped one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.atomic import write_json_atomic
from benchmark.registry import Registry
from benchmark.settings import Scope, cache_key_fields, check_fields
from benchmark.state_files import save_state
from benchmark.training.pretrain_fit import TrunkSpec, draw_people, fit_trunk, render_set
from reid_datasets.synthetic.config import GENERATOR_VERSION, SynthConfig, synth_config
from reid_datasets.synthetic.people import Identity
from reid_datasets.synthetic.sets import make_pools
from reid_methods.base import applicable_options, build_method, method_config

log = logging.getLogger(__name__)

SYNTHETIC = "synthetic"  # the method.pretrained value that asks for the cached trunk
DEFAULT_DIR = Path("data") / "pretrained"
SHIPPED_DIR = Path(__file__).resolve().parent / "trunks"  # committed trunks, read only
STORE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
PRETRAIN_VERSION = 1  # bump when the task or its training changes, so caches are rebuilt
SCOPE = Scope(kind="pretrain", noun="option", example="epochs=4")


@dataclass(frozen=True, kw_only=True)
class PretrainConfig:
    """How the trunk is pretrained (its fields are part of the cache key).

    The defaults are the cpu profile: 348 s on 2 quiet CPU cores with bf16 for the cpu profile's
    quarter-width ResNet-18 at 128x64 (measured; see results/README.md), paid once per cache.
    """

    seed: int = field(default=1, metadata={"min": 0})  # the benchmark's data uses seed 0
    ids: int = field(default=500, metadata={"min": 2})  # 2x the cpu training identities
    # the last image of each identity is held out (accuracy recorded in the card)
    images_per_id: int = field(default=13, metadata={"min": 2})
    cameras: int = field(default=8, metadata={"min": 1})  # cameras drawn for this set only
    # to convergence (held-out accuracy in the card): the trunk is where scale tolerance and
    # most of the accuracy come from, as ImageNet pretraining is in the real world
    epochs: int = field(default=24, metadata={"min": 1})
    batch_size: int = field(default=64, metadata={"min": 1})
    lr: float = field(default=0.05, metadata={"gt": 0.0})  # SGD, Nesterov momentum 0.9
    weight_decay: float = field(default=5e-4, metadata={"min": 0.0})  # paper 4.1
    warmup_epochs: int = field(default=1, metadata={"min": 0})  # then cosine decay to 0
    # dense 7-part segmentation beside the identity task (0: identity classification only)
    parts_weight: float = field(default=0.0, metadata={"min": 0.0})
    # random vertical crops resized back to the input (scale augmentation, like ImageNet's
    # random resized crops): the paper's partial crops are stretched to the input
    crop_p: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    crop_min_height: float = field(default=0.4, metadata={"gt": 0.0, "max": 1.0})
    # the crop window's width (1: full-width vertical bands, the trunks before it)
    crop_min_width: float = field(default=1.0, metadata={"gt": 0.0, "max": 1.0})
    # share of the images framed like detector boxes (reid_datasets.synthetic.render.Framing):
    # person scale, position and truncation vary, as in ImageNet's photos
    framed_p: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    amp: bool = True  # bf16 on CPUs with native bf16 (recorded in the card)
    channels_last: bool = True
    # the file's float precision. float16 halves the file (1.4 MB for the cpu trunk, small
    # enough to ship in git); rounding the weights to 11 significant bits is far below what
    # fine-tuning in bf16 (8 bits) resolves. The model reads them back into float32.
    store_dtype: str = field(default="float16", metadata={"choices": tuple(STORE_DTYPES)})

    def __post_init__(self) -> None:
        check_fields(self, SCOPE)


PROFILES: Registry[PretrainConfig] = Registry("pretrain profile")
PROFILES.register("cpu", PretrainConfig())
# smoke: seconds (tests, CI), float32 so it is the same on any CPU.
PROFILES.register(
    "smoke",
    PretrainConfig(
        ids=12, images_per_id=4, epochs=2, batch_size=16, amp=False, warmup_epochs=0,
        crop_p=0.0, framed_p=0.0, store_dtype="float32",
    ),
)  # fmt: skip


def pretrain_profile(run_profile: str) -> PretrainConfig:
    """The pretraining of a run profile: smoke for smoke, the cpu one for every other."""
    return PROFILES.get("smoke" if run_profile == "smoke" else "cpu")


def benchmark_people(synth: SynthConfig) -> list[Identity]:
    """Every identity of every synthetic benchmark set of ``synth`` (train, test, occluded)."""
    pools = make_pools(synth)
    return [p for f in dataclasses.fields(pools) for p in getattr(pools, f.name)]


def people_digest(people: list[Identity]) -> str:
    """Hash of the body-group codes of ``people`` (what disjointness is measured on)."""
    codes = np.array([p.groups() for p in people], dtype=np.int64)
    return hashlib.sha256(codes.tobytes()).hexdigest()[:16]


# options added after the first trunks were cached, with the value they had before: they enter
# the key only when they differ from it, so a trunk made without them keeps its name
LATER_OPTIONS = {
    "parts_weight": 0.0,
    "crop_p": 0.0,
    "crop_min_height": 0.4,
    "crop_min_width": 1.0,
    "framed_p": 0.0,
    "store_dtype": "float32",
}


def key_options(pcfg: PretrainConfig) -> dict[str, Any]:
    """The pretraining options that name the cache file."""
    return cache_key_fields(dataclasses.asdict(pcfg), LATER_OPTIONS)


def task_text(pcfg: PretrainConfig) -> str:
    """The pretraining task in words (the card's "task")."""
    task = "identity classification (GAP + linear, label smoothing 0.1)"
    if pcfg.parts_weight > 0:
        task += f" + {pcfg.parts_weight:g} x 7-part segmentation (1x1 conv on Conv5, cross-entropy)"
    if pcfg.crop_p > 0 and pcfg.crop_min_width < 1:
        task += (
            f", random resized crops (p {pcfg.crop_p:g}, >= {pcfg.crop_min_height:g} of H,"
            f" >= {pcfg.crop_min_width:g} of W)"
        )
    elif pcfg.crop_p > 0:
        task += f", random vertical crops (p {pcfg.crop_p:g}, >= {pcfg.crop_min_height:g} of H)"
    if pcfg.framed_p > 0:
        task += f", {pcfg.framed_p:g} of the images framed like detector boxes"
    return task + " on holistic synthetic people disjoint from every benchmark set"


def cache_key(spec: TrunkSpec, pcfg: PretrainConfig, avoid: list[Identity]) -> str:
    """Hash of everything the weights depend on: the cache file's name."""
    payload = {
        "trunk": dataclasses.asdict(spec),
        "pretrain": key_options(pcfg),
        "generator": GENERATOR_VERSION,
        "version": PRETRAIN_VERSION,
        "avoid": people_digest(avoid),
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def weights_path(folder: Path, spec: TrunkSpec, key: str) -> Path:
    return Path(folder) / f"{spec.backbone}-{key}.pt"


def ensure_pretrained(
    spec: TrunkSpec,
    pcfg: PretrainConfig,
    avoid: list[Identity],
    folder: Path = DEFAULT_DIR,
    device: torch.device | None = None,
    progress: bool = True,
) -> Path:
    """The cached weights of ``spec`` pretrained by ``pcfg``, built first if missing.

    The weights (a torchvision-style state dict of Conv1-Conv5) and their card
    (``<same name>.json``) are written atomically, the card last; a file without its card is
    rebuilt.
    """
    key = cache_key(spec, pcfg, avoid)
    path = weights_path(folder, spec, key)
    for found in (path, weights_path(SHIPPED_DIR, spec, key)):
        if found.is_file() and found.with_suffix(".json").is_file():
            log.debug("synthetic pretrained trunk %s is cached", found)
            return found
    device = device or torch.device("cpu")
    log.info(
        "building the synthetic pretrained trunk once (%s, %d ids x %d images, %d epochs) -> %s",
        spec.backbone,
        pcfg.ids,
        pcfg.images_per_id,
        pcfg.epochs,
        path,
    )
    start = time.perf_counter()
    people = draw_people(pcfg.seed, pcfg.ids, avoid)
    size = (spec.height, spec.width)
    data = render_set(people, pcfg.images_per_id, pcfg.cameras, pcfg.seed, size, pcfg.framed_p)
    render_s = time.perf_counter() - start
    state, stats = fit_trunk(data, spec, pcfg, device, progress)
    save_state(stored(state, pcfg.store_dtype), path)
    card = make_card(key, spec, pcfg, avoid, stats | {"render_s": round(render_s, 1)})
    card["total_s"] = round(time.perf_counter() - start, 1)
    write_json_atomic(card, path.with_suffix(".json"))
    log.info("synthetic pretrained trunk written in %.0f s: %s", card["total_s"], path)
    return path


def stored(state: dict[str, torch.Tensor], dtype: str) -> dict[str, torch.Tensor]:
    """``state`` with its floating tensors in ``dtype`` (the counters stay integers)."""
    to = STORE_DTYPES[dtype]
    return {k: v.to(to) if v.is_floating_point() else v for k, v in state.items()}


def make_card(
    key: str, spec: TrunkSpec, pcfg: PretrainConfig, avoid: list[Identity], stats: dict
) -> dict[str, Any]:
    """How the weights were made: the task, its config, what it avoided, how it went."""
    return {
        "key": key,
        "task": task_text(pcfg),
        "trunk": dataclasses.asdict(spec),
        "pretrain": dataclasses.asdict(pcfg),
        "generator_version": GENERATOR_VERSION,
        "pretrain_version": PRETRAIN_VERSION,
        "avoided_identities": len(avoid),
        "avoided_digest": people_digest(avoid),
        "torch": torch.__version__,
        **stats,
    }


def trunk_spec(cfg, method: str) -> TrunkSpec:
    """The trunk that method ``method`` of run config ``cfg`` builds."""

    mc = method_config(method, **applicable_options(method, cfg.method))
    return TrunkSpec(mc.backbone, mc.last_stride, mc.conv4_stride, cfg.data.height, cfg.data.width)


def init_options(cfg, method: str, device: torch.device | None = None) -> dict[str, Any]:
    """Method ``method``'s options in run ``cfg``, with ``pretrained=synthetic`` made a path.

    Every method of a run gets the same file for the same trunk, so the same initialisation.
    """
    options = applicable_options(method, cfg.method)
    if not method_config(method, **options).trains:
        return options | {"pretrained": None}  # a training-free method has no trunk to start
    if options.get("pretrained") != SYNTHETIC:
        return options
    avoid = benchmark_people(synth_config(cfg.data.synth_profile))
    path = ensure_pretrained(
        trunk_spec(cfg, method), pretrain_profile(cfg.profile), avoid, device=device
    )
    return options | {"pretrained": str(path)}


def prepare_inits(cfg, device: torch.device | None = None) -> dict[str, Any]:
    """Build the run's missing synthetic trunks and load every pretrained file once, before any
    training, so a missing, bad or foreign file fails before the run folder exists; returns
    their env.json entry."""

    paths = set()
    for method in cfg.methods:
        options = init_options(cfg, method, device)
        if options.get("pretrained"):
            build_method(method, 2, **options)  # loads the weights (the class count is free)
            paths.add(options["pretrained"])
    if cfg.method.get("pretrained") != SYNTHETIC:
        return {}
    return {"pretrained_trunk": sorted(str(p) for p in paths if p)}
