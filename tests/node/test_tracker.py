"""When a series counts as stable."""

from __future__ import annotations

from meddenoise.node.tracker import ArrivalTracker


def test_a_series_waits_for_all_its_associations_and_the_stable_age():
    tracker = ArrivalTracker()
    tracker.arrived("s", association="a", now=0.0)
    tracker.arrived("s", association="b", now=1.0)
    assert tracker.closed("a") == {"s"}
    assert tracker.stable(["s"], 5, now=100.0) == []  # b is still open
    tracker.closed("b")
    assert tracker.stable(["s"], 5, now=5.5) == []  # 4.5 s since the last instance
    assert tracker.stable(["s"], 5, now=6.0) == ["s"]


def test_series_are_independent():
    tracker = ArrivalTracker()
    tracker.arrived("s", association="a", now=0.0)
    tracker.arrived("t", association="b", now=0.0)
    tracker.closed("a")
    assert tracker.stable(["s", "t"], 1, now=10.0) == ["s"]


def test_series_found_on_disk_count_from_start_up():
    tracker = ArrivalTracker()
    assert tracker.stable(["old"], 0) == ["old"]
    assert tracker.stable(["old"], 3600) == []


def test_forget_drops_the_arrival_time():
    tracker = ArrivalTracker()
    tracker.arrived("s", association="a", now=1e12)
    tracker.closed("a")
    assert tracker.stable(["s"], 1) == []  # "arrived" in the far future
    assert tracker.forget("s") == 0.0
    assert tracker.stable(["s"], 0) == ["s"]
    assert tracker.forget("s") is None  # nothing known any more


def test_forget_returns_how_long_a_series_took_to_arrive():
    tracker = ArrivalTracker()
    for now in (10.0, 11.0, 13.5):
        tracker.arrived("s", association="a", now=now)
    assert tracker.forget("s") == 3.5
