"""The side-by-side benchmark and the identity check on a tiny network and synthetic data."""

import json

import pytest

from stdp_ray.bench import format_report, run_benchmark, verify_identity
from stdp_ray.cli import build_parser


@pytest.mark.slow
def test_benchmark_runs_every_engine_on_the_same_samples_and_writes_its_figures(
        mnist_dir, tmp_path):
    report = run_benchmark(neurons=[10], data_dir=mnist_dir,
                           train={"native": 3, "fast": 3, "standalone": 1, "runtime": 1},
                           evaluate={"native": 4, "fast": 4, "standalone": 3, "runtime": 2},
                           threads=[1, 2], chunk=2, out_dir=tmp_path, name="b")
    stored = json.loads((tmp_path / "b.json").read_text())
    assert stored["machine"]["cores"] >= 1 and stored["engines"] == ["native", "fast",
                                                                     "standalone", "runtime"]
    size = stored["sizes"][0]
    assert size["neurons"] == 10
    assert size["training_identical"] is True and size["training_common_samples"] == 2
    assert size["evaluation_identical"] is True and size["evaluation_common_samples"] == 2
    assert set(size["training"]) == {"native", "native-2threads", "fast", "fast-2threads",
                                     "standalone", "runtime"}
    assert size["training"]["native"]["samples"] == 3
    assert size["evaluation"]["standalone"]["samples"] == 3
    for section in (*size["training"].values(), *size["evaluation"].values()):
        assert section["ms_per_sample"] > 0
    agree = size["evaluation_fast_vs_exact"]
    assert agree["images"] == 2 and 0 <= agree["identical_responses"] <= 1
    assert size["training_fast_vs_exact"]["samples"] == 2
    table = (tmp_path / "b.md").read_text()
    assert table == format_report(report) + "\n"
    assert "| 10 | native | 2 |" in table and "| 10 | fast | 2 |" in table
    assert "native / train time" in table and "Fast vs exact on those 2 images" in table


@pytest.mark.slow
def test_benchmark_times_evaluation_at_each_batch_size(mnist_dir, tmp_path):
    report = run_benchmark(neurons=[10], data_dir=mnist_dir, engine_names=["native", "fast"],
                           train={"native": 0, "fast": 0}, evaluate={"native": 3, "fast": 3},
                           batches=[1, 3], out_dir=tmp_path)
    evaluation = report["sizes"][0]["evaluation"]
    assert set(evaluation) == {"native-batch1", "native-batch3", "fast-batch1", "fast-batch3"}
    assert [evaluation[k]["batch"] for k in ("fast-batch1", "fast-batch3")] == [1, 3]
    assert report["sizes"][0]["evaluation_identical"] is True
    assert "| 10 | fast | - | - | - | 3 |" in format_report(report)


@pytest.mark.slow
def test_benchmark_can_skip_engines_and_training(mnist_dir, tmp_path):
    report = run_benchmark(neurons=[10], data_dir=mnist_dir, engine_names=["native"],
                           train={"native": 0}, evaluate={"native": 2}, chunk=2,
                           out_dir=tmp_path)
    size = report["sizes"][0]
    assert size["training"] == {} and list(size["evaluation"]) == ["native"]
    assert (tmp_path / "bench-n10.json").exists()


def test_benchmark_rejects_unknown_engines(mnist_dir, tmp_path):
    with pytest.raises(ValueError, match=r"engines \['brian3'\] unknown"):
        run_benchmark(neurons=[10], data_dir=mnist_dir, engine_names=["brian3"],
                      out_dir=tmp_path)


@pytest.mark.slow
def test_identity_check_compares_native_with_standalone(mnist_dir, tmp_path, tiny_cfg,
                                                        tiny_network):
    from stdp_ray.artifact import save_network

    save_network(tmp_path / "net", tiny_cfg, tiny_network)
    result = verify_identity(network_dir=tmp_path / "net", data_dir=mnist_dir, eval_images=4,
                             train_samples=3, neurons=10, chunk=2, out_dir=tmp_path)
    assert result["evaluation"]["identical"] and result["training"]["identical"]
    assert json.loads((tmp_path / "identity-n10.json").read_text())["training"]["samples"] == 3


@pytest.mark.parametrize("option, value, message", [
    ("--train", "native=x", "'native=x': 'x' is not an integer"),
    ("--train", "brian=3", "must be ENGINE=COUNT"),
    ("--engines", "native,brian", "engine 'brian' unknown"),
    ("--neurons", "400,0", "0, must be >= 1"),
])
def test_bench_options_are_checked(option, value, message, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", option, value])
    assert message in capsys.readouterr().err
