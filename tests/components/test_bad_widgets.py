"""Bad values typed into the explorer's widgets, as a browser sends them (Hypothesis).

The config refuses each with a message naming the parameter, the widget shows the value
that holds again, and the explorer goes on rendering (on the session's LocalCluster).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.fractal.controls import FractalControls
from compute.fractal import FractalConfig

pytestmark = [pytest.mark.cluster]

CHECKED = settings(max_examples=40)  # (the profile: tests/conftest.py)


@pytest.fixture(scope="module")
def controls():
    """Controls on their own config: no cluster is needed to refuse a value."""
    return FractalControls(config=FractalConfig(width=256, height=256, max_iter=100))


# What a number box of the browser can send: a number, or nothing (emptied).
typed = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(),
)


@CHECKED
# What an integer box can hold (Panel's widget refuses floats and text itself).
@given(box=st.sampled_from(["width", "height"]), value=st.none() | st.booleans() | st.integers())
def test_a_size_box_refuses_what_the_config_refuses_with_a_message(controls, box, value):
    config = controls.config
    before = config.to_dict()
    widget = getattr(controls, f"_{box}")
    try:
        FractalConfig(**{box: value})
        valid = True
    except ValueError:
        valid = False
    # As the browser sends it (Bokeh's change of the input's value).
    widget._process_events({"value": value})
    if valid:
        assert getattr(config, box) == value
        assert controls.refused == ""
        config.param.update(**{box: before[box]})
        return
    assert config.to_dict() == before
    assert box in controls.refused
    assert widget.value == before[box]  # the box shows what holds again


@CHECKED
@given(slider=st.sampled_from(["c_real", "c_imag", "max_iter"]), value=typed)
def test_a_slider_box_never_writes_a_bad_value(controls, slider, value):
    config = controls.config
    before = config.to_dict()
    edit = getattr(controls, f"_{slider}")._value_edit
    # Panel's own slider may refuse it first (its bounds are the config's): that is a
    # ValueError with a message too, and leaves the config as it was.
    refused = None
    try:
        edit._process_events({"value": value})
    except ValueError as exc:
        refused = str(exc)
    assert refused is None or "value" in refused
    assert config.to_dict() == before
    if slider not in controls.live:
        return
    live = controls.live.pop(slider)
    controls.live = {}
    # What a drag holds goes to the explorer as a preview: a bad one is refused there.
    lo, hi = FractalConfig.param[slider].bounds
    number = int if slider == "max_iter" else (int, float)
    valid = isinstance(live, number) and not isinstance(live, bool)
    valid = valid and math.isfinite(live) and lo <= live <= hi
    if valid:
        assert getattr(config.copy(**{slider: live}), slider) == live
    else:
        with pytest.raises(ValueError, match=slider):
            config.copy(**{slider: live})


@pytest.mark.asyncio
async def test_bad_widget_values_are_refused_and_the_explorer_renders_after(explorers, eventually):
    config = FractalConfig(width=128, height=128, max_iter=60)
    explorer = explorers(config)  # the fixture's engine has no store
    first = await explorer.render()
    await eventually(lambda: first.done, "the first frame")
    explorer.controls._width._process_events({"value": None})  # an emptied box
    assert "width" in explorer.controls.refused
    explorer.controls._max_iter._value_edit._process_events({"value": None})
    await eventually(lambda: "max_iter" in explorer.controls.refused, "the refusal of the drag")
    assert config.to_dict() == FractalConfig(width=128, height=128, max_iter=60).to_dict()
    # A good value after the bad ones: rendered, and the messages go.
    explorer.controls._width._process_events({"value": 144})
    assert explorer.controls.refused == ""
    await eventually(
        lambda: explorer.job is not None and explorer.job.key == config.key, "the new job"
    )
    await eventually(lambda: explorer.job.state in ("done", "cached"), "the new frame")
    assert explorer.job.config.width == 144
