"""Simulation engines: input spikes, runtime == standalone, per-sample independence, build reuse."""

import logging
import subprocess
import sys

import numpy as np
import pytest

from conftest import pass_inputs, sparse_images
from stdp_ray import engines, model
from stdp_ray.config import Config
from stdp_ray.engines import PassInputs, count_slot_spikes
from stdp_ray.engines import brian, runtime, standalone

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def images():
    return sparse_images(10)


# --------------------------------------------------------------------------
# The interface, without a simulator
# --------------------------------------------------------------------------
def test_network_and_engine_base_import_without_brian2():
    code = ("import stdp_ray.network, stdp_ray.engines, stdp_ray.engines.base, "
            "stdp_ray.artifact, stdp_ray.location, sys; "
            "assert 'brian2' not in sys.modules, 'brian2 imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_slot_spikes_are_counted_only_inside_each_presentation_window():
    cfg = Config(n_neurons=3)
    dt = cfg.dt_ms * 1e-3
    # slot 0: two spikes of neuron 1 inside, one in the rest; slot 1: neuron 2 at its start.
    assert cfg.frozen_slot_steps == 3600
    steps = np.array([0, 3499, 3500, 3600])
    counts = count_slot_spikes(np.array([1, 1, 0, 2]), steps * dt, cfg, 2)
    np.testing.assert_array_equal(counts, [[0, 2, 0], [0, 0, 1]])


def test_pass_rates_are_each_images_input_rates_padded_with_silent_slots(tiny_cfg, images):
    inputs = PassInputs(images[:3], np.arange(3), np.array([2.0, 3.0, 7.0]), np.zeros(3),
                        42, 3)
    rates = inputs.slot_rates_hz(tiny_cfg, 5)
    assert rates.shape == (5, 784)
    for k in range(3):
        np.testing.assert_array_equal(
            rates[k], model.input_rates(images[k], tiny_cfg, inputs.intensities[k]))
    assert not rates[3:].any()


def test_slot_reset_code_clears_refractoriness_before_resetting_the_potential(tiny_cfg):
    """Brian2 guards `v = ...` by not_refractory at that point of the code: it comes first."""
    code = brian._reset_code(model.slot_reset_values(tiny_cfg, "exc"))
    assert code == ("not_refractory = True\nv = -65.0*mV\nge = 0\ngi = 0\ntimer = 150.0*ms\n"
                    "lastspike = -10000.0*second")


def test_standalone_build_key_covers_the_input_hash_header(tmp_path, monkeypatch):
    before = standalone._toolchain_fingerprint.__wrapped__()
    header = tmp_path / "input_hash.h"
    header.write_text(brian.INPUT_HASH_HEADER.read_text() + "// changed\n")
    monkeypatch.setattr(brian, "INPUT_HASH_HEADER", header)
    assert standalone._toolchain_fingerprint.__wrapped__() != before


@slow
def test_brian2_compiles_the_shared_cpp_input_hash_header():
    from brian2.codegen.generators.cpp_generator import CPPCodeGenerator

    code = brian._input_function().implementations[CPPCodeGenerator].get_code(None)
    assert code == brian.INPUT_HASH_HEADER.read_text()
    assert "static inline double input_uniform(" in code and "#include <stdint.h>" in code


@pytest.mark.parametrize("factory", [engines.make_frozen_simulator, engines.make_trainer])
def test_factories_reject_an_unknown_engine(tiny_cfg, tiny_network, factory):
    cfg = tiny_cfg.replace()
    object.__setattr__(cfg, "backend", "nonesuch")
    args = (cfg, tiny_network, 4) if factory is engines.make_frozen_simulator else \
        (cfg, tiny_network)
    with pytest.raises(ValueError, match=r"backend == 'nonesuch', must be one of"):
        factory(*args)


# --------------------------------------------------------------------------
# Brian2 engines
# --------------------------------------------------------------------------
@slow
def test_runtime_input_spikes_equal_the_numpy_reference(tiny_cfg, tiny_network, images):
    from brian2 import SpikeMonitor, ms

    brian._activate_runtime()
    inputs = pass_inputs(images[:1], [7], intensity=2.0)
    net, objects = brian._build(tiny_cfg, "frozen", 1, tiny_network, inputs)
    mon = SpikeMonitor(objects["inp"])
    net.add(mon)
    net.run(tiny_cfg.frozen_slot_ms * ms, namespace={})
    raster = np.zeros((tiny_cfg.present_steps, 784), dtype=bool)
    steps = np.round(np.asarray(mon.t_) / (tiny_cfg.dt_ms * 1e-3)).astype(int)
    raster[steps, np.asarray(mon.i)] = True
    ref = model.input_spikes(model.input_rates(images[0], tiny_cfg, 2.0), tiny_cfg, seed=42,
                             stream=3, sample=7, attempt=0)
    assert ref.sum() > 100
    np.testing.assert_array_equal(raster, ref)


@pytest.fixture(scope="module")
def runtime_counts(tiny_cfg, tiny_network, images):
    return runtime.RuntimeFrozen(tiny_cfg, tiny_network).run_pass(pass_inputs(images, range(10)))


@slow
def test_runtime_responses_are_nontrivial(runtime_counts):
    assert runtime_counts.shape == (10, 10)
    assert runtime_counts.sum() > 20


@slow
@pytest.mark.parametrize("backend", ["runtime", "standalone"])
def test_sample_response_independent_of_what_ran_before(tiny_cfg, tiny_network, images,
                                                        runtime_counts, backend):
    """Samples 5-9 alone give the same responses as within 0-9 (state reset, keyed input)."""
    cfg = tiny_cfg.replace(backend=backend)
    sim = engines.make_frozen_simulator(cfg, tiny_network, 10)
    assert isinstance(sim, engines.FrozenSimulator) and sim.backend == backend
    assert isinstance(sim.prepare(), float)
    alone = sim.run_pass(pass_inputs(images[5:], range(5, 10)))
    np.testing.assert_array_equal(alone, runtime_counts[5:])


@slow
def test_attempt_changes_the_input_draw(tiny_cfg, tiny_network, images, runtime_counts):
    sim = runtime.RuntimeFrozen(tiny_cfg, tiny_network)
    again = sim.run_pass(pass_inputs(images, range(10), attempt=1))
    assert not np.array_equal(again, runtime_counts)


@slow
def test_standalone_build_is_reused_not_recompiled_and_equals_runtime_exactly(
        tiny_cfg, tiny_network, images, caplog, runtime_counts):
    """The build compiled by the test above is adopted; all ten responses equal runtime's."""
    cfg = tiny_cfg.replace(backend="standalone")
    sim = standalone.StandaloneFrozen(cfg, tiny_network, 10)
    with caplog.at_level(logging.INFO, logger="stdp_ray.engines.standalone"):
        counts = sim.run_pass(pass_inputs(images, range(10)))
    assert "reused" in caplog.text and "compiled" not in caplog.text
    np.testing.assert_array_equal(counts, runtime_counts)


@slow
def test_standalone_rejects_more_samples_than_slots(tiny_cfg, tiny_network, images):
    sim = standalone.StandaloneFrozen(tiny_cfg.replace(backend="standalone"), tiny_network, 4)
    with pytest.raises(ValueError, match=r"5 samples, more than the build's n_slots == 4"):
        sim.run_pass(pass_inputs(images[:5], range(5)))


@slow
def test_standalone_rejects_zero_slots(tiny_cfg, tiny_network):
    with pytest.raises(ValueError, match=r"n_slots == 0, must be >= 1"):
        standalone.StandaloneFrozen(tiny_cfg, tiny_network, 0)


@slow
def test_training_engines_are_bitwise_identical(tiny_cfg, images):
    """Three plastic samples (with state carried over) on both engines."""
    from conftest import random_network

    net = random_network(tiny_cfg, seed=5)
    trainers = [engines.make_trainer(tiny_cfg, net),
                engines.make_trainer(tiny_cfg.replace(backend="standalone"), net)]
    assert [type(t) for t in trainers] == [runtime.RuntimeTrainer, standalone.StandaloneTrainer]
    for t in trainers:
        assert isinstance(t, engines.PlasticSimulator) and isinstance(t.prepare(), float)
    for k in range(3):
        counts = [e.present(images[k], sample=k, attempt=0, intensity=4.0, seed=9)
                  for e in trainers]
        np.testing.assert_array_equal(counts[0], counts[1])
    rt, sa = trainers
    assert sum(c.sum() for c in counts) > 0
    np.testing.assert_array_equal(rt.get_weights(), sa.get_weights())
    np.testing.assert_array_equal(rt.get_theta_mV(), sa.get_theta_mV())
    assert not np.array_equal(rt.get_weights(), net.weights)
    for key, value in rt.dynamic_state().items():
        np.testing.assert_array_equal(value, sa.dynamic_state()[key], err_msg=key)


@slow
def test_short_frozen_rest_gives_the_seeds_responses(tiny_cfg, tiny_network, images,
                                                     runtime_counts):
    """With the state reset per sample, a 10 ms rest equals the original script's 150 ms rest."""
    full = tiny_cfg.replace(frozen_rest_ms=150.0)
    assert full.frozen_slot_ms == 500.0 and tiny_cfg.frozen_slot_ms == 360.0
    counts = runtime.RuntimeFrozen(full, tiny_network).run_pass(pass_inputs(images, range(10)))
    np.testing.assert_array_equal(counts, runtime_counts)



# --------------------------------------------------------------------------
# The standalone work directory: this user's only
# --------------------------------------------------------------------------
def test_a_private_dir_is_made_0700_and_an_existing_one_tightened(tmp_path):
    import os
    import stat

    from stdp_ray.engines.base import private_dir

    made = private_dir(tmp_path / "new")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    assert stat.S_IMODE(private_dir(loose).stat().st_mode) == 0o700


@pytest.mark.parametrize("kind", ["link to a directory", "file"])
def test_a_work_dir_that_is_a_link_or_a_file_is_refused(tmp_path, kind):
    from stdp_ray.engines.base import UnsafeDirectoryError, private_dir

    target = tmp_path / "theirs"
    target.mkdir(mode=0o755)
    work = tmp_path / "work"
    if kind == "file":
        work.write_text("")
    else:
        work.symlink_to(target)
    with pytest.raises(UnsafeDirectoryError, match="not a directory of this user"):
        private_dir(work)
    assert oct(target.stat().st_mode & 0o777) == "0o755"  # not chmodded through the link


def test_the_work_root_falls_back_when_the_shared_one_is_a_link(tmp_path, monkeypatch, caplog):
    import os
    from pathlib import Path

    shm = Path(f"/dev/shm/stdp_ray-{os.getuid()}")
    if not Path("/dev/shm").is_dir() or os.path.lexists(shm):
        pytest.skip("needs /dev/shm without a stdp_ray work directory")
    monkeypatch.setenv("STDP_RAY_CACHE", str(tmp_path / "cache"))
    shm.symlink_to(tmp_path)
    try:
        root = standalone._work_root()
    finally:
        shm.unlink()
    assert root == tmp_path / "cache" / "standalone" / "work"
    assert "not a directory of this user" in caplog.text
