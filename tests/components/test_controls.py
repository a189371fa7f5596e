"""FractalControls: widgets built from the config's parameters, linked both ways."""

from __future__ import annotations

import panel as pn
import param
from bokeh.events import ButtonClick

from components import FractalControls
from compute.fractal import FractalConfig


def release(slider, value) -> None:
    """What the browser sends when a slider's handle is released: value and value_throttled."""
    with param.edit_constant(slider):
        slider.param.update(value=value, value_throttled=value)


def viewport_text(controls: FractalControls) -> str:
    # The one plain Markdown pane (an Alert is a Markdown too).
    (markdown,) = controls.__panel__().select(lambda pane: type(pane) is pn.pane.Markdown)
    return markdown.object


def test_controls_edit_the_config_they_are_given():
    config = FractalConfig(max_iter=300)
    controls = FractalControls(config=config)
    assert controls.config is config
    assert controls._max_iter.value == 300


def test_plain_widgets_write_the_config():
    controls = FractalControls()
    config = controls.config
    controls._fractal.value = "mandelbrot"
    controls._width.value = 512
    controls._height.value = 320
    controls._colormap.value = "kbc"
    controls._normalization.value = "log"
    assert (config.fractal, config.width, config.height) == ("mandelbrot", 512, 320)
    assert (config.colormap, config.normalization) == ("kbc", "log")


def test_sliders_write_the_config_when_released_not_while_dragged():
    controls = FractalControls()
    config = controls.config
    controls._c_real.value = 0.1  # dragging
    controls._max_iter.value = 77
    assert (config.c_real, config.max_iter) == (-0.8, 500)
    release(controls._c_real, 0.25)
    release(controls._c_imag, -0.5)
    release(controls._max_iter, 77)
    assert (config.c_real, config.c_imag, config.max_iter) == (0.25, -0.5, 77)


def test_dragged_values_are_live_until_released():
    controls = FractalControls()
    config = controls.config
    assert controls.live == {}
    controls._c_real.value = 0.1  # the handle moves: a value, not yet a release
    controls._c_real.value = 0.12
    controls._max_iter.value = 600
    assert controls.live == {"c_real": 0.12, "max_iter": 600}
    assert (config.c_real, config.max_iter) == (-0.8, 500)
    release(controls._c_real, 0.12)
    assert controls.live == {"max_iter": 600}  # released: the config holds it now
    controls._max_iter.value = 500  # dragged back to where the config is: nothing live
    assert controls.live == {}


def test_config_changes_reach_the_widgets():
    controls = FractalControls()
    controls.config.param.update(
        fractal="mandelbrot",
        c_real=0.3,
        c_imag=-0.2,
        max_iter=1234,
        width=640,
        height=480,
        colormap="viridis",
        normalization="linear",
    )
    assert controls._fractal.value == "mandelbrot"
    assert (controls._c_real.value, controls._c_imag.value) == (0.3, -0.2)
    assert controls._max_iter.value == 1234
    assert (controls._width.value, controls._height.value) == (640, 480)
    assert (controls._colormap.value, controls._normalization.value) == ("viridis", "linear")


def test_widgets_carry_the_parameters_bounds_and_options():
    controls = FractalControls()
    assert list(controls._fractal.options) == ["julia", "mandelbrot"]
    assert controls._colormap.value == "fire"
    assert "kbc" in list(controls._colormap.options)
    assert (controls._c_real.fixed_start, controls._c_real.fixed_end) == (-2.0, 2.0)
    assert (controls._max_iter.fixed_start, controls._max_iter.fixed_end) == (1, 1_000_000)


def test_c_widgets_are_hidden_for_mandelbrot():
    controls = FractalControls(config=FractalConfig(fractal="julia"))
    assert controls._c_real.visible is True
    assert controls._c_imag.visible is True
    controls.config.fractal = "mandelbrot"
    assert controls._c_real.visible is False
    assert controls._c_imag.visible is False
    controls._fractal.value = "julia"
    assert controls._c_real.visible is True
    assert controls._c_imag.visible is True
    assert FractalControls(config=FractalConfig(fractal="mandelbrot"))._c_real.visible is False


def test_viewport_text_follows_the_ranges():
    controls = FractalControls()
    assert viewport_text(controls).startswith("**Viewport** zoom 1 at 0+0i.")
    controls.config.param.update(center_real="-0.2", center_imag="0.375", span="1.6")
    assert viewport_text(controls).startswith("**Viewport** zoom 2 at -0.2+0.375i.")
    controls.config.param.update(center_real="-0.75", span="3.2e-85")
    assert viewport_text(controls).startswith("**Viewport** zoom 1.0e+85 at -0.75+0.375i.")


def test_reset_button_fires_the_reset_event():
    controls = FractalControls()
    fired = []
    controls.param.watch(lambda event: fired.append(event.name), "reset")
    controls._reset._process_event(ButtonClick(None))
    assert fired == ["reset"]
