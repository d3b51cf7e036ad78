"""The scale-out model (issue 26) and the chunk size a phase uses when none is given."""

import pytest

from stdp_ray import evaluation, scaling
from stdp_ray.options import RunOptions
from stdp_ray.rundir import PhaseManifest, write_manifest
from stdp_ray.scaling import Constants, default_chunk_size, image_seconds, predict

#: Round constants for tests whose answer must not move with a new measurement.
ROUND = Constants(task_s=0.01, driver_chunk_s={"local": 0.01, "bucket": 0.05},
                  driver_value_s={"local": 0.0, "bucket": 0.0}, read_part_s=0.0,
                  put_s_per_mb=0.0, ship_s_per_mb=0.0, first_s=0.0, first_s_per_neuron=0.0)


@pytest.mark.parametrize("engine", ["native", "fast", "standalone", "runtime"])
def test_image_seconds_are_the_benchmarks_at_the_sizes_measured(engine):
    for neurons, ms in scaling.IMAGE_MS[engine].items():
        assert image_seconds(neurons, engine) == pytest.approx(ms / 1e3)


def test_image_seconds_between_sizes_lie_between_them():
    assert image_seconds(400, "native") < image_seconds(800, "native") < image_seconds(1600,
                                                                                      "native")


@pytest.mark.parametrize("args, message", [
    ((0, "native"), r"neurons == 0, must be >= 1"),
    ((400, "gpu"), r"engine == 'gpu', must be one of"),
])
def test_image_seconds_refuse_what_was_not_measured(args, message):
    with pytest.raises(ValueError, match=message):
        image_seconds(*args)


def test_one_worker_takes_every_image_and_every_chunk_in_turn():
    p = predict(1000, 1, 10, neurons=400, t_image=0.01, constants=ROUND)
    # 100 chunks of (10 images x 10 ms + 10 ms task), the last chunk's write after them.
    assert p.chunks == 100
    assert p.workers == pytest.approx(100 * (0.1 + 0.01))
    assert p.seconds == pytest.approx(p.workers + 0.01)
    assert p.limit == "workers"


def test_workers_share_the_waves_and_the_last_wave_counts_whole():
    one = predict(1000, 1, 10, neurons=400, t_image=0.01, constants=ROUND)
    assert predict(1000, 4, 10, neurons=400, t_image=0.01, constants=ROUND).workers == \
        pytest.approx(one.workers / 4)
    # 100 chunks on 30 workers: 4 waves, not 3.33.
    assert predict(1000, 30, 10, neurons=400, t_image=0.01, constants=ROUND).workers == \
        pytest.approx(4 * 0.11)


def test_the_driver_limits_when_workers_finish_chunks_faster_than_it_writes_them():
    # 256 workers finish a 1-image chunk every 20 ms / 256; the driver needs 10 ms for each.
    p = predict(10_000, 256, 1, neurons=400, t_image=0.01, constants=ROUND)
    assert p.limit == "driver"
    assert p.seconds == pytest.approx(10_000 * 0.01 + 0.01)


def test_setup_counts_one_fetch_per_node():
    c = Constants(**{**ROUND.__dict__, "ship_s_per_mb": 0.1})
    one, four = (predict(100, 4, 25, neurons=400, nodes=k, t_image=0.0, constants=c)
                 for k in (1, 4))
    assert four.setup - one.setup == pytest.approx(3 * 0.1 * scaling.network_mb(400))


def test_no_images_take_no_time():
    assert predict(0, 4, 10, neurons=400).seconds == 0.0


@pytest.mark.parametrize("kw, message", [
    (dict(n_images=-1), r"n_images == -1, must be >= 0"),
    (dict(workers=0), r"workers == 0, must be >= 1"),
    (dict(chunk_size=2.5), r"chunk_size == 2.5, must be an integer"),
    (dict(store="disk"), r"store == 'disk', must be one of"),
])
def test_predict_refuses_bad_arguments(kw, message):
    args = dict(n_images=100, workers=2, chunk_size=10, neurons=400) | kw
    with pytest.raises(ValueError, match=message):
        predict(**args)


def test_the_default_is_the_smallest_round_size_within_tolerance_of_the_best():
    c = default_chunk_size(400, "native", 10_000, 64, constants=ROUND)
    times = {k: predict(10_000, 64, k, neurons=400, constants=ROUND).seconds
             for k in scaling.CANDIDATES}
    best = min(times.values())
    assert c in scaling.CANDIDATES
    assert times[c] <= best * (1 + scaling.TOLERANCE)
    assert all(times[k] > best * (1 + scaling.TOLERANCE) for k in scaling.CANDIDATES if k < c)


@pytest.mark.parametrize("neurons, engine", [(400, "fast"), (400, "native"), (6400, "native")])
def test_more_workers_never_ask_for_smaller_chunks_on_a_slower_store(neurons, engine):
    local = [default_chunk_size(neurons, engine, 10_000, w) for w in (1, 16, 64, 256)]
    bucket = [default_chunk_size(neurons, engine, 10_000, w, store="bucket")
              for w in (1, 16, 64, 256)]
    assert all(b >= a for a, b in zip(local, bucket))


def test_cheap_images_on_many_workers_get_larger_chunks_than_costly_ones():
    assert default_chunk_size(400, "fast", 10_000, 256) > \
        default_chunk_size(6400, "native", 10_000, 256)


@pytest.mark.parametrize("images", [1, 3, 7])
def test_a_few_images_are_never_split_beyond_them(images):
    assert 1 <= default_chunk_size(400, "native", images, 2) <= images


@pytest.mark.parametrize("args, kw, message", [
    ((400, "native", 0, 4), {}, r"images == 0, must be >= 1"),
    ((400, "native", 100, 0), {}, r"workers == 0, must be >= 1"),
    ((400, "cuda", 100, 4), {}, r"engine == 'cuda'"),
    ((400, "native", 100, 4), {"store": "tape"}, r"store == 'tape'"),
])
def test_default_chunk_size_refuses_bad_arguments(args, kw, message):
    with pytest.raises(ValueError, match=message):
        default_chunk_size(*args, **kw)


# ---------------------------------------------------------------------------
# The chunk size a phase runs with (no Ray: the workers are given or a manifest exists)
# ---------------------------------------------------------------------------
def test_a_given_chunk_size_is_used(tmp_path, tiny_cfg, no_ray_start):
    options = RunOptions(chunk_size=7)
    assert evaluation.phase_chunk_size(tmp_path / "phase=test", tiny_cfg, 100, options) == 7


def test_a_new_phase_gets_the_models_default(tmp_path, tiny_cfg, no_ray_start):
    options = RunOptions(workers=3)
    assert evaluation.phase_chunk_size(tmp_path / "phase=test", tiny_cfg, 500, options) == \
        default_chunk_size(tiny_cfg.n_neurons, tiny_cfg.backend, 500, 3)


@pytest.mark.parametrize("stored", [3, 50, 999])
def test_a_begun_phase_keeps_the_chunk_size_its_manifest_records(tmp_path, tiny_cfg, stored,
                                                                 no_ray_start):
    path = tmp_path / "phase=test"
    write_manifest(path, PhaseManifest(phase="test", seed=1, chunk_size=stored, n_samples=100,
                                       first_sample=0, network="n", model="m", data="d"))
    for workers in (None, 1, 64):
        assert evaluation.phase_chunk_size(path, tiny_cfg, 100,
                                           RunOptions(workers=workers)) == stored
    assert evaluation.phase_chunk_size(path, tiny_cfg, 100, RunOptions(chunk_size=5)) == 5
