"""The one strict configuration: profiles, typed --set overrides, method options, JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

import reid_datasets  # noqa: F401  (registers the data sets that eval.datasets names)
import reid_methods  # noqa: F401  (registers the methods whose options method.X names)
from benchmark.config import apply_overrides, check_run_config, from_dict
from benchmark.errors import ConfigError, UnknownNameError
from benchmark.human_parsing.config import PROFILES as PARSE_PROFILES
from benchmark.human_parsing.config import parse_profile
from benchmark.profiles import PROFILES, get_profile
from benchmark.registry import Registry
from benchmark.settings import Scope, apply_assignments, check_fields
from reid_datasets.synthetic.config import PROFILES as SYNTH_PROFILES
from reid_datasets.synthetic.config import synth_profile


def override(*sets: str, profile: str = "smoke"):
    """The smoke profile with ``sets`` applied and the whole result checked, as the CLI does."""
    cfg = apply_overrides(get_profile(profile), list(sets))
    check_run_config(cfg)
    return cfg


def error_of(*sets: str) -> str:
    with pytest.raises(ConfigError) as info:
        override(*sets)
    message = str(info.value)
    assert "\n" not in message, f"user errors are one line: {message!r}"
    return message


# --- profiles -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROFILES.names())
def test_profiles_round_trip_through_json_and_pass_the_checker(name: str) -> None:
    cfg = get_profile(name)
    assert from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    check_run_config(cfg)


def test_profiles_of_all_three_kinds_live_in_registries() -> None:
    for registry, names in (
        (PROFILES, ["cpu", "cpu_long", "official", "paper", "smoke"]),
        (PARSE_PROFILES, ["cpu", "paper", "smoke"]),
        (SYNTH_PROFILES, ["cpu", "smoke"]),
    ):
        assert isinstance(registry, Registry) and registry.names() == names, registry.kind
    with pytest.raises(UnknownNameError, match=r"unknown profile 'smok' \(did you mean smoke\?\)"):
        get_profile("smok")


def test_cpu_long_is_the_cpu_recipe_for_twice_the_steps_at_the_papers_coco_ratio() -> None:
    cpu, long = get_profile("cpu"), get_profile("cpu_long")
    assert long.train.epochs == 2 * cpu.train.epochs
    assert long.train.decay_epochs == tuple(2 * e for e in cpu.train.decay_epochs)
    reid = long.train.ids_per_batch * long.train.images_per_id
    assert reid == 2 * long.train.coco_batch, "section 4.1: 64 ReID and 32 COCO images per step"
    t = cpu.train
    same = dataclasses.replace(
        long.train, epochs=t.epochs, decay_epochs=t.decay_epochs, coco_batch=t.coco_batch
    )
    assert same == t and (long.method, long.data, long.eval) == (
        cpu.method,
        cpu.data,
        cpu.eval,
    )


def test_paper_profile_matches_section_4_1() -> None:
    cfg = get_profile("paper")
    assert (cfg.data.height, cfg.data.width) == (384, 128)
    t = cfg.train
    assert (t.epochs, t.decay_epochs, t.lr, t.momentum, t.weight_decay) == (
        300,
        (240,),
        0.01,
        0.9,
        5e-4,
    )
    assert (t.ids_per_batch, t.images_per_id, t.coco_batch) == (16, 4, 32)
    assert cfg.method["backbone"] == "resnet50"


# --- valid overrides ------------------------------------------------------------------------


def test_valid_overrides_are_applied_and_safely_coerced() -> None:
    cfg = override(
        "train.epochs=5",
        "eval.modes=multi",  # a single value where a tuple is due
        "train.lr=1",  # an integer where a float is due
        "train.iters_per_epoch=null",
        "data.root=/x",
        'eval.datasets=["occluded_reid", "partial_reid"]',
        "method.share_conv5=true",
        "method.triplet_weight=0",
        "eval.parsing=false",
    )
    assert cfg.train.epochs == 5 and cfg.eval.modes == ("multi",)
    assert cfg.eval.parsing is False and override().eval.parsing is True, "parsing on by default"
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.train.iters_per_epoch is None and cfg.data.root == "/x"
    assert cfg.eval.datasets == ("occluded_reid", "partial_reid")
    assert cfg.method["share_conv5"] is True
    assert cfg.method["triplet_weight"] == 0.0 and isinstance(cfg.method["triplet_weight"], float)
    assert cfg.method["head_dim"] == 32, "profile method options stay"
    assert from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg, "JSON round trip"


def test_method_option_of_one_selected_method_is_accepted() -> None:
    cfg = override('methods=["hpnet", "baseline"]', "method.num_parts=2")
    assert cfg.method["num_parts"] == 2, "num_parts is hpnet's only; baseline ignores it"
    # method options are checked against the final methods, whatever the order of the --set
    cfg = override("method.dropout=0.1", 'methods=["pcb"]')
    assert cfg.method["dropout"] == 0.1


# --- errors: type, range, choice, key -------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("train.epochs=five", "train.epochs must be an integer, got 'five'"),
        ("train.epochs=2.5", "train.epochs must be an integer, got 2.5"),
        ("train.epochs=true", "train.epochs must be an integer, got True"),
        ("train.lr=fast", "train.lr must be a finite number, got 'fast'"),
        ("eval.parsing=maybe", "eval.parsing must be true or false, got 'maybe'"),
        ("train.lr=NaN", "train.lr must be a finite number, got nan"),
        ("data.flip=1", "data.flip must be true or false, got 1"),
        ("train.iters_per_epoch=x", "train.iters_per_epoch must be an integer or null, got 'x'"),
        ('train.decay_epochs=["a"]', "train.decay_epochs must be a list of integers, got ['a']"),
        ("data.root=5", "data.root must be a string or null, got 5"),
        ("method.share_conv5=yes", "method.share_conv5 must be true or false, got 'yes'"),
        ("method.head_dim=1.5", "method.head_dim must be an integer, got 1.5"),
    ],
)
def test_type_errors_name_the_key_the_type_and_the_value(assignment: str, message: str) -> None:
    assert error_of(assignment) == message


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("train.epochs=0", "train.epochs must be >= 1, got 0"),
        ("train.lr=0", "train.lr must be > 0, got 0"),
        ("train.lr=-1", "train.lr must be > 0, got -1"),
        ("data.height=0", "data.height must be > 0, got 0"),
        ("data.width=-3", "data.width must be > 0, got -3"),
        ("train.iters_per_epoch=0", "train.iters_per_epoch must be >= 1, got 0"),
        ("train.ids_per_batch=0", "train.ids_per_batch must be >= 1, got 0"),
        ("train.images_per_id=1", "train.images_per_id must be >= 2, got 1"),
        ("eval.trials=0", "eval.trials must be >= 1, got 0"),
        ("eval.batch_size=0", "eval.batch_size must be >= 1, got 0"),
        ("seeds=[0, -1]", "seeds must be >= 0, got -1"),
        ("data.occlusion=1.5", "data.occlusion must be <= 1, got 1.5"),
        ("data.occlusion=-0.1", "data.occlusion must be >= 0, got -0.1"),
        ("eval.occlusion_sweep=[0.2, 1.2]", "eval.occlusion_sweep must be <= 1, got 1.2"),
        ("methods=[]", "methods needs at least 1 item(s), got ()"),
    ],
)
def test_range_errors(assignment: str, message: str) -> None:
    assert error_of(assignment) == message


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("eval.distance=foo", "eval.distance must be one of official, paper, got 'foo'"),
        ('eval.modes=["multi", "mult"]', "must be one of multi, single, got 'mult' (did you"),
        ("eval.datasets=occluded", "got 'occluded' (did you mean occluded_reid?)"),
        ("data.labels=pseudo", "data.labels must be one of auto, ps, gt, got 'pseudo'"),
        ("eval.partial_reid_query=partial", "one of partial_body_images, occluded_body_images"),
        ("data.synth_profile=big", "data.synth_profile must be one of cpu, smoke, got 'big'"),
        ('methods=["hpnett"]', "got 'hpnett' (did you mean hpnet?)"),
    ],
)
def test_choice_errors_list_the_valid_values(assignment: str, message: str) -> None:
    assert message in error_of(assignment)


def test_unknown_keys_name_the_closest_match_and_the_valid_keys() -> None:
    message = error_of("train.epoch=3")
    assert message.startswith("unknown setting 'train.epoch' (did you mean train.epochs?)")
    assert "valid: train.epochs, train.iters_per_epoch" in message
    assert "(did you mean train.epochs?)" in error_of("epochs=3"), "a missing section"
    assert "data.height" in error_of("nosuch=1") and "method.<option>" in error_of("nosuch=1")
    assert "KEY=VALUE" in error_of("train.epochs")
    assert "train is a section; set one of its keys: train.epochs" in error_of("train=3")
    assert "profile cannot be set; choose a profile with --profile" in error_of("profile=x")


def test_method_option_no_selected_method_has_is_an_error() -> None:
    message = error_of("method.share_conv=true")
    assert message.startswith("unknown setting 'method.share_conv'")
    assert "(did you mean share_conv5?)" in message and "share_conv5, trains, triplet" in message
    assert "no selected method (baseline) has it" in error_of(
        'methods=["baseline"]', "method.share_conv5=true"
    ), "baseline has no share_conv5"


# --- the whole configuration (profiles, resumed config.json) --------------------------------


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("seeds=[0, 1, 0]", "seeds lists 0 more than once"),
        ('methods=["baseline", "hpnet", "baseline"]', "methods lists baseline more than once"),
        ('eval.datasets=["partial_reid", "partial_reid"]', "eval.datasets lists partial_reid"),
        ('eval.modes=["multi", "multi"]', "eval.modes lists multi more than once"),
    ],
)
def test_an_item_given_twice_is_an_error(assignment: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        override(assignment)


def test_check_run_config_checks_every_section() -> None:
    cfg = get_profile("smoke")
    bad_eval = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, distance="foo"))
    with pytest.raises(ConfigError, match="eval.distance must be one of"):
        check_run_config(bad_eval)
    bad_method = dataclasses.replace(cfg, method={**cfg.method, "share_conv5": "yes"})
    with pytest.raises(ConfigError, match="method.share_conv5 must be true or false"):
        check_run_config(bad_method)
    with pytest.raises(ConfigError, match="synthetic occlusion must be <= 0.85, got 0.9"):
        override("data.occlusion=0.9")  # in [0, 1] but past what the generator draws


def test_from_dict_refuses_unknown_and_missing_keys() -> None:
    d = get_profile("smoke").to_dict()
    with pytest.raises(ConfigError, match=r"unknown setting 'train.epoch' \(did you mean"):
        from_dict({**d, "train": {**d["train"], "epoch": 3}})
    del d["profile"]
    with pytest.raises(ConfigError, match="config lacks profile"):
        from_dict(d)
    with pytest.raises(ConfigError, match="must be a JSON object"):
        from_dict([1, 2])


# --- one checker for every configuration ----------------------------------------------------


@dataclass(frozen=True)
class Toy:
    mode: Literal["a", "b"] = "a"
    level: str = field(default="low", metadata={"choices": ("low", "high")})
    sizes: tuple[int, ...] = field(default=(1,), metadata={"gt": 0})
    scale: float | None = None
    name: str = field(default="toy", metadata={"fixed": "it names the toy"})


TOY = Scope(kind="toy", noun="knob")


def test_generic_checker_on_literal_choices_tuples_and_fixed_fields() -> None:
    toy = apply_assignments(Toy(), ["mode=b", "level=high", "sizes=3", "scale=2"], TOY)
    assert toy == Toy(mode="b", level="high", sizes=(3,), scale=2.0)
    for item, message in (
        ("mode=c", "toy mode must be one of a, b, got 'c'"),
        ("level=hi", "toy level must be one of low, high, got 'hi' (did you mean high?)"),
        ("sizes=[2, 0]", "toy sizes must be > 0, got 0"),
        ("scale=big", "toy scale must be a finite number or null, got 'big'"),
        ("name=x", "toy name cannot be set; it names the toy"),
        ("mod=a", "unknown toy knob 'mod' (did you mean mode?); valid: mode, level, sizes, scale"),
    ):
        with pytest.raises(ConfigError) as info:
            apply_assignments(Toy(), [item], TOY)
        assert str(info.value) == message
    with pytest.raises(ConfigError, match="toy sizes must be a list of integers"):
        check_fields(Toy(sizes=("1",)), TOY)


def test_parser_and_generator_share_the_grammar() -> None:
    cfg = parse_profile("smoke", ["iters=7", "lr=1", 'coco_splits=["train", "val"]'])
    assert (cfg.iters, cfg.lr, cfg.coco_splits) == (7, 1.0, ("train", "val"))
    with pytest.raises(
        ConfigError, match=r"unknown parse setting 'itres' \(did you mean iters\?\)"
    ):
        parse_profile("smoke", ["itres=5"])
    with pytest.raises(ConfigError, match="parse coco_splits must be one of train, val, minival"):
        parse_profile("smoke", ["coco_splits=test"])
    synth = synth_profile("smoke", ["train_ids=20", "occlusion=0", "sets=market1501"])
    assert (synth.train_ids, synth.occlusion, synth.sets) == (20, 0.0, ("market1501",))
    with pytest.raises(ConfigError, match="synthetic cameras must be <= 9, got 12"):
        synth_profile("smoke", ["cameras=12"])
    with pytest.raises(ConfigError, match="synthetic train_ids must be an integer, got 'ten'"):
        synth_profile("smoke", ["train_ids=ten"])


def test_loader_options_come_from_the_registration() -> None:
    from benchmark.config import loader_options
    from benchmark.profiles import get_profile

    cfg = get_profile("official")  # the official code's query folder
    assert loader_options(cfg, "partial_reid") == {"query_folder": "occluded_body_images"}
    assert loader_options(get_profile("cpu"), "partial_reid") == {
        "query_folder": "partial_body_images"
    }
    assert loader_options(cfg, "occluded_reid") == {}, "a loader without run options"


def test_a_registration_naming_no_run_setting_is_one_line() -> None:
    from benchmark.config import loader_options
    from benchmark.errors import ConfigError
    from benchmark.profiles import get_profile
    from reid_datasets.base import DATASETS, register_dataset

    @register_dataset("bad_options_set", options={"folder": "eval.no_such_key"})
    def load(root, folder="x", strict=True):  # pragma: no cover - never loaded
        raise AssertionError

    try:
        with pytest.raises(ConfigError, match="takes its 'folder' from 'eval.no_such_key'"):
            loader_options(get_profile("smoke"), "bad_options_set")
    finally:
        DATASETS._entries.pop("bad_options_set")
        DATASETS._meta.pop("bad_options_set")
