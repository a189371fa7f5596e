"""JobRecord: the one schema of a job's record, to JSON and back, whatever its kind."""

from __future__ import annotations

import dataclasses
import json

import pytest

from compute.engine import JobRecord
from compute.engine.records import ENDED, RECORD_STATES

FIELDS = [
    "key",
    "kind",
    "summary",
    "state",
    "submitted_at",
    "duration",
    "parts_total",
    "parts_done",
    "error",
    "config",
    "detached",
    "owner",
    "updated_at",
]


#: What a kind of work describes itself as (its to_dict): opaque JSON values to a record.
REQUEST = {"shape": "spiral", "x_range": [-1.5, 1.25], "steps": 321}


def frame_record(config: dict | None = None, **changes) -> JobRecord:
    config = config or REQUEST
    values = {
        "key": "spiral-0123abcd",
        "kind": "frame",
        "summary": "a spiral, 321 steps",
        "state": "done",
        "submitted_at": 1_790_000_000.25,
        "duration": 0.4125,
        "parts_total": 16,
        "parts_done": 16,
        "error": None,
        "config": config,
        "detached": False,
        "updated_at": 1_790_000_001.5,
    }
    return JobRecord(**{**values, **changes})


def through_json(record: JobRecord) -> JobRecord:
    return JobRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def test_to_dict_has_every_field_as_json_values():
    record = frame_record()
    values = record.to_dict()
    assert list(values) == FIELDS == [f.name for f in dataclasses.fields(JobRecord)]
    assert json.loads(json.dumps(values)) == values
    assert values["config"]["x_range"] == [-1.5, 1.25]  # JSON has no tuples


@pytest.mark.parametrize(
    "record",
    [
        frame_record(),
        frame_record(state="running", duration=None, parts_done=3, detached=True),
        frame_record(state="failed", error="ValueError: max_iter must be at least 1"),
        JobRecord(key="call-0123abcd", kind="call", summary="slow(3)", state="cached"),
        JobRecord(key="graph-0123abcd", kind="graph", state="interrupted", error="stopped"),
    ],
    ids=["done", "running", "failed", "call", "graph"],
)
def test_a_record_survives_json_unchanged(record):
    again = through_json(record)
    assert again == record
    assert again.to_dict() == record.to_dict()


def test_a_legacy_record_with_tiles_reads_back():
    legacy = {  # as the history wrote frames before there were other kinds of job
        "key": "julia-0123",
        "summary": "julia",
        "config": REQUEST,
        "state": "cancelled",
        "cached": False,
        "submitted_at": 1_700_000_000.0,
        "duration": 1.5,
        "tiles_total": 16,
        "tiles_done": 12,
        "error": None,
    }
    record = JobRecord.from_dict(json.loads(json.dumps(legacy)))
    assert record.kind == "frame"
    assert (record.parts_total, record.parts_done) == (16, 12)
    assert (record.state, record.cached, record.ended) == ("cancelled", False, True)
    assert (record.submitted_at, record.duration, record.error) == (1_700_000_000.0, 1.5, None)
    assert record.detached is False
    assert record.config == REQUEST
    # Written again, it is in today's schema.
    assert set(record.to_dict()) == set(FIELDS)
    assert through_json(record) == record


def test_the_new_names_win_over_legacy_ones_and_unknown_fields_are_dropped():
    record = JobRecord.from_dict(
        {"key": "k", "parts_total": 4, "parts_done": 2, "tiles_total": 9, "writer": "p"}
    )
    assert (record.parts_total, record.parts_done) == (4, 2)
    assert not hasattr(record, "writer")


