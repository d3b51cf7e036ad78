"""The run directory's one owner: names, parts, records, checkpoints (no simulation)."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pytest

from conftest import TINY, random_network
from stdp_ray import artifact, atomic, reading, rundir, training
from stdp_ray.config import Config, config_to_dict
from stdp_ray.rundir import (CheckpointState, EnsembleMember, EnsembleMetrics, EnsembleSettings,
                             PhaseManifest, RunMetrics, RunRecord)
from stdp_ray.reading import ArtifactError


def _stats_rows(samples):
    return [{"sample": i, "image": i, "label": i % 10, "total_spikes": 5, "intensity": 2.0,
             "presentations": 1, "failed": False, "w_mean": 0.1, "w_std": 0.05,
             "theta_mean_mV": 20.0, "theta_std_mV": 0.0, "seconds": 0.25} for i in samples]


# --------------------------------------------------------------------------
# Names and parts
# --------------------------------------------------------------------------
def test_parts_are_named_with_six_digits_at_least():
    assert rundir.part_name(3) == "part-000003.parquet"
    assert rundir.part_name(1_234_567) == "part-1234567.parquet"


@pytest.mark.parametrize("name, index", [("part-000003.parquet", 3),
                                         ("part-000001000.parquet", 1000),
                                         ("part-1234567.parquet", 1234567),
                                         ("part-x.parquet", None), ("part-3.csv", None)])
def test_a_part_index_is_read_from_names_of_any_width(name, index):
    assert rundir.part_index(name) == index


def test_parts_of_both_widths_are_read_in_index_order(tmp_path):
    # Nine digits (training statistics before rundir owned part names) beside six.
    for name, samples in (("part-000000004.parquet", [4, 5]), ("part-000000.parquet", [0, 1]),
                          ("part-000002.parquet", [2, 3]), ("part-000010.parquet", [10])):
        rundir.write_table(tmp_path / name, rundir.train_stats_table(_stats_rows(samples)))
    assert [rundir.part_index(p) for p in rundir.part_paths(tmp_path)] == [0, 2, 4, 10]
    stats = rundir.read_parts(tmp_path, rundir.TRAIN_STATS_SCHEMA)
    assert stats.column("sample").to_pylist() == [0, 1, 2, 3, 4, 5, 10]


def test_an_empty_or_missing_directory_reads_as_an_empty_table(tmp_path):
    assert rundir.read_parts(tmp_path / "missing", rundir.RESPONSES_SCHEMA).num_rows == 0


def test_phase_directories_are_hive_partitions_of_responses(tmp_path):
    assert rundir.phase_dir(tmp_path, "test") == tmp_path / "responses" / "phase=test"
    with pytest.raises(ValueError, match="phase == 'train'"):
        rundir.phase_dir(tmp_path, "train")


def test_what_a_phase_derives_is_listed_once(tmp_path):
    assert [p.relative_to(tmp_path).as_posix() for p in rundir.derived_files(tmp_path, "test")] \
        == ["predictions.parquet", "metrics.json"]
    assert (tmp_path / "network" / artifact.ASSIGNMENTS_NPZ) in rundir.derived_files(tmp_path,
                                                                                     "observe")


def test_members_of_an_ensemble_are_hive_partitions_named_by_seed(tmp_path):
    assert rundir.member_dir(tmp_path, 7) == tmp_path / "seed=7"


@pytest.mark.parametrize("present, expected", [
    (["seed-7"], "seed-7"),              # a root of an older version: used in place
    (["seed-7", "seed=7"], "seed=7"),    # the current name wins
    (["seed-8"], "seed=7"),              # another seed's old member changes nothing
])
def test_older_ensemble_members_named_seed_dash_n_are_found(tmp_path, present, expected):
    for name in present:
        (tmp_path / name).mkdir()
    assert rundir.member_dir(tmp_path, 7) == tmp_path / expected


def test_checkpoints_are_listed_oldest_first_and_incomplete_ones_only_when_asked(tmp_path):
    for n in (12, 3, 1000):
        rundir.write_checkpoint_state(tmp_path / rundir.checkpoint_name(n),
                                      CheckpointState(samples_done=n))
    (tmp_path / rundir.checkpoint_name(2000)).mkdir()          # no state file: incomplete
    (tmp_path / ".ckpt-000003000.abc").mkdir()                  # a temporary
    assert [p.name for p in rundir.checkpoint_dirs(tmp_path)] == [
        "ckpt-000000003", "ckpt-000000012", "ckpt-000001000"]
    assert rundir.latest_checkpoint(tmp_path).name == "ckpt-000001000"
    assert rundir.checkpoint_dirs(tmp_path, complete=False)[-1].name == "ckpt-000002000"
    assert rundir.latest_checkpoint(tmp_path / "none") is None


def test_temporaries_of_todays_checkpoint_writer_are_swept(tmp_path):
    run = tmp_path / "run"
    temporary = run / "train" / "checkpoints" / ".ckpt-000000008.k2j3"
    (temporary / "sub").mkdir(parents=True)
    kept = run / "train" / "checkpoints" / "ckpt-000000004" / "state.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}")
    assert rundir.sweep_temporaries(run) == [temporary]
    assert kept.exists()


# --------------------------------------------------------------------------
# Records: one writer, one reader each
# --------------------------------------------------------------------------
def test_a_run_record_round_trips_with_its_provenance(tmp_path):
    record = RunRecord(TINY, 3, {"commit": "abc", "host": "h"})
    rundir.write_run_record(tmp_path, record)
    again = rundir.read_run_record(tmp_path)
    assert again == record and again.provenance == record.provenance
    assert json.loads((tmp_path / "config.json").read_text())["config"] == config_to_dict(TINY)


@pytest.mark.parametrize("content, match", [
    ({"config": config_to_dict(TINY)}, "invalid run configuration"),
    ({"config": {"n_neurons": "ten"}, "seed": 1}, "invalid run configuration"),
    ([1, 2], "expected a JSON object")])
def test_a_malformed_run_record_names_its_file(tmp_path, content, match):
    (tmp_path / "config.json").write_text(json.dumps(content))
    with pytest.raises(ArtifactError, match=match):
        rundir.read_run_record(tmp_path)


def test_a_manifest_round_trips_beside_its_dataset_folder(tmp_path):
    phase = tmp_path / "responses" / "phase=test"
    manifest = PhaseManifest(phase="test", seed=5, chunk_size=50, n_samples=20, first_sample=0,
                             network="n", model="m", data="d")
    assert rundir.read_manifest(phase) is None
    written = rundir.write_manifest(phase, manifest)
    assert written == rundir.manifest_path(phase) == \
        tmp_path / "_manifests" / "responses" / "phase=test.json"
    assert rundir.read_manifest(phase) == manifest
    assert json.loads(written.read_text()) == {
        "phase": "test", "seed": 5, "chunk_size": 50, "n_samples": 20, "first_sample": 0,
        "network": "n", "model": "m", "data": "d"}
    other = PhaseManifest(phase="test", seed=5, chunk_size=10, n_samples=20, first_sample=0,
                          network="n", model="m", data="d")
    assert manifest.diff(other) == {"chunk_size": (50, 10)}


def test_an_older_manifest_inside_the_folder_reads_and_moves_out_when_written(tmp_path):
    phase = tmp_path / "responses" / "phase=observe"
    phase.mkdir(parents=True)
    (phase / "_manifest.json").write_text(json.dumps({"phase": "observe", "n_samples": 9,
                                                      "unknown_later_key": 1}))
    manifest = rundir.read_manifest(phase)
    assert (manifest.phase, manifest.n_samples, manifest.data, manifest.seed) == \
        ("observe", 9, None, None)
    assert rundir.stored_manifest_path(phase) == phase / "_manifest.json"
    rundir.write_manifest(phase, manifest)
    assert rundir.stored_manifest_path(phase) == \
        tmp_path / "_manifests" / "responses" / "phase=observe.json"
    assert not (phase / "_manifest.json").exists()
    assert rundir.read_manifest(phase) == manifest


def test_a_manifest_in_the_dataset_of_the_first_seed_eq_layout_reads_and_moves_out(tmp_path):
    phase = tmp_path / "responses" / "phase=test"
    inside = tmp_path / "responses" / "_manifests" / "phase=test.json"
    inside.parent.mkdir(parents=True)
    inside.write_text(json.dumps({"phase": "test", "n_samples": 3}))
    assert rundir.read_manifest(phase).n_samples == 3
    rundir.write_manifest(phase, rundir.read_manifest(phase))
    assert not inside.exists() and rundir.stored_manifest_path(phase) == rundir.manifest_path(phase)


def test_removing_a_phase_removes_its_manifest_too(tmp_path):
    phase = tmp_path / "responses" / "phase=test"
    rundir.write_manifest(phase, PhaseManifest(phase="test"))
    rundir.write_table(phase / rundir.part_name(0), pa.table({"x": [1]}))
    rundir.remove_phase(phase)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["_manifests", "responses",
                                                          "responses"]


#: The keys of a run's metrics.json since stdp-ray wrote its first ones (kept as they are).
RUN_METRICS_KEYS = {
    "accuracy", "confusion_matrix", "n_samples", "n_failed", "mean_presentations",
    "mean_spikes", "wall_seconds", "simulate_seconds", "chunks", "chunks_computed",
    "chunk_size", "workers", "nodes", "chunk_nodes", "backend", "seed", "network", "n_neurons",
    "training_samples", "observe_samples", "provenance"}


def test_run_metrics_round_trip_with_the_keys_earlier_versions_wrote(tmp_path):
    metrics = RunMetrics(confusion_matrix=np.eye(10, dtype=int).tolist(), accuracy=1.0,
                         n_samples=10, chunk_nodes={"0": "node"}, provenance={"commit": "c"})
    assert rundir.read_metrics(tmp_path) is None
    rundir.write_metrics(tmp_path, metrics)
    assert set(json.loads((tmp_path / "metrics.json").read_text())) == RUN_METRICS_KEYS
    assert rundir.read_metrics(tmp_path) == metrics


def test_run_metrics_without_a_confusion_matrix_are_refused(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(ArtifactError, match=r"metrics.json: has no 'confusion_matrix'"):
        rundir.read_metrics(tmp_path)


@pytest.mark.parametrize("provenance, commit", [
    ({"commit": "a"}, "a"), ({"git_commit": "b"}, "b"), ({"versions": {"commit": "c"}}, "c"),
    ({"versions": {"git": "d"}}, "d"), ({"versions": {}}, None), (None, None)])
def test_the_commit_is_read_under_its_current_and_older_keys(provenance, commit):
    assert rundir.provenance_commit(provenance) == commit


def test_ensemble_settings_round_trip(tmp_path):
    settings = EnsembleSettings(TINY, [1, 2], samples=4, observe_samples=40, test_samples=None)
    rundir.write_ensemble_settings(tmp_path, settings)
    assert set(json.loads((tmp_path / "ensemble.json").read_text())) == {
        "config", "seeds", "samples", "observe_samples", "test_samples"}
    assert rundir.read_ensemble_settings(tmp_path) == settings


def test_ensemble_settings_without_a_configuration_read(tmp_path):
    (tmp_path / "ensemble.json").write_text(json.dumps({"seeds": [1, 2]}))
    settings = rundir.read_ensemble_settings(tmp_path)
    assert settings.config is None and settings.seeds == [1, 2]


def test_ensemble_metrics_round_trip(tmp_path):
    metrics = EnsembleMetrics(
        members=[EnsembleMember(1, 0.8, "seed-1", 4), EnsembleMember(2, 0.7, "seed-2", 4)],
        k=[1, 2], accuracy_sum=[0.8, 0.85], accuracy_vote=[0.8, 0.75],
        mean_member_accuracy=0.75, ensemble_accuracy_sum=0.85, ensemble_accuracy_vote=0.75,
        n_samples=20, n_neurons=10, samples=4, observe_samples=40, provenance={})
    assert rundir.read_ensemble_metrics(tmp_path) is None
    rundir.write_ensemble_metrics(tmp_path, metrics)
    raw = json.loads((tmp_path / "metrics.json").read_text())
    assert raw["members"][0] == {"seed": 1, "accuracy": 0.8, "run_dir": "seed-1",
                                 "training_samples": 4}
    assert rundir.read_ensemble_metrics(tmp_path) == metrics


def test_ensemble_metrics_start_with_the_accuracy_of_all_members_summed(tmp_path):
    metrics = EnsembleMetrics(members=[EnsembleMember(1, 0.8, "seed-1", 4)], k=[1, 2],
                              accuracy_sum=[0.8, 0.85], accuracy_vote=[0.8, 0.75],
                              ensemble_accuracy_sum=0.85)
    rundir.write_ensemble_metrics(tmp_path, metrics)
    raw = json.loads((tmp_path / "metrics.json").read_text())
    assert next(iter(raw)) == "accuracy" and raw["accuracy"] == 0.85
    assert rundir.read_ensemble_metrics(tmp_path) == metrics


SWEEP_ROW = {"point": "nu_post=0.01", "nu_post": 0.01, "seed": 1, "accuracy": 0.5,
             "n_samples": 10, "n_failed": 0, "train_failed": 1, "training_samples": 4,
             "training_seconds": 1.5, "run_dir": "nu_post=0.01/seed=1"}


def test_sweep_summary_types_each_setting_as_its_config_field():
    table = rundir.sweep_summary_table([SWEEP_ROW, {**SWEEP_ROW, "seed": 2}], ["nu_post"])
    assert table.column_names[:3] == ["point", "nu_post", "seed"]
    assert table.schema.field("nu_post").type == pa.float64()
    assert table.column("seed").to_pylist() == [1, 2]


def test_sweep_settings_round_trip(tmp_path):
    settings = rundir.SweepSettings(Config(n_neurons=10), {"nu_post": [0.005, 0.01]}, [1, 2],
                                    samples=4, observe_samples=20, test_samples=None)
    rundir.write_sweep_settings(tmp_path, settings)
    assert rundir.read_sweep_settings(tmp_path) == settings


def test_older_ensemble_metrics_read_their_missing_keys_as_none(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({
        "members": [{"seed": 1, "accuracy": 0.8, "run_dir": "seed-1"}],
        "k": [1], "accuracy_sum": [0.8], "accuracy_vote": [0.8]}))
    metrics = rundir.read_ensemble_metrics(tmp_path)
    assert metrics.members == [EnsembleMember(1, 0.8, "seed-1")]
    assert metrics.mean_member_accuracy is None and metrics.n_samples is None


# --------------------------------------------------------------------------
# Checkpoints: one check
# --------------------------------------------------------------------------
def _checkpoint(train_dir, samples_done, seed=1, cfg=TINY):
    ckpt = rundir.checkpoints_dir(train_dir) / rundir.checkpoint_name(samples_done)
    net = random_network(cfg)
    atomic.atomic_save_npz(ckpt / rundir.CHECKPOINT_ARRAYS, weights=net.weights,
                           theta_mV=net.theta_mV, delays_ms=net.delays_ms)
    atomic.atomic_save_npz(ckpt / rundir.CHECKPOINT_DYNAMIC, exc_v=np.zeros(cfg.n_neurons))
    rundir.write_checkpoint_state(ckpt, CheckpointState(
        samples_done=samples_done, seed=seed, model=cfg.model_hash(),
        config=config_to_dict(cfg)))
    return ckpt


def test_a_checkpoint_of_this_run_is_read_back_whole(tmp_path):
    ckpt = _checkpoint(tmp_path, 6)
    found = training.read_checkpoint(ckpt, TINY, 1)
    assert found.samples_done == 6 and found.path == ckpt
    np.testing.assert_array_equal(found.arrays.weights, random_network(TINY).weights)
    assert set(found.dynamic) == {"exc_v"}
    assert training.read_checkpoint(ckpt, TINY, 1, dynamic=False).dynamic is None


def test_the_driver_and_the_trainer_refuse_the_same_checkpoints(tmp_path):
    _checkpoint(tmp_path, 6, seed=2)
    for check in (lambda: training.check_resumable(tmp_path, TINY, 1, 10),
                  lambda: training.read_checkpoint(rundir.latest_checkpoint(
                      rundir.checkpoints_dir(tmp_path)), TINY, 1)):
        with pytest.raises(ArtifactError, match="checkpoint of seed 2, this run has seed 1"):
            check()
    with pytest.raises(ArtifactError, match="checkpoint of another model configuration"):
        training.check_resumable(tmp_path, TINY.replace(nu_post=0.02), 2, 10)


def test_check_resumable_returns_the_samples_done_and_refuses_fewer(tmp_path):
    assert training.check_resumable(tmp_path, TINY, 1, 10) == 0
    _checkpoint(tmp_path, 6)
    assert training.check_resumable(tmp_path, TINY, 1, 10) == 6
    with pytest.raises(training.TrainingError, match="has already trained 6 samples"):
        training.check_resumable(tmp_path, TINY, 1, 5)


def test_a_checkpoint_whose_arrays_do_not_fit_the_configuration_is_refused(tmp_path):
    _checkpoint(tmp_path, 6, cfg=TINY.replace(n_neurons=11))
    bigger = TINY.replace(n_neurons=11)
    assert training.check_resumable(tmp_path, bigger, 1, 10) == 6
    ckpt = rundir.latest_checkpoint(rundir.checkpoints_dir(tmp_path))
    # Same model hash but other arrays: the arrays are checked too.
    atomic.atomic_save_npz(ckpt / rundir.CHECKPOINT_ARRAYS, weights=np.zeros((3, 3)),
                           theta_mV=np.zeros(3), delays_ms=np.zeros((3, 3)))
    with pytest.raises(ArtifactError, match="weights has shape"):
        training.check_resumable(tmp_path, bigger, 1, 10)


def test_every_table_carries_its_schema_version_units_and_identity(tmp_path):
    table = rundir.predictions_table(np.arange(2), np.array([1, 2]), np.array([1, 3]),
                                     np.zeros((2, 10)))
    path = rundir.write_table(tmp_path / "p.parquet", table,
                              identity={"seed": 3, "network": "abc", "config": "def"})
    meta = rundir.read_table_metadata(path)
    assert meta["schema_version"] == str(rundir.TABLE_SCHEMA_VERSION)
    assert json.loads(meta["units"]) == {"scores": "spikes per presentation"}
    assert (meta["seed"], meta["network"], meta["config"]) == ("3", "abc", "def")
    # The metadata does not get in the way of reading with the schema.
    assert rundir.read_table(path, rundir.PREDICTIONS_SCHEMA).num_rows == 2


def _checksummed(train_dir, samples_done):
    """A checkpoint whose state.json records the SHA-256 of its arrays (as the trainer's)."""
    ckpt = _checkpoint(train_dir, samples_done)
    rundir.write_checkpoint_state(ckpt, CheckpointState(
        samples_done=samples_done, seed=1, model=TINY.model_hash(), config=config_to_dict(TINY),
        checksums={n: reading.sha256_of(ckpt / n) for n in training.CHECKPOINT_FILES}))
    return ckpt


@pytest.mark.parametrize("damage", ["flip a byte", "truncate"])
def test_a_damaged_newest_checkpoint_is_reported_and_the_previous_one_used(tmp_path, caplog,
                                                                          damage):
    _checksummed(tmp_path, 3)
    newest = _checksummed(tmp_path, 6)
    path = newest / rundir.CHECKPOINT_DYNAMIC
    blob = bytearray(path.read_bytes())
    if damage == "flip a byte":
        blob[len(blob) // 2] ^= 0xFF
    else:
        blob = blob[:40]
    path.write_bytes(bytes(blob))
    found = training.newest_usable_checkpoint(tmp_path, TINY, 1)
    assert found.samples_done == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert re.fullmatch(r"checkpoint ckpt-000000006 is damaged \(.*dynamic\.npz: damaged "
                        r"\(sha256 .*\); using the previous one", warnings[0])
    assert training.check_resumable(tmp_path, TINY, 1, 10) == 3


def test_when_every_checkpoint_is_damaged_the_newest_error_is_raised(tmp_path):
    ckpt = _checksummed(tmp_path, 6)
    (ckpt / rundir.CHECKPOINT_ARRAYS).write_bytes(b"PK-not-a-zip")
    with pytest.raises(ArtifactError, match=r"ckpt-000000006/arrays\.npz: damaged"):
        training.newest_usable_checkpoint(tmp_path, TINY, 1)


def test_a_checkpoint_of_another_run_is_never_skipped_for_an_older_one(tmp_path):
    _checksummed(tmp_path, 3)
    _checkpoint(tmp_path, 6, seed=2)
    with pytest.raises(training.ForeignCheckpointError, match="checkpoint of seed 2"):
        training.newest_usable_checkpoint(tmp_path, TINY, 1)


# --------------------------------------------------------------------------
# Every table and the responses dataset, read by pyarrow.dataset, duckdb and polars
# with no options beyond hive partitioning.
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written_ensemble(ray_local, mnist_dir, tmp_path_factory):
    """An ensemble of two tiny members (seeds 1, 2): 3 training, 20 observe, 10 test samples."""
    from stdp_ray import ensembles

    root = tmp_path_factory.mktemp("readers") / "ens"
    ensembles.run_ensemble(root, TINY.replace(backend="native"), [1, 2], samples=3,
                           observe_samples=20, test_samples=10, chunk_size=5,
                           data_dir=mnist_dir, progress=False)
    return root


#: Each table of a run directory (a file, or a folder of parts) and its rows.
RUN_TABLES = [(rundir.ASSIGNMENTS_FILE, 10), (rundir.PREDICTIONS_FILE, 10),
              (rundir.STATS_DIR, 3)]


def _parquet_glob(path):
    return f"{path}/*.parquet" if path.is_dir() else str(path)


@pytest.mark.slow
def test_pyarrow_dataset_reads_every_table_and_the_responses(written_ensemble):
    import pyarrow.dataset as ds

    run = rundir.member_dir(written_ensemble, 1)
    assert [p.suffix for p in (run / rundir.RESPONSES_DIR).rglob("*") if p.is_file()] == \
        [".parquet"] * 6  # parts only: 4 observe, 2 test
    for name, rows in RUN_TABLES:
        assert ds.dataset(run / name).to_table().num_rows == rows, name
    responses = ds.dataset(run / rundir.RESPONSES_DIR, partitioning="hive").to_table()
    assert sorted(responses.group_by("phase").aggregate([("sample", "count")]).to_pylist(),
                  key=lambda r: r["phase"]) == [{"phase": "observe", "sample_count": 20},
                                                {"phase": "test", "sample_count": 10}]
    ens = ds.dataset(written_ensemble / rundir.ENSEMBLE_PREDICTIONS_FILE).to_table()
    assert ens.num_rows == 10


@pytest.mark.slow
def test_duckdb_reads_every_table_and_recovers_phase_and_seed(written_ensemble):
    duckdb = pytest.importorskip("duckdb", reason="in the test extra")

    run = rundir.member_dir(written_ensemble, 2)
    for name, rows in RUN_TABLES:
        assert duckdb.sql(f"SELECT count(*) FROM '{_parquet_glob(run / name)}'").fetchall() \
            == [(rows,)], name
    by_phase = duckdb.sql(
        f"SELECT phase, count(*) FROM read_parquet('{run}/responses/*/*.parquet', "
        "hive_partitioning = true) GROUP BY phase ORDER BY phase").fetchall()
    assert by_phase == [("observe", 20), ("test", 10)]
    # The whole ensemble: the members' folders are hive partitions too.
    by_seed = duckdb.sql(
        f"SELECT seed, phase, count(*) FROM read_parquet('{written_ensemble}/*/responses/*/"
        "*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL").fetchall()
    assert by_seed == [(1, "observe", 20), (1, "test", 10), (2, "observe", 20), (2, "test", 10)]
    accuracy = duckdb.sql(
        f"SELECT seed, avg(correct::INT) FROM read_parquet('{written_ensemble}/*/"
        "predictions.parquet', hive_partitioning = true) GROUP BY seed ORDER BY seed").fetchall()
    metrics = rundir.read_ensemble_metrics(written_ensemble)
    assert [a for _, a in accuracy] == pytest.approx([m.accuracy for m in metrics.members])


@pytest.mark.slow
def test_polars_scans_every_table_and_the_responses_folder(written_ensemble):
    pl = pytest.importorskip("polars", reason="in the test extra")

    run = rundir.member_dir(written_ensemble, 1)
    for name, rows in RUN_TABLES:
        assert pl.scan_parquet(run / name).select(pl.len()).collect().item() == rows, name
    responses = pl.scan_parquet(run / rundir.RESPONSES_DIR, hive_partitioning=True)
    counts = responses.group_by("phase").agg(pl.len()).sort("phase").collect()
    assert counts.rows() == [("observe", 20), ("test", 10)]
    members = pl.scan_parquet(f"{written_ensemble}/*/{rundir.PREDICTIONS_FILE}",
                              hive_partitioning=True).collect()
    assert sorted(members["seed"].unique().to_list()) == [1, 2]
