"""core.drawing.strokes: the canvas's message (strokes, not pixels) decoded, refused when malformed, and
drawn again as the browser draws it (round caps and joins)."""
import json

import numpy as np
import pytest

from core.drawing import preprocess
from core.drawing import strokes as drawing
from core.drawing.strokes import Drawing, Stroke

# What canvas.js's message() sends for a vertical stroke and a dot (a tap), written out by hand.
MESSAGE = json.loads("""{"v": 1, "size": [280, 280], "seq": 1732537520123, "down": true, "pen": 25,
  "strokes": [{"w": 20, "p": [140, 40, 140, 90, 141, 240]}, {"w": 30, "p": [60, 200]}]}""")


def test_a_message_decodes_to_its_strokes():
    d = drawing.decode(MESSAGE)
    assert d.size == (280, 280) and d.seq == 1732537520123 and d.pen_down and d.pen == 25
    assert d.strokes == (Stroke(20, ((140, 40), (140, 90), (141, 240))), Stroke(30, ((60, 200),)))
    assert not d.blank
    assert drawing.decode(drawing.encode(d)) == d
    assert json.dumps(drawing.encode(d)) == json.dumps(MESSAGE)     # the same JSON, as compact


def test_no_message_and_an_empty_canvas():
    assert drawing.decode(None) is None
    empty = drawing.decode({"v": 1, "size": [280, 280], "seq": 3, "down": False, "strokes": []})
    assert empty.blank and empty.pen == 20 and not empty.pen_down


def bad(**change):
    msg = json.loads(json.dumps(MESSAGE))
    for k, v in change.items():
        if v is None:
            del msg[k]
        else:
            msg[k] = v
    return msg


@pytest.mark.parametrize("message, says", [
    ("a string", "JSON object"),
    (bad(v=2), "version 2"),
    (bad(v=None), "version None"),
    (bad(size=[280]), "size"),
    (bad(size=[0, 280]), "size"),
    (bad(strokes=None), "strokes must be a list"),
    (bad(strokes=[{"w": 20}]), "stroke 0"),
    (bad(strokes=[{"w": 20, "p": [1, 2, 3]}]), "even"),
    (bad(strokes=[{"w": 20, "p": []}]), "even, non-zero"),
    (bad(strokes=[{"w": 20, "p": [1, "2"]}]), "number"),
    (bad(strokes=[{"w": 20, "p": [1, float("nan")]}]), "number"),
    (bad(strokes=[{"w": True, "p": [1, 2]}]), "width must be a number"),
    (bad(strokes=[{"w": 0, "p": [1, 2]}]), "width must be in"),
    (bad(strokes=[{"w": 20, "p": [1e6, 2]}]), "x must be in"),
    (bad(strokes=[{"w": 20, "p": [0, 0] * (drawing.MAX_POINTS + 1)}]), "too many points"),
    (bad(seq=-1), "seq"),
])
def test_anything_else_is_refused_with_a_reason(message, says):
    with pytest.raises(ValueError, match=says):
        drawing.decode(message)


def test_a_dot_is_a_disc_of_the_pen_width():
    img = drawing.render(Drawing((280, 280), (Stroke(20, ((100, 120),)),)))
    assert img.shape == (280, 280) and img.dtype == np.uint8
    rows, cols = np.mgrid[:280, :280]
    dist = np.hypot(rows - 120, cols - 100)
    assert (img[dist <= 9] == 255).all() and (img[dist >= 11.5] == 0).all()


def test_a_stroke_has_the_pen_width_and_round_ends():
    img = drawing.render(Drawing((280, 280), (Stroke(16, ((40, 100), (240, 100))),)))
    band = np.flatnonzero(img[:, 140])                      # across the middle of the stroke
    assert 15 <= len(band) <= 17 and abs(band.mean() - 100) <= 1
    assert img[100, 40 - 7] == 255 and img[100, 240 + 7] == 255     # the caps stick out by r ...
    assert img[100, 40 - 10] == 0 and img[100 - 7, 40 - 7] == 0    # ... and are round, not square


def test_joins_are_round_and_strokes_add_up():
    corner = drawing.render(Drawing((280, 280), (Stroke(20, ((40, 200), (140, 60), (240, 200))),)))
    assert corner[60, 140] == 255 and corner[60 - 9, 140] == 255    # the apex is rounded over
    two = drawing.render(Drawing((280, 280), (Stroke(20, ((40, 60), (240, 60))),
                                              Stroke(20, ((140, 20), (140, 260))))))
    assert two[60, 40] == 255 and two[250, 140] == 255 and two[200, 60] == 0


def test_the_rendered_drawing_goes_through_the_mnist_recipe():
    """Strokes -> pixels -> what the network sees: a vertical stroke is a centred thin bar."""
    d = drawing.decode(MESSAGE)
    x = preprocess.canvas_to_mnist(drawing.render(Drawing(d.size, d.strokes[:1])))
    assert x.shape == (28, 28)
    assert np.abs(np.array(preprocess.centre_of_mass(x)) - preprocess.CENTRE).max() < 0.5
    rows = np.flatnonzero((x > 0.05).any(axis=1))
    assert 19 <= len(rows) <= 22                             # 20 px tall: fits the 20x20 box