NOT_A_RECORD = "not a job record"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (["not", "a", "record"], NOT_A_RECORD),
        (None, NOT_A_RECORD),
        ("a string", NOT_A_RECORD),
        (42, NOT_A_RECORD),
        ({}, NOT_A_RECORD),
        ({"summary": "no key", "state": "done"}, NOT_A_RECORD),
        ({"key": 7}, NOT_A_RECORD),
        ({"key": "k", "kind": "Not A Kind"}, "not a kind of work: 'Not A Kind'"),
        ({"key": "k", "kind": 7}, "not a kind of work: 7"),
        ({"key": "k", "state": "exploded"}, "unknown state 'exploded'"),
        ({"key": "k", "submitted_at": "yesterday"}, "submitted_at is not a time"),
        ({"key": "k", "config": [1, 2]}, "config is not a mapping"),
        ({"key": "k", "submitted_at": float("nan")}, "submitted_at is not a time: nan"),
        ({"key": "k", "submitted_at": 1e20}, "submitted_at is not a time"),
        ({"key": "k", "submitted_at": True}, "submitted_at is not a time"),
        ({"key": "k", "updated_at": float("inf")}, "updated_at is not a time"),
        ({"key": "k", "updated_at": -1.0}, "updated_at is not a time"),
        ({"key": "k", "duration": "abc"}, "duration is not a duration: 'abc'"),
        ({"key": "k", "duration": float("nan")}, "duration is not a duration"),
        ({"key": "k", "duration": 1e20}, "duration is not a duration"),
        ({"key": "k", "duration": 10**5000}, "duration is not a duration"),
        ({"key": "k", "parts_total": "16"}, "parts_total is not a count"),
        ({"key": "k", "parts_total": 16.0}, "parts_total is not a count"),
        ({"key": "k", "parts_done": -1}, "parts_done is not a count"),
        ({"key": "k", "parts_done": True}, "parts_done is not a count"),
        ({"key": "k", "tiles_total": 10**12}, "parts_total is not a count"),
        ({"key": "k", "summary": None}, "summary is not a string"),
        ({"key": "k", "error": 3}, "error is not a string"),
        ({"key": "k", "owner": ["alice"]}, "owner is not a string"),
        ({"key": "k", "detached": "yes"}, "detached is not a boolean"),
        ({"key": "k", "state": "x" * 10**6}, r"unknown state 'x+\.\.\.x+'$"),
    ],
    ids=[
        "list",
        "none",
        "string",
        "number",
        "empty",
        "no-key",
        "key-not-str",
        "bad-kind",
        "kind-not-str",
        "bad-state",
        "bad-time",
        "bad-config",
        "time-nan",
        "time-huge",
        "time-bool",
        "updated-infinite",
        "updated-negative",
        "duration-string",
        "duration-nan",
        "duration-huge",
        "duration-huge-int",
        "count-string",
        "count-float",
        "count-negative",
        "count-bool",
        "legacy-count-huge",
        "summary-none",
        "error-not-str",
        "owner-not-str",
        "detached-not-bool",
        "state-long",
    ],
)
def test_from_dict_refuses_what_is_not_a_record(data, why):
    with pytest.raises(ValueError, match=why):
        JobRecord.from_dict(data)


def test_numbers_in_range_read_back_whatever_their_json_type():
    # An int where a float is expected is a number all the same (a writer's round time);
    # a small negative duration is a wall clock stepped back while the job ran.
    record = JobRecord.from_dict(
        {"key": "k", "submitted_at": 1_700_000_000, "updated_at": 0, "duration": -0.25}
    )
    assert (record.submitted_at, record.updated_at, record.duration) == (1_700_000_000, 0, -0.25)


def test_replace_copies_and_a_record_is_frozen():
    record = frame_record(state="running", duration=None, parts_done=3)
    done = record.replace(state="done", duration=2.0, parts_done=16)
    assert (done.state, done.duration, done.parts_done) == ("done", 2.0, 16)
    assert (record.state, record.duration, record.parts_done) == ("running", None, 3)
    assert (done.key, done.config) == (record.key, record.config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.state = "done"


def test_a_record_of_a_kind_this_server_does_not_know_reads_back():
    # Written by a server that knew more kinds: listed as it is, not dropped or refused.
    record = through_json(JobRecord(key="k", kind="painting", config={"brush": 3}))
    assert (record.kind, record.config) == ("painting", {"brush": 3})


def test_ended_and_cached_follow_the_state():
    ended = {s for s in RECORD_STATES if JobRecord(key="k", state=s).ended}
    assert ended == set(ENDED) == {"done", "cancelled", "failed", "cached", "interrupted"}
    assert [s for s in RECORD_STATES if JobRecord(key="k", state=s).cached] == ["cached"]
