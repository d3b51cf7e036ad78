"""The Python API (``stdp_ray.api``, exported lazily by ``stdp_ray``) and the README's example."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import stdp_ray
from stdp_ray import api
from stdp_ray.config import Config, ConfigError

README = Path(__file__).parent.parent / "README.md"
WORKFLOW = ["train", "observe", "test", "run", "ensemble", "sweep", "load_run", "init_ray"]
OLD_RUN = Path(__file__).parent / "data" / "written-by-12aa4be" / "run"


def test_importing_the_package_imports_neither_ray_nor_brian2():
    code = ("import sys, stdp_ray; assert stdp_ray.load_run and stdp_ray.train; "
            "print(sorted(m for m in ('ray', 'brian2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", WORKFLOW)
def test_the_workflow_is_exported_as_functions_with_numpydoc_docstrings(name):
    # The submodules that once had these names are gone (ensembles, sweeps): importing
    # every submodule leaves the package attributes functions.
    import stdp_ray.ensembles  # noqa: F401
    import stdp_ray.sweeps  # noqa: F401

    value = getattr(stdp_ray, name)
    assert inspect.isfunction(value), value
    assert name in stdp_ray.__all__ and name in dir(stdp_ray)
    doc = inspect.getdoc(value)
    assert "Parameters\n----------" in doc, name
    if name != "init_ray":
        assert "Returns\n-------" in doc, name


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match=r"module 'stdp_ray' has no attribute 'nope'"):
        stdp_ray.nope  # noqa: B018


@pytest.mark.parametrize("config, settings, expected", [
    (None, {}, {}),
    ({"n_neurons": 20}, {}, {"n_neurons": 20}),
    (Config(n_neurons=30), {"nu_post": 0.02}, {"n_neurons": 30, "nu_post": 0.02}),
    ({"n_neurons": 20}, {"n_neurons": 40}, {"n_neurons": 40}),
])
def test_a_configuration_is_a_config_a_mapping_a_file_or_the_defaults(config, settings,
                                                                      expected):
    cfg = api.make_config(config, **settings)
    assert cfg == Config().replace(**expected)


def test_a_configuration_file_is_read_as_with_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("n_neurons = 25\nnu_post = 0.02\n")
    assert api.make_config(path, n_neurons=26) == Config(n_neurons=26, nu_post=0.02)


@pytest.mark.parametrize("config, settings, exc, match", [
    ({"n_neurons": 0}, {}, ConfigError, r"config: .*n_neurons"),
    (None, {"nu_post": -1.0}, ConfigError, r"settings: nu_post == -1.0, must be >= 0"),
    ({"no_such_field": 1}, {}, ConfigError, r"no_such_field"),
    (42, {}, TypeError, r"config == 42, must be a Config"),
])
def test_a_bad_configuration_is_refused_naming_the_field(config, settings, exc, match):
    with pytest.raises(exc, match=match):
        api.make_config(config, **settings)


def test_a_bad_configuration_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match=r"n_neurons"):
        stdp_ray.train(tmp_path / "r", {"n_neurons": -1}, samples=2)
    assert not (tmp_path / "r").exists()


def test_load_run_reads_an_old_run_directory_with_every_table():
    run = stdp_ray.load_run(OLD_RUN)
    assert (run.config.n_neurons, run.seed, run.metrics.accuracy) == (10, 3, 0.6)
    assert run.network.arrays.weights.shape == (784, 10)
    assert run.network.assignments.tolist() == run.assignments["assigned_class"].tolist()
    assert run.responses("test")["sample"].tolist() == list(range(20))
    assert len(run.responses("observe")) == 40
    assert run.train_stats["sample"].tolist() == [0, 1, 2, 3]
    assert run.predictions["correct"].mean() == run.metrics.accuracy
    assert run.curve is None  # no learning curve in this run


def test_load_run_gives_none_for_what_a_fresh_run_lacks(tmp_path):
    from stdp_ray import rundir
    from stdp_ray.rundir import RunRecord

    rundir.write_run_record(tmp_path, RunRecord(Config(n_neurons=10), 5))
    run = stdp_ray.load_run(tmp_path)
    assert (run.network, run.metrics, run.assignments, run.predictions, run.train_stats,
            run.curve, run.responses("test")) == (None,) * 7
    with pytest.raises(ValueError, match=r"phase == 'train', must be one of"):
        run.responses("train")


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing", r"missing: not a run directory \(no such directory\)"),
    (lambda p: p, r"not a run directory \(no config.json\)"),
    (lambda p: (p / "ensemble.json").write_text("{}") and p,
     r"is an ensemble, not a run directory; load one of its runs: \(none yet\)"),
])
def test_load_run_refuses_what_is_no_run_directory(tmp_path, make, match):
    with pytest.raises(ValueError, match=match):
        stdp_ray.load_run(make(tmp_path))


def readme_example() -> str:
    """The README's Python example: the code block after ``<!-- api-example -->``."""
    text = README.read_text()
    m = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has no <!-- api-example --> python block"
    return m.group(1)


@pytest.mark.slow
def test_the_readme_example_runs(ray_local, mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STDP_RAY_DATA", str(mnist_dir))  # the synthetic MNIST
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)
    run = namespace["run"]
    assert run.metrics.n_samples == 30 and 0 <= run.metrics.accuracy <= 1
    assert len(run.predictions) == 30 and len(run.train_stats) == 20
    assert (tmp_path / "runs" / "demo" / "assignments.parquet").is_file()


def test_no_api_name_shadows_a_submodule():
    """``stdp_ray.<name>`` is the API function, never a module of the same name."""
    import pkgutil

    import stdp_ray
    from stdp_ray import api

    modules = {m.name for m in pkgutil.iter_modules(stdp_ray.__path__)}
    assert not modules & set(api.__all__)
    for name in api.__all__:
        assert getattr(stdp_ray, name) is getattr(api, name)
