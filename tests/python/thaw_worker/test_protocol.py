"""Version negotiation, the ready descriptor's line and the timeline's format."""
import os

import pytest

from thaw_worker import protocol
from thaw_worker.timeline import Timeline


@pytest.mark.parametrize("announced, version", [(None, 1), ("1", 1), ("1,999", 1), ("0,1", 1)])
def test_a_shared_version_is_spoken(announced, version):
    assert protocol.negotiate(announced) == version


@pytest.mark.parametrize("announced", ["2", "2,3", "one", "", "1;2", "-1"])
def test_no_shared_version_is_refused_naming_both(announced):
    with pytest.raises(protocol.ProtocolError) as e:
        protocol.negotiate(announced)
    assert "1" in str(e.value) and repr(announced)[1:-1] in str(e.value)


def test_the_ready_descriptor_carries_one_line_then_closes():
    r, w = os.pipe()
    fd = protocol.ReadyFd(w)
    fd.error("load: bad\nthing")
    fd.ready(1, "x")  # after the first line: nothing
    assert os.read(r, 100) == b"error load: bad thing\n"
    assert os.read(r, 100) == b""


def test_the_timeline_counts_each_phase_from_the_previous_one():
    now = iter([2_000_000, 5_000_000, 9_000_000]).__next__
    t = Timeline("1000000", clock=now)
    t.mark("interpreter")
    t.mark("imports")
    t.mark("ready")
    assert t.to_json() == {"exec_to_interpreter_ms": 1.0, "imports_ms": 3.0, "ready_ms": 4.0,
                           "exec_to_ready_ms": 8.0, "exec_time_source": "env"}
