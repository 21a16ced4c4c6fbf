"""The class's drawings: who may add, what is kept, and the export round trip through the IDX
reader (core.nn.data.parse_idx, as the real MNIST files are read) and NumPy."""
import io
import zipfile

import numpy as np
import pytest

from core.classroom.classes import ClassError, Classroom
from core.classroom.drawings import IDX_IMAGES, IDX_LABELS, MAX_PER_STUDENT, DrawingSet, to_bytes28
from core.ledger import Ledger
from core.nn import data


@pytest.fixture
def world(tmp_path):
    ledger = Ledger(tmp_path / "home")
    room = Classroom(ledger)
    cls = room.create_class("teacher", "A")
    room.join(cls.join_code, "s1", "Ada")
    room.join(cls.join_code, "s2", "Bob")
    return DrawingSet(ledger), room, cls


def digit(seed: int) -> np.ndarray:
    """A 28x28 float image in [0, 1] with some ink (like core.drawing.preprocess's output)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((28, 28), np.float32)
    x[6:22, 8:20] = rng.random((16, 12), dtype=np.float32)
    return x


def canvas(seed: int) -> np.ndarray:
    """An RGBA canvas as streamlit-drawable-canvas returns it: white ink on black."""
    rng = np.random.default_rng(seed)
    c = np.zeros((280, 280, 4), np.uint8)
    c[..., 3] = 255
    c[60:220, 80:200, :3] = rng.integers(0, 256, (160, 120, 1), dtype=np.uint8)
    return c


def test_export_round_trip_through_the_idx_reader_and_numpy(world):
    ds, room, cls = world
    added = [ds.add("s1" if i % 2 else "s2", digit(i), canvas(i), label=i % 10, predicted=(i + 1) % 10)
             for i in range(13)]
    with zipfile.ZipFile(io.BytesIO(ds.export_idx(cls.id))) as z:
        assert sorted(z.namelist()) == sorted([IDX_IMAGES, IDX_LABELS])
        images = data.parse_idx(z.read(IDX_IMAGES), data.IMAGE_MAGIC, IDX_IMAGES)
        labels = data.parse_idx(z.read(IDX_LABELS), data.LABEL_MAGIC, IDX_LABELS)
        raw = z.read(IDX_IMAGES)
    # the header written out by hand: magic 2051, then 13, 28, 28 (big-endian)
    assert raw[:16] == bytes.fromhex("00000803" "0000000d" "0000001c" "0000001c")
    expected = np.stack([np.round(digit(i) * 255).astype(np.uint8) for i in range(13)])
    assert images.shape == (13, 28, 28) and (images == expected).all()
    assert labels.tolist() == [i % 10 for i in range(13)]
    npz = np.load(io.BytesIO(ds.export_npz(cls.id)))        # no pickles: allow_pickle stays False
    assert (npz["images"] == expected).all() and npz["labels"].tolist() == labels.tolist()
    assert npz["predicted"].tolist() == [(i + 1) % 10 for i in range(13)]
    grey = np.round(canvas(3)[..., :3].astype(np.float32) / 255 @ np.array([0.299, 0.587, 0.114], np.float32) * 255)
    assert npz["originals"].shape == (13, 280, 280)
    assert np.abs(npz["originals"][3].astype(int) - grey.astype(int)).max() <= 1
    assert [d.id for d in added] == sorted(d.id for d in added)


def test_the_teacher_sees_counts_per_digit_and_deletes_bad_ones(world):
    ds, room, cls = world
    a = ds.add("s1", digit(1), canvas(1), 3)
    ds.add("s1", digit(2), canvas(2), 3)
    ds.add("s2", digit(3), canvas(3), 7)
    assert ds.counts(cls.id) == [0, 0, 0, 2, 0, 0, 0, 1, 0, 0]
    assert [d.label for d in ds.list(cls.id, label=3)] == [3, 3]
    assert ds.delete(cls.id, a.id) and not ds.delete(cls.id, a.id)
    assert ds.counts(cls.id)[3] == 1 and ds.count(cls.id, owner="s1") == 1
    other = room.create_class("t2", "B")
    assert not ds.delete(other.id, ds.list(cls.id)[0].id)        # only within its class


def test_who_may_add_what(world, monkeypatch):
    ds, room, cls = world
    with pytest.raises(ClassError, match="Join a class"):
        ds.add("outsider", digit(1), canvas(1), 1)
    with pytest.raises(ClassError, match="0 to 9"):
        ds.add("s1", digit(1), canvas(1), 10)
    with pytest.raises(ClassError, match="empty"):
        ds.add("s1", np.zeros((28, 28)), canvas(1), 1)
    with pytest.raises(ClassError, match="28×28"):
        ds.add("s1", np.zeros((20, 20)), canvas(1), 1)
    first = ds.add("s1", digit(1), canvas(1), 1)
    assert ds.add("s1", digit(1), canvas(1), 1).id == first.id     # a double click: kept once
    assert ds.count(cls.id) == 1
    monkeypatch.setattr("core.classroom.drawings.MAX_PER_STUDENT", 2)
    ds.add("s1", digit(2), canvas(2), 1)
    with pytest.raises(ClassError, match="2 drawings"):
        ds.add("s1", digit(3), canvas(3), 1)
    assert MAX_PER_STUDENT == 200
    room.leave("s1")
    with pytest.raises(ClassError, match="Join a class"):
        ds.add("s1", digit(4), canvas(4), 1)


def test_pixels_in_either_form():
    x = digit(5)
    assert (to_bytes28(x) == np.round(x * 255).astype(np.uint8)).all()
    assert (to_bytes28(to_bytes28(x)) == to_bytes28(x)).all()
    assert to_bytes28(x.reshape(784)).shape == (28, 28)
