"""The run directory as a whole: its public names, and every table and the responses
dataset read by pyarrow.dataset, duckdb and polars with no options beyond hive partitioning."""

from __future__ import annotations

import pytest

from conftest import TINY
from stdp_ray import rundir
from stdp_ray.options import RunOptions
from stdp_ray.rundir import layout, manifests, parts, records, schemas, temporaries


@pytest.mark.parametrize("module", [layout, parts, schemas, records, manifests, temporaries])
def test_the_package_presents_every_public_name_of_its_modules(module):
    for name in module.__all__:
        assert getattr(rundir, name) is getattr(module, name), name
    assert set(module.__all__) <= set(rundir.__all__)


@pytest.fixture(scope="module")
def written_ensemble(ray_local, mnist_dir, tmp_path_factory):
    """An ensemble of two tiny members (seeds 1, 2): 3 training, 20 observe, 10 test samples."""
    from stdp_ray import ensembles

    root = tmp_path_factory.mktemp("readers") / "ens"
    ensembles.run_ensemble(root, TINY.replace(backend="native"), [1, 2],
                           RunOptions(samples=3, observe_samples=20, test_samples=10,
                                      chunk_size=5, data_dir=mnist_dir, progress=False))
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
