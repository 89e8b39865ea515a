"""One strict run configuration: data, training, evaluation, method options; ``--set``; JSON.

Every ``--set KEY=VALUE`` is checked against the field's type annotation and the range or
choices declared in its metadata (``benchmark.settings``), and ``check_run_config`` checks a
whole configuration (a profile, a resumed ``config.json``) before any data or training work.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import ConfigError
from benchmark.evaluation.distance import DISTANCES  # lazy: evaluation imports this module
from benchmark.evaluation.protocols import MODES  # lazy: evaluation imports this module
from benchmark.settings import (
    Scope,
    check_fields,
    check_value,
    from_mapping,
    replace_key,
    split_assignment,
    type_hints,
)
from benchmark.training.config import TrainConfig
from reid_datasets.base import DATASETS, dataset_info, datasets_with_role
from reid_datasets.partial_reid import QUERY_FOLDERS
from reid_datasets.synthetic.config import EXTRA_SETS, synth_config
from reid_datasets.synthetic.config import PROFILES as SYNTH_PROFILES
from reid_datasets.synthetic.config import SETS as SYNTH_SETS
from reid_methods.backbone import check_backbone, check_vit_option
from reid_methods.base import METHODS, MethodConfig, method_config

SYNTH_CHOICES = SYNTH_SETS + EXTRA_SETS  # the sets the synthetic generator can draw
METHOD_KEY = "method."  # prefix of the method options: method.share_conv5=true
RUN = Scope(example="train.epochs=5", extra_keys=("method.<option>",))


def _distances() -> list[str]:
    return DISTANCES.names()


def _modes() -> list[str]:
    return MODES.names()


def _train_sets() -> list[str]:
    return datasets_with_role("train")


@dataclass(frozen=True)
class DataConfig:
    root: str | None = None  # None: the synthetic default under data/synthetic-<synth_profile>
    # the ReID training set (a registered set with the "train" role): Market-1501 (the paper's
    # protocol), or Occluded-Duke, P-DukeMTMC, MSMT17, each tested on itself by default
    train_set: str = field(default="market1501", metadata={"choices": _train_sets})
    # which synthetic size to generate when root is None
    synth_profile: str = field(default="cpu", metadata={"choices": SYNTH_PROFILES.names})
    # synthetic occlusion strength (a fraction of the body); None = the profile's value
    occlusion: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})
    # share of the synthetic training images framed like detector boxes (SynthConfig.framed_p);
    # None = the profile's value
    framed_p: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})
    # share of those framed boxes cut at the knees or the waist (SynthConfig.frame_cut_p);
    # None = the profile's value
    frame_cut_p: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})
    # share of those cut boxes tight around the kept body across (SynthConfig.frame_cut_tight_p);
    # None = the profile's value
    frame_cut_tight_p: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})
    # the synthetic occluded/partial sets' cameras: their own (the profile's) or "market"
    test_cameras: str | None = field(default=None, metadata={"choices": ("own", "market")})

    # input size; Market-1501's native 128x64 keeps every part on the map
    height: int = field(default=128, metadata={"gt": 0})
    width: int = field(default=64, metadata={"gt": 0})
    # part labels: "ps" (pseudo labels), "gt" (synthetic oracle) or "auto": ps when the _ps_label
    # tree exists (the paper's pipeline), else gt on synthetic data
    labels: str = field(default="auto", metadata={"choices": ("auto", "ps", "gt")})
    flip: bool = True  # paper 4.1: random flipping (image and part labels together)
    photometric: bool = False  # official code: random blur/brightness/contrast/saturation/gamma
    # official code: p of blacking out 1-2 random parts (0.5 there); a probability
    blackout: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    # official code: only upright boxes (h/w > 1.8) are stretched
    coco_min_aspect: float = field(default=1.8, metadata={"min": 0.0})
    # small images decode faster than worker processes start
    num_workers: int = field(default=0, metadata={"min": 0})

    def synth_overrides(self) -> dict[str, Any]:
        """The generator settings this run changes from its synthetic profile's."""
        chosen: dict[str, Any] = {"occlusion": self.occlusion, "framed_p": self.framed_p}
        chosen["frame_cut_p"] = self.frame_cut_p
        chosen["frame_cut_tight_p"] = self.frame_cut_tight_p
        chosen["test_cameras"] = self.test_cameras
        if self.train_set != "market1501":  # another protocol: its stand-in (and the COCO set)
            if self.train_set not in SYNTH_CHOICES:
                raise ConfigError(
                    f"{self.train_set} has no synthetic stand-in (only occluded_duke has); pass "
                    "--root DIR with the real release or train on market1501 or occluded_duke"
                )
            chosen["sets"] = (self.train_set, "coco_densepose")
        return {k: v for k, v in chosen.items() if v is not None}


