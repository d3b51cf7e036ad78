"""Run options: one frozen record, validated once, naming the command-line option."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stdp_ray.errors import InputError
from stdp_ray.options import OptionError, RunOptions, option_names, split_options


def test_defaults_are_the_command_lines():
    options = RunOptions()
    # No chunk size: the phase's own (stdp_ray.evaluation.phase_chunk_size).
    assert (options.chunk_size, options.threads, options.checkpoint_every) == (None, 1, 1000)
    assert options.observe_samples == 10_000 and options.test_samples is None
    assert options.progress and not options.overwrite


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunOptions().samples = 3


@pytest.mark.parametrize("field, value, message", [
    ("samples", 0, r"--samples == 0, must be >= 1"),
    ("chunk_size", 0, r"--chunk-size == 0, must be >= 1"),
    ("chunk_size", 2.5, r"--chunk-size == 2.5, must be an integer >= 1"),
    ("workers", -2, r"--workers == -2, must be >= 1"),
    ("threads", 1.5, r"--threads == 1.5, must be an integer >= 1"),
    ("eval_every", True, r"--eval-every == True, must be an integer >= 1"),
    ("label_samples", (), r"--label-samples is empty"),
    ("label_samples", (10, 0), r"--label-samples == 0, must be >= 1"),
    ("snapshots", "3", r"--snapshots == '3', must be a list of integers"),
    ("progress", "yes", r"progress == 'yes', must be True or False"),
])
def test_a_bad_option_is_refused_naming_it(field, value, message):
    with pytest.raises(OptionError, match=message):
        RunOptions(**{field: value})
    assert issubclass(OptionError, InputError)


def test_lists_become_tuples_and_paths_paths():
    options = RunOptions(label_samples=[20, 40], data_dir="data/mnist")
    assert options.label_samples == (20, 40)
    assert options.data_dir == Path("data/mnist")
    hash(options)


def test_training_needs_its_samples():
    with pytest.raises(OptionError, match="--samples is required"):
        RunOptions().required_samples()
    assert RunOptions(samples=7).required_samples() == 7


def test_keywords_split_into_options_and_config_fields():
    options, rest = split_options(RunOptions(workers=2), {"samples": 5, "n_neurons": 100})
    assert (options.samples, options.workers) == (5, 2)
    assert rest == {"n_neurons": 100}
    with pytest.raises(TypeError, match="must be a RunOptions"):
        split_options({"samples": 5}, {})


def test_no_option_shadows_a_config_field():
    from stdp_ray.config import field_names

    assert not set(option_names()) & set(field_names())
