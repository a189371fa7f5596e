"""A history record restores its request through the engine's kinds: a frame's config, a
movie's spec; a call, a graph or a kind the server does not know restores nothing."""

from __future__ import annotations

import json

import pytest

from compute.engine import JobRecord
from compute.engine.calls import with_builtins
from compute.fractal import KINDS, FractalConfig, FrameWork, MovieSpec

KNOWN = with_builtins(*KINDS)


def parameters(config: FractalConfig) -> dict:
    """A config's values, to compare two configs (param objects compare by identity)."""
    return {k: v for k, v in config.param.values().items() if k != "name"}


def view() -> FractalConfig:
    return FractalConfig(
        fractal="julia",
        c_real=-0.8,
        c_imag=0.156,
        max_iter=321,
        # 2.75 x 1.25 in the plane: square pixels, so the old ranges read back as given.
        width=880,
        height=400,
        x_range=(-1.5, 1.25),
        y_range=(-0.75, 0.5),
        colormap="kbc",
        normalization="log",
    )


def frame_record(config: FractalConfig | None = None, **changes) -> JobRecord:
    config = config or view()
    values = {"key": config.key, "kind": "frame", "state": "done", "config": config.to_dict()}
    return JobRecord(**{**values, **changes})


def through_json(record: JobRecord) -> JobRecord:
    return JobRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def test_restore_of_a_frame_record_is_the_original_config():
    config = view()
    work = KNOWN.restore(through_json(frame_record(config)))
    assert isinstance(work, FrameWork)
    restored = work.config
    assert parameters(restored) == parameters(config)
    assert isinstance(restored.x_range, tuple)
    assert isinstance(restored.y_range, tuple)
    assert (restored.x_range, restored.y_range) == ((-1.5, 1.25), (-0.75, 0.5))
    assert (restored.center_real, restored.center_imag, restored.span) == (
        "-0.125",
        "-0.125",
        "2.75",
    )
    assert restored.key == config.key == work.key


def test_a_record_of_the_old_view_restores_the_same_frame():
    # Written before the view was a centre and a span: x_range and y_range as lists.
    config = view()
    old = {
        k: v
        for k, v in config.to_dict().items()
        if k not in ("center_real", "center_imag", "span")
    }
    old.update(x_range=[-1.5, 1.25], y_range=[-0.75, 0.5])
    work = KNOWN.restore(through_json(frame_record().replace(config=old)))
    assert parameters(work.config) == parameters(config)
    assert work.key == config.key


def test_restore_of_a_movie_record_is_the_original_spec():
    start = FractalConfig(max_iter=50, width=32, height=32)
    spec = MovieSpec(start=start, end=start.copy(x_range=(-0.2, 0.2), y_range=(-0.2, 0.2)))
    record = JobRecord(key=spec.key, kind="movie", config=spec.to_dict())
    work = KNOWN.restore(through_json(record))
    assert isinstance(work, MovieSpec)
    assert work.key == spec.key


def test_a_legacy_frame_record_restores_its_view():
    config = view()
    legacy = {  # as the history wrote frames before there were other kinds of job
        "key": config.key,
        "config": config.to_dict(),
        "state": "cancelled",
        "tiles_total": 16,
        "tiles_done": 12,
    }
    record = JobRecord.from_dict(json.loads(json.dumps(legacy)))
    assert parameters(KNOWN.restore(record).config) == parameters(config)


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (JobRecord(key="call-0123abcd", kind="call", state="done"), "no request to restore"),
        (
            JobRecord(key="call-0123abcd", kind="call", config={"fractal": "julia"}),
            "cannot be restored from a description",
        ),
        (JobRecord(key="graph-0123abcd", kind="graph"), "no request to restore"),
        (JobRecord(key="frame-0123abcd", kind="frame", config=None), "no request to restore"),
        (JobRecord(key="p-1", kind="painting", config={}), "of a kind this server does not know"),
    ],
    ids=["call", "call-with-config", "graph", "frame-without-config", "unknown-kind"],
)
def test_restore_refuses_a_record_with_nothing_to_restore(record, why):
    with pytest.raises(ValueError, match=why):
        KNOWN.restore(record)


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({**view().to_dict(), "max_iter": 0}, "max_iter' must be at least 1"),
        ({**view().to_dict(), "zoom": 2}, "Unknown parameter"),
        ({"name": "x"}, "Unknown parameter"),
    ],
    ids=["out-of-bounds", "unknown-parameter", "name"],
)
def test_restore_refuses_values_no_longer_valid(config, why):
    with pytest.raises(ValueError, match=why):
        KNOWN.restore(frame_record().replace(config=config))


def test_fractal_config_to_dict_and_from_dict_are_inverse():
    config = view()
    values = config.to_dict()
    assert "name" not in values
    assert values == json.loads(json.dumps(values))
    again = FractalConfig.from_dict(json.loads(json.dumps(values)))
    assert parameters(again) == parameters(config)
    assert again.key == config.key
    # A subset: the rest are the defaults.
    assert parameters(FractalConfig.from_dict({"max_iter": 99})) == parameters(
        FractalConfig(max_iter=99)
    )
    with pytest.raises(ValueError, match="A config is a mapping"):
        FractalConfig.from_dict([("max_iter", 99)])
