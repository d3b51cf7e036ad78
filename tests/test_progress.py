"""Progress: log lines at every tenth when stderr is not a terminal, nothing when disabled."""

import io
import logging

import pytest

from stdp_ray.progress import progress


@pytest.mark.parametrize("total,steps,lines", [(100, [1] * 100, 10), (1000, [250] * 4, 4),
                                               (7, [7], 1), (0, [], 0)])
def test_a_stream_that_is_not_a_terminal_gets_a_log_line_per_tenth(caplog, total, steps, lines):
    caplog.set_level(logging.INFO, logger="stdp_ray.progress")
    stream = io.StringIO()
    with progress(total, "train", stream=stream) as bar:
        for n in steps:
            bar.update(n)
    records = [r.getMessage() for r in caplog.records if r.name == "stdp_ray.progress"]
    assert len(records) == lines
    assert stream.getvalue() == ""  # no carriage returns anywhere
    if lines:
        assert records[-1].startswith(f"train: {total}/{total} samples (100%")


def test_disabled_progress_shows_nothing(caplog):
    caplog.set_level(logging.INFO)
    with progress(10, "test", enabled=False, stream=io.StringIO()) as bar:
        bar.update(10)
    assert not [r for r in caplog.records if r.name == "stdp_ray.progress"]


# --------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------
@pytest.fixture
def notebook(monkeypatch):
    """This process looks like a Jupyter kernel (an IPython shell with a kernel)."""
    import sys
    import types

    class ZMQInteractiveShell:
        kernel = object()

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))


def test_in_a_notebook_kernel_progress_is_a_tqdm_auto_bar(notebook, caplog):
    from tqdm.auto import tqdm

    from stdp_ray.progress import in_notebook

    assert in_notebook()
    with progress(10, "train", stream=io.StringIO()) as bar:
        assert isinstance(bar, tqdm)
        bar.update(10)
    assert not [r for r in caplog.records if r.name == "stdp_ray.progress"]


def test_outside_a_kernel_no_notebook_is_seen():
    from stdp_ray.progress import in_notebook

    assert not in_notebook()


@pytest.fixture
def unconfigured(monkeypatch):
    """The package's logger, restored after the test; empty the root logger's handlers in
    the test's body (pytest adds its own handlers to the root logger after fixtures ran)."""
    from stdp_ray import progress as progress_module

    monkeypatch.setattr(progress_module, "_HANDLER", None)
    package = logging.getLogger("stdp_ray")
    before = (list(package.handlers), package.level)
    yield package
    package.handlers[:] = before[0]
    package.setLevel(before[1])


def test_the_api_shows_info_lines_where_no_logging_is_configured(unconfigured, tmp_path,
                                                                 capsys, monkeypatch):
    import stdp_ray
    from test_loading import make_tested_run

    run = make_tested_run(tmp_path / "run")
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # a fresh notebook's
    stdp_ray.write_report(run)
    err = capsys.readouterr().err
    assert "INFO stdp_ray.report.run: " in err and "skipped training_curves.png" in err
    assert len(unconfigured.handlers) == 1


@pytest.mark.parametrize("configured", ["root", "package"])
def test_configured_logging_is_left_as_it_is(unconfigured, configured, monkeypatch):
    from stdp_ray.progress import configure_logging

    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    handler = logging.NullHandler()
    (logging.getLogger() if configured == "root" else unconfigured).addHandler(handler)
    assert configure_logging() is None
    assert unconfigured.handlers == ([handler] if configured == "package" else [])