@dataclass(frozen=True)
class EvalConfig:
    # empty: the test sets of the training set's protocol (``DatasetInfo.trained_on``; Market-1501:
    # every test set registered after it, a --plugin one too), in table order; the CLI writes
    # the resolved names into config.json
    datasets: tuple[str, ...] = field(default=(), metadata={"choices": DATASETS.names})
    # at least one: no mode would train every method for nothing and then fail to tabulate
    modes: tuple[str, ...] = field(
        default=("multi", "single"), metadata={"choices": _modes, "min_items": 1}
    )
    # single-gallery-shot trials (official HPNet code: 100)
    trials: int = field(default=10, metadata={"min": 1})
    # eq. (1); "official" is the authors' code's distance
    distance: str = field(default="paper", metadata={"choices": _distances})
    without_vis: bool = True  # also score part methods with every visibility forced to 1
    # k-reciprocal re-ranking (Zhong et al., CVPR 2017) as its own protocol: rows of its own
    # (distance "paper+rerank") beside the plain ones; never the default (it uses the test
    # gallery's structure, and on small sets k1 exceeds the matches per identity)
    rerank: bool = False
    rerank_k1: int = field(default=20, metadata={"min": 1})
    rerank_k2: int = field(default=6, metadata={"min": 1})
    rerank_lambda: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0})
    # score each method's own masks against the synthetic part labels (parsing rows, val_parsing_*
    # columns); test sets without ground truth (real data) are skipped with a note either way
    parsing: bool = True
    # "partial_body_images" (cropped; most codebases) or "occluded_body_images" (official code)
    partial_reid_query: str = field(
        default="partial_body_images", metadata={"choices": QUERY_FOLDERS}
    )
    batch_size: int = field(default=128, metadata={"min": 1})
    seed: int = field(default=0, metadata={"min": 0})  # seed of the single-shot trials
    # synthetic occlusion strengths for robustness curves (fractions of the body)
    occlusion_sweep: tuple[float, ...] = field(default=(), metadata={"min": 0.0, "max": 1.0})
    # the occluded sets the generator redraws at each strength
    sweep_datasets: tuple[str, ...] = field(
        default=("occluded_reid", "partial_reid"), metadata={"choices": SYNTH_SETS}
    )


@dataclass(frozen=True)
class RunConfig:
    profile: str = field(metadata={"fixed": "choose a profile with --profile"})
    methods: tuple[str, ...] = field(
        default=("hpnet", "baseline"), metadata={"choices": METHODS.names, "min_items": 1}
    )
    # training seeds (numpy and torch take seeds >= 0)
    seeds: tuple[int, ...] = field(default=(0,), metadata={"min": 0, "min_items": 1})
    # options for every selected method that has the field (profile-wide; others ignore them)
    method: dict[str, Any] = field(
        default_factory=dict, metadata={"fixed": "set one option as method.KEY=VALUE"}
    )
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def from_dict(d: Any) -> RunConfig:
    """Rebuild a RunConfig from ``to_dict()`` output read back from JSON (lists become tuples).

    Raises:
        ConfigError: an unknown or missing key (values are checked by ``check_run_config``).
    """
    return from_mapping(RunConfig, d, RUN)


def apply_overrides(cfg: RunConfig, assignments: Iterable[str]) -> RunConfig:
    """Apply ``KEY=VALUE`` strings, each checked against its field's type, range and choices.

    ``method.X`` keys are applied after the others, against the final ``methods``: X must be an
    option of at least one selected method (those without it ignore it) and its value must fit
    that option's type.

    Raises:
        ConfigError: a malformed assignment, an unknown key or a bad value (one line).
    """
    pairs = [split_assignment(item, RUN) for item in assignments]
    for key, value in pairs:
        if not key.startswith(METHOD_KEY):
            cfg = replace_key(cfg, key, value, RUN)
    options = [(k.removeprefix(METHOD_KEY), v) for k, v in pairs if k.startswith(METHOD_KEY)]
    configs = _method_configs(cfg.methods) if options else {}
    for name, value in options:
        _require_option(name, configs)
        value = _check_option(name, value, configs)
        cfg = dataclasses.replace(cfg, method={**cfg.method, name: value})
    return cfg


