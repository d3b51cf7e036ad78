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
