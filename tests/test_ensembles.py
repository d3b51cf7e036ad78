"""Ensembles: combination rules on hand-made tables, and an interrupted ensemble resumed."""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stdp_ray import rundir, training, workflow
from stdp_ray.cli import main
from conftest import TINY
from stdp_ray.ensembles import combine_members, parse_seeds, run_ensemble, trained_member
from stdp_ray.options import RunOptions

NAN = np.nan


def _scores(rows):
    out = np.zeros((len(rows), 10))
    for i, row in enumerate(rows):
        for cls, value in row.items():
            out[i, cls] = value
    return out


def test_sum_of_scores_beats_each_member():
    labels = np.array([0, 1, 2])
    # Member A is wrong on sample 1, member B on sample 0; summed scores are right on all.
    a = _scores([{0: 5, 1: 4}, {1: 3, 2: 4}, {2: 6}])
    b = _scores([{0: 3, 1: 4}, {1: 6, 2: 2}, {2: 5, 0: 1}])
    out = combine_members(labels, [a, b])
    assert out["members"] == [pytest.approx(2 / 3), pytest.approx(2 / 3)]
    assert out["accuracy_sum"] == [pytest.approx(2 / 3), 1.0]
    np.testing.assert_array_equal(out["predicted_sum"], [0, 1, 2])
    np.testing.assert_array_equal(out["scores_sum"][0, :2], [8, 8])  # tie -> lowest class wins


def test_majority_vote_and_k_curve():
    labels = np.array([3, 3])
    members = [_scores([{3: 1}, {4: 1}]), _scores([{4: 1}, {3: 1}]), _scores([{3: 1}, {3: 1}])]
    out = combine_members(labels, members)
    assert out["k"] == [1, 2, 3]
    # K=2: one vote each, tie -> lowest class (3): right on both samples.
    assert out["accuracy_vote"] == [0.5, 1.0, 1.0]
    np.testing.assert_array_equal(out["predicted_vote"], [3, 3])


def test_nan_scores_count_as_zero():
    labels = np.array([1])
    a = _scores([{1: 2}])
    a[0, 5] = NAN
    b = _scores([{5: 1}])
    out = combine_members(labels, [a, b])
    np.testing.assert_array_equal(out["predicted_sum"], [1])


@pytest.mark.parametrize("scores,match", [
    ([], r"member_scores is empty"),
    ([np.zeros((2, 10))], r"member 0 scores have shape \(2, 10\), must be \(1, 10\)"),
])
def test_combine_rejections(scores, match):
    with pytest.raises(ValueError, match=match):
        combine_members(np.array([0]), scores)


@pytest.mark.parametrize("text,expected", [("1,2,3", [1, 2, 3]), ("7", [7]), ("4, 5", [4, 5])])
def test_parse_seeds(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text,match", [
    ("1,x", r"must be comma-separated integers"), ("", r"must name >= 1 seed"),
    ("2,2", r"seeds must be distinct"), ("1,-3", r"seeds must be in 0\.\.2147483647")])
def test_parse_seeds_rejections(text, match):
    with pytest.raises(ValueError, match=match):
        parse_seeds(text)


@pytest.mark.parametrize("seeds,exc,match", [
    ([1, 1], ValueError, r"seeds == \[1, 1\], seeds must be distinct"),
    ([], ValueError, r"must name >= 1 seed"),
    ([2**31], ValueError, r"seeds must be in 0\.\.2147483647"),
    ("12", TypeError, r"seeds == '12', must be a sequence of ints"),
    ([1, 2.0], TypeError, r"must be a sequence of ints"),
    ([True], TypeError, r"must be a sequence of ints")])
def test_run_ensemble_checks_seeds_before_anything(tmp_path, seeds, exc, match):
    with pytest.raises(exc, match=match):
        run_ensemble(tmp_path / "ens", TINY, seeds, RunOptions(samples=2, progress=False))
    assert not (tmp_path / "ens").exists()


