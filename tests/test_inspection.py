"""One image through a run's network: every spike, traces of chosen neurons, the figure."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, random_network
from stdp_ray import artifact, evaluation, inspection, plots, rundir, workflow
from stdp_ray.options import RunOptions

CFG = TINY.replace(backend="native")


def make_record(neurons=(1, 4), steps=50, n=CFG.n_neurons) -> inspection.Inspection:
    rng = np.random.default_rng(0)
    k = len(neurons)
    counts = rng.integers(0, 4, n)
    assignments = np.arange(n) % 10
    return inspection.Inspection(
        run_dir="runs/x", phase="test", image=3, label=7,
        pixels=rng.integers(0, 255, 784).astype(np.uint8), network="0123456789abcdef",
        training_samples=20, backend="native", present_ms=CFG.present_ms,
        v_thresh_exc_mV=CFG.v_thresh_exc_mV, counts=counts, intensity=2.0, presentations=1,
        failed=False, neurons=np.asarray(neurons),
        spikes={"input": (np.array([3, 500]), np.array([1.0, 2.5])),
                "exc": (np.array([1, 1, 4]), np.array([10.0, 20.0, 30.0])),
                "inh": (np.array([1]), np.array([10.6]))},
        t_ms=np.arange(steps) * 0.1, v_mV=rng.normal(-60, 3, (k, steps)),
        ge=rng.random((k, steps)), gi=rng.random((k, steps)),
        theta_mV=np.full((k, steps), 20.0), replay_matches=True, assignments=assignments,
        scores=np.linspace(0, 1, 10), predicted=9)


@pytest.mark.parametrize("neurons, top, expected", [
    (None, 2, [1, 3]),              # the two most active
    (None, 3, [0, 1, 3]),           # ties broken by index
    ([5, 2, 5], 5, [2, 5]),         # named, sorted, once each
])
def test_the_traced_neurons_are_the_most_active_or_those_named(neurons, top, expected):
    counts = np.array([2, 5, 1, 3, 2, 0])
    assert inspection._neurons(neurons, counts, top).tolist() == expected


@pytest.mark.parametrize("neurons, top, match", [
    ([6], 5, r"--neurons: 6 is not a neuron, must be in 0..5"),
    ([], 5, r"--neurons == \[\], must name >= 1 neuron index"),
    ([-1], 5, r"--neurons: -1 is not a neuron"),
    (None, 0, r"--top == 0, must be an integer >= 1"),
])
def test_bad_neuron_choices_are_refused_naming_the_option(neurons, top, match):
    with pytest.raises(inspection.InspectionError, match=match):
        inspection._neurons(neurons, np.zeros(6, dtype=np.int64), top)


@pytest.mark.parametrize("phase, expected", [("test", "test"), ("observe", "observe"),
                                             ("train", "observe")])
def test_train_images_are_presented_as_observe_presents_them(phase, expected):
    assert inspection._phase(phase) == expected
    with pytest.raises(inspection.InspectionError, match=r"--phase == 'valid', must be one of"):
        inspection._phase("valid")


def test_the_record_is_written_as_parquet_tables_and_json(tmp_path):
    record = make_record()
    written = inspection.write_inspection(record, tmp_path / "out")
    assert [p.name for p in written] == ["spikes.parquet", "traces.parquet", "inspection.json"]
    spikes = pd.read_parquet(tmp_path / "out/spikes.parquet")
    assert spikes.groupby("layer").size().to_dict() == {"exc": 3, "inh": 1, "input": 2}
    traces = pd.read_parquet(tmp_path / "out/traces.parquet")
    assert len(traces) == 2 * 50 and traces["neuron"].unique().tolist() == [1, 4]
    np.testing.assert_array_equal(traces[traces.neuron == 4]["v_mV"], record.v_mV[1])
    np.testing.assert_array_equal(traces[traces.neuron == 4]["t_ms"], record.t_ms)
    summary = json.loads((tmp_path / "out/inspection.json").read_text())
    assert summary["neuron_classes"] == [1, 4] and summary["predicted"] == 9
    assert summary["spikes"] == {"input": 2, "exc": 3, "inh": 1}


def test_the_figure_shows_image_raster_traces_and_vote():
    fig = plots.inspection_figure(make_record(), present_ms=350)
    titles = [ax.get_title() for ax in fig.axes]
    assert "test image 3\nlabel 7, voted 9" in titles and "class vote" in titles
    (votes,) = [ax for ax in fig.axes if ax.get_title() == "class vote"]
    assert len(votes.patches) == 10 and votes.patches[9].get_linewidth() == 2
    assert any("neuron 4 (class 4)" in t.get_text() for ax in fig.axes if ax.get_legend()
               for t in ax.get_legend().get_texts())


def test_the_figure_takes_the_presentation_and_threshold_from_the_record():
    record = dataclasses.replace(make_record(), present_ms=123.0, v_thresh_exc_mV=-70.0)
    lines = [line for ax in plots.inspection_figure(record).axes for line in ax.get_lines()]
    ends = [line for line in lines if list(line.get_xdata()) == [123.0, 123.0]]
    assert len(ends) >= 2                                    # raster and traces
    thresholds = [line for line in lines if line.get_linestyle() == "--"]
    assert {tuple(line.get_ydata()) for line in thresholds} == {(-50.0, -50.0)}  # 20 - 70 mV
    assert {"present_ms": 123.0, "v_thresh_exc_mV": -70.0}.items() <= record.summary().items()


@pytest.fixture(scope="module")
def tested_run(tmp_path_factory, mnist_dir, ray_local):
    """A run with a (random) network, labelled and tested on 8 test images."""
    run = tmp_path_factory.mktemp("inspect") / "run"
    workflow.prepare_run(run, CFG, seed=3)
    artifact.save_network(run / rundir.NETWORK_DIR, CFG, random_network(CFG, seed=3),
                          prov={"seed": 3, "training_samples": 0})
    options = RunOptions(observe_samples=12, test_samples=8, data_dir=mnist_dir, chunk_size=3,
                         progress=False)
    workflow.observe(run, options)
    workflow.test(run, options)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("image", [0, 5])
def test_recording_does_not_change_the_spikes(tested_run, mnist_dir, image):
    stored = evaluation.responses(rundir.phase_dir(tested_run, "test")).to_pandas()
    row = stored[stored["sample"] == image].iloc[0]
    record = inspection.inspect_sample(tested_run, image, data_dir=mnist_dir)
    np.testing.assert_array_equal(record.counts, np.asarray(row["counts"]))
    assert record.presentations == row["presentations"]
    assert record.intensity == pytest.approx(row["intensity"])
    assert record.replay_matches   # the runtime replay with monitors has the same spikes
    window = record.spikes["exc"][1] < CFG.present_ms
    assert np.bincount(record.spikes["exc"][0][window], minlength=CFG.n_neurons).tolist() \
        == record.counts.tolist()
    assert record.v_mV.shape == (len(record.neurons), round(CFG.frozen_slot_ms / CFG.dt_ms))
    assert record.v_mV[:, 0] == pytest.approx(CFG.v_rest_exc_mV)


@pytest.mark.slow
def test_the_inspect_command_writes_tables_and_figure(tested_run, mnist_dir, capsys, caplog):
    from stdp_ray.cli import main

    assert main(["inspect", str(tested_run), "--image", "2", "--neurons", "0,3",
                 "--data-dir", str(mnist_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["neurons"] == [0, 3] and out["image"] == 2 and out["replay_matches"]
    where = tested_run / "inspect" / "test-00002"
    for name in ("spikes.parquet", "traces.parquet", "inspection.json", "inspection.png",
                 "inspection.svg"):
        assert (where / name).stat().st_size > 0, name
    assert main(["inspect", str(tested_run), "--image", "30", "--data-dir", str(mnist_dir)]) == 2
    assert "--image == 30, must be in 0..29 (the test images)" in caplog.text