def loader_options(cfg: RunConfig, name: str) -> dict[str, Any]:
    """The keyword arguments a run passes to data set ``name``'s loader: those its
    registration declares (``options``), each read from the run setting it names."""
    options = {}
    for keyword, key in dataset_info(name).options:
        value: Any = cfg
        for part in key.split("."):
            if not dataclasses.is_dataclass(value) or not hasattr(value, part):
                raise ConfigError(
                    f"data set {name!r} takes its {keyword!r} from {key!r}, which is not a run "
                    "setting; fix its register_dataset(options=...)"
                )
            value = getattr(value, part)
        options[keyword] = value
    return options


def check_run_config(cfg: RunConfig) -> None:
    """Check every setting of ``cfg`` before any work: types, ranges, registered names.

    Method options are checked against every selected method that has them; an option that no
    selected method has is a profile-wide setting those methods ignore (user keys are checked
    for that in ``apply_overrides``). The synthetic generator's settings are checked too.

    Raises:
        ConfigError: the first bad setting (one line).
    """
    check_fields(cfg, RUN)
    _check_unique(cfg)
    configs = _method_configs(cfg.methods)
    for name, value in cfg.method.items():
        _check_option(name, value, configs)
    if isinstance(cfg.method.get("backbone"), str):
        check_backbone(cfg.method["backbone"])  # a bad (timm) name fails before any data work
    backbone = str(cfg.method.get("backbone", method_config(cfg.methods[0]).backbone))
    for option in ("patch_stride", "global_token"):
        if cfg.method.get(option) not in (None, False):
            check_vit_option(backbone, option)
    if cfg.data.root is None:
        _check_synthetic(cfg)


# lists whose items name jobs or result rows: an item given twice would be run or stored once
UNIQUE = ("methods", "seeds", "eval.datasets", "eval.modes", "eval.occlusion_sweep")


def _check_unique(cfg: RunConfig) -> None:
    for key in UNIQUE:
        items: Any = cfg  # the section, then the tuple that the dotted key names
        for part in key.split("."):
            items = getattr(items, part)
        twice = list(dict.fromkeys(str(i) for i in items if list(items).count(i) > 1))
        if twice:
            raise ConfigError(f"{key} lists {', '.join(twice)} more than once; give each once")


def _check_synthetic(cfg: RunConfig) -> None:
    """The generator's own limits on ``data.occlusion`` and ``eval.occlusion_sweep``, and a
    stand-in for the training set."""
    cfg.data.synth_overrides()  # a training set without a synthetic stand-in: one line
    profile, occlusion = cfg.data.synth_profile, cfg.data.occlusion
    try:
        synth_config(profile, **({} if occlusion is None else {"occlusion": occlusion}))
        for strength in cfg.eval.occlusion_sweep:
            synth_config(profile, occlusion=strength, sets=cfg.eval.sweep_datasets)
    except ConfigError as e:
        raise ConfigError(f"data.occlusion or eval.occlusion_sweep: {e}") from e


def _method_configs(methods: Iterable[str]) -> dict[str, MethodConfig]:
    return {name: method_config(name) for name in methods}


def _require_option(name: str, configs: dict[str, MethodConfig]) -> None:
    """A ``method.X`` key given by the user must be an option of some selected method."""
    valid = sorted({f.name for c in configs.values() for f in dataclasses.fields(c)})
    if name in valid:
        return
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ConfigError(
        f"unknown setting {METHOD_KEY + name!r}: no selected method "
        f"({', '.join(configs)}) has it{hint}; their options: {', '.join(valid)}"
    )


def _check_option(name: str, value: Any, configs: dict[str, MethodConfig]) -> Any:
    """``value`` checked against option ``name`` of every selected method that has it."""
    for cfg in configs.values():
        spec = {f.name: f for f in dataclasses.fields(cfg)}.get(name)
        if spec is not None:
            # a class is hashable; mypy misses it for type[C] (python/mypy#20409)
            hint = type_hints(type(cfg))[name]  # type: ignore[arg-type]
            value = check_value(value, hint, spec.metadata, METHOD_KEY + name)
    return value
