"""The quick tier (``pytest --quick``): the tests not marked ``slow``, and proof that they
still run code of every module of :mod:`stdp_ray`.

With ``--quick`` the tests marked ``slow`` are deselected and, from the start of
the session, Python's ``sys.monitoring`` (3.12 and later) records each function
of the package that runs in the test process. At the end a module none of
whose functions ran (its import alone does not count; a module that defines
no function counts once imported) fails the run, named. On Python 3.11 the
check is skipped with a note.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import stdp_ray

PACKAGE = Path(stdp_ray.__file__).resolve().parent
_TOOL_NAME = "stdp_ray quick tier"
_ran: set[str] = set()
_state: dict = {"tool": None}


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true",
                     help="the quick tier: deselect the tests marked slow and fail unless "
                          "code of every module of stdp_ray ran")


def pytest_configure(config):
    if not config.getoption("--quick") or not hasattr(sys, "monitoring"):
        return
    mon = sys.monitoring
    prefix = str(PACKAGE) + "/"
    tool = next((t for t in range(5, 0, -1) if mon.get_tool(t) is None), None)
    if tool is None:
        return

    def started(code, offset):
        if code.co_filename.startswith(prefix) and code.co_name != "<module>":
            _ran.add(code.co_filename)
        return mon.DISABLE

    mon.use_tool_id(tool, _TOOL_NAME)
    mon.register_callback(tool, mon.events.PY_START, started)
    mon.set_events(tool, mon.events.PY_START)
    _state["tool"] = tool


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--quick"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


def untouched_modules() -> list[str]:
    """The package's modules (relative paths) none of whose functions ran.

    A module that defines no function counts once imported.
    """
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path)
        if name in _ran:
            continue
        module = ".".join(("stdp_ray", *path.relative_to(PACKAGE).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        text = path.read_text()
        has_functions = "\ndef " in text or "\n    def " in text or text.startswith("def ")
        if not has_functions and module in sys.modules:
            continue
        out.append(str(path.relative_to(PACKAGE.parent)))
    return out


def _whole_suite(config) -> bool:
    """Whether the run was of the whole test directory (the check applies only then)."""
    tests = Path(__file__).resolve().parent
    return all(Path(arg.split("::")[0]).resolve() == tests for arg in config.args)


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if not config.getoption("--quick"):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if _state["tool"] is None:
        if reporter is not None:
            reporter.write_line("quick tier: the module check needs Python 3.12 "
                                "(sys.monitoring); not checked")
        return
    sys.monitoring.set_events(_state["tool"], 0)
    sys.monitoring.free_tool_id(_state["tool"])
    _state["tool"] = None
    if config.option.collectonly or not _whole_suite(config):
        return
    missing = untouched_modules()
    total = len(list(PACKAGE.rglob("*.py")))
    if reporter is not None:
        reporter.write_line(f"quick tier: code of {total - len(missing)} of {total} modules "
                            "of stdp_ray ran")
    if missing:
        if reporter is not None:
            reporter.write_line("quick tier: no function ran in " + ", ".join(missing),
                                red=True)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
