"""The side-by-side benchmark on a tiny network and synthetic data."""

import json

import pytest

from stdp_ray.bench import format_report, run_benchmark

pytestmark = pytest.mark.slow


def test_benchmark_compares_both_paths_and_writes_its_figures(mnist_dir, tmp_path):
    report = run_benchmark(neurons=10, data_dir=mnist_dir, ref_train=1, fast_train=2,
                           ref_eval=3, fast_eval=4, chunk=2, out_dir=tmp_path)
    stored = json.loads((tmp_path / "bench-n10.json").read_text())
    assert stored["neurons"] == 10 and stored["machine"]["cores"] >= 1
    t, e = stored["training"], stored["evaluation"]
    assert t["identical_on_common_samples"] is True
    assert e["identical_responses_on_common_samples"] is True
    assert t["reference"]["samples"] == 1 and t["fast"]["samples"] == 2
    assert e["reference"]["samples"] == 3 and e["fast"]["samples"] == 4
    for section in (t, e):
        for path in ("reference", "fast"):
            assert section[path]["ms_per_sample"] > 0
    text = format_report(report)
    assert "train ms/sample" in text and "eval ms/sample" in text


def test_fast_only_mode(mnist_dir, tmp_path):
    report = run_benchmark(neurons=10, data_dir=mnist_dir, fast_eval=2, chunk=2,
                           out_dir=tmp_path, train=False, reference=False)
    assert "reference" not in report["evaluation"] and "training" not in report
    assert "eval ms/sample" in format_report(report)