@pytest.mark.slow
def test_interrupted_ensemble_resumes(ray_local, tmp_path, mnist_dir, caplog):
    root = tmp_path / "ens"
    common = ["--seeds", "1,2", "--neurons", "10", "--checkpoint-every", "3", "--chunk-size",
              "10", "--data-dir", str(mnist_dir), "--no-progress", "--test-samples", "20"]
    # First attempt: trains 3 samples per member, then stops at a bad observe request.
    assert main(["ensemble", str(root), "--samples", "3", "--observe-samples", "999",
                 *common]) == 2
    assert "--observe-samples == 999, but the training set has only 60 images" in caplog.text
    assert not (root / rundir.ENSEMBLE_METRICS_FILE).exists()
    # Second attempt: training continues from sample 3 to 6, evaluation runs.
    assert main(["ensemble", str(root), "--samples", "6", "--observe-samples", "40",
                 *common]) == 0
    for seed in (1, 2):
        stats = pq.read_table(root / f"seed={seed}" / rundir.STATS_DIR).to_pandas()
        assert stats["sample"].tolist() == list(range(6))
        prov = json.loads((root / f"seed={seed}/network/network.json").read_text())["provenance"]
        assert prov["training_samples"] == 6 and prov["training_seconds"] > 0
    metrics = json.loads((root / rundir.ENSEMBLE_METRICS_FILE).read_text())
    assert [m["seed"] for m in metrics["members"]] == [1, 2]
    assert metrics["k"] == [1, 2] and len(metrics["accuracy_sum"]) == 2
    assert metrics["accuracy_sum"][0] == metrics["members"][0]["accuracy"]
    preds = pd.read_parquet(root / rundir.ENSEMBLE_PREDICTIONS_FILE)
    assert len(preds) == 20
    assert (preds["predicted_sum"] == preds["label"]).mean() == metrics["accuracy_sum"][-1]
    # A third run recomputes nothing and gives the same numbers.
    assert main(["ensemble", str(root), "--samples", "6", "--observe-samples", "40",
                 *common]) == 0
    again = json.loads((root / rundir.ENSEMBLE_METRICS_FILE).read_text())
    assert again["accuracy_sum"] == metrics["accuracy_sum"]
    # And the report covers the ensemble and both members.
    assert main(["report", str(root)]) == 0
    for path in ("report/ensemble_accuracy.png", "report/report.md",
                 "seed=1/report/confusion.png", "seed=2/report/receptive_fields.png"):
        assert (root / path).stat().st_size > 0, path


@pytest.mark.slow
def test_an_older_root_with_seed_dash_members_reads_and_resumes_in_place(ray_local, tmp_path,
                                                                          mnist_dir):
    root = tmp_path / "ens"
    cfg = TINY.replace(backend="native")
    common = dict(observe_samples=20, test_samples=10, chunk_size=10, data_dir=mnist_dir,
                  progress=False)
    run_ensemble(root, cfg, [1, 2], RunOptions(samples=2, **common))
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["seed=1", "seed=2"]
    for seed in (1, 2):  # as an older version named them
        (root / f"seed={seed}").rename(root / f"seed-{seed}")
    # One sample more: the members' older responses are discarded (overwrite).
    metrics = run_ensemble(root, cfg, [1, 2], RunOptions(samples=3, overwrite=True, **common))
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["seed-1", "seed-2"]
    assert [m["run_dir"] for m in metrics["members"]] == ["seed-1", "seed-2"]
    stats = rundir.read_parts(root / "seed-2" / rundir.STATS_DIR, rundir.TRAIN_STATS_SCHEMA)
    assert stats.column("sample").to_pylist() == [0, 1, 2]  # resumed: one sample more


ALONE_CFG = TINY.replace(backend="native")
ALONE_OPTIONS = dict(observe_samples=20, test_samples=10, chunk_size=10, progress=False)


@pytest.fixture(scope="module")
def alone(ray_local, tmp_path_factory, mnist_dir):
    """An ensemble of seeds 1 and 2 trained on 3 samples: its root and its metrics."""
    root = tmp_path_factory.mktemp("alone") / "ens"
    return root, run_ensemble(root, ALONE_CFG, [1, 2],
                              RunOptions(samples=3, data_dir=mnist_dir, **ALONE_OPTIONS))


@pytest.mark.slow
def test_a_member_trained_elsewhere_and_copied_in_is_used_as_it_is(alone, tmp_path,
                                                                    mnist_dir, monkeypatch):
    source, metrics = alone
    # The same members, copied into a new root without their checkpoints (as a
    # run trained on another machine or pruned): nothing is trained again.
    root = tmp_path / "copied"
    root.mkdir()
    for seed in (1, 2):
        shutil.copytree(source / f"seed={seed}", root / f"seed={seed}")
        shutil.rmtree(root / f"seed={seed}" / rundir.CHECKPOINTS_DIR)

    def no_training(*args, **kwargs):
        raise AssertionError("an already trained member was trained again")

    monkeypatch.setattr(training, "train_many", no_training)
    again = run_ensemble(root, ALONE_CFG, [1, 2],
                         RunOptions(samples=3, data_dir=mnist_dir, **ALONE_OPTIONS))
    assert again["accuracy_sum"] == metrics["accuracy_sum"]
    assert again["members"] == metrics["members"]


@pytest.mark.slow
@pytest.mark.parametrize("samples,match", [
    (2, r"--samples == 2, but .*network was trained on 3 samples"),
    (None, r"a network of seed 1, in the member directory of seed 2")])
def test_a_copied_member_of_other_samples_or_seed_is_refused(alone, tmp_path, samples, match):
    member = tmp_path / "copied" / "seed=1"
    shutil.copytree(alone[0] / "seed=1", member)
    shutil.rmtree(member / rundir.CHECKPOINTS_DIR)
    if samples is None:  # seed 1's network where seed 2's belongs
        target = tmp_path / "other" / "seed=2"
        shutil.copytree(member / rundir.NETWORK_DIR, target / rundir.NETWORK_DIR)
        with pytest.raises(workflow.RunError, match=match):
            trained_member(target, ALONE_CFG, 2, 3)
    else:
        with pytest.raises(workflow.RunError, match=match):
            trained_member(member, ALONE_CFG, 1, samples)
