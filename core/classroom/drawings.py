"""The class's own handwriting: digits students drew on the Draw page, labelled by them.

Each drawing is kept twice: as the network sees it (28x28, laid out like MNIST by
core.drawing.preprocess, stored as 784 bytes) and as drawn (the canvas in grey levels, a PNG). The teacher
exports the set in the MNIST format (IDX files, readable by core.nn.data.read_idx / parse_idx and by
any MNIST loader) and as a NumPy .npz, or uses it as a challenge's hidden set.
"""
from __future__ import annotations

import hashlib
import io
import time
import zipfile
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.classroom.classes import ClassError, Classroom
from core.drawing.preprocess import INK_THRESHOLD, to_ink
from core.ledger import Ledger
from core.nn.data import IMAGE_MAGIC, LABEL_MAGIC

MAX_PER_STUDENT = 200
MAX_PER_CLASS = 5000
IDX_IMAGES, IDX_LABELS = "class-drawings-images-idx3-ubyte", "class-drawings-labels-idx1-ubyte"

SCHEMA = """
CREATE TABLE IF NOT EXISTS class_drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id TEXT NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    owner TEXT NOT NULL, label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9), predicted INTEGER,
    added REAL NOT NULL,
    pixels BLOB NOT NULL,        -- 28x28 uint8, row by row: what the network sees
    original BLOB NOT NULL,      -- the drawing as drawn: a greyscale PNG
    digest TEXT NOT NULL,        -- of pixels: the same drawing is added once per student
    UNIQUE (class_id, owner, digest));
CREATE INDEX IF NOT EXISTS class_drawings_by_class ON class_drawings (class_id, label);
"""


@dataclass(frozen=True)
class Drawing:
    id: int
    class_id: str
    owner: str
    label: int
    predicted: int | None
    added: float
    pixels: np.ndarray           # (28, 28) uint8


def to_bytes28(x28) -> np.ndarray:
    """(28, 28) uint8 from [0, 1] floats (as core.drawing.preprocess makes them) or uint8."""
    a = np.asarray(x28)
    if a.size != 784:
        raise ClassError(f"A drawing must be 28×28 pixels, got shape {a.shape}.")
    a = a.reshape(28, 28)
    if a.dtype == np.uint8:
        return a.copy()
    return np.round(np.clip(a.astype(np.float32), 0.0, 1.0) * 255).astype(np.uint8)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An uncompressed IDX file: big-endian magic and sizes, then the unsigned bytes."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return header + a.tobytes()


def _png(image: np.ndarray) -> bytes:
    grey = np.round(to_ink(image) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _drawing(row) -> Drawing:
    return Drawing(id=row["id"], class_id=row["class_id"], owner=row["owner"], label=row["label"],
                   predicted=row["predicted"], added=row["added"],
                   pixels=np.frombuffer(row["pixels"], np.uint8).reshape(28, 28))


class DrawingSet:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.classroom = Classroom(ledger)
        ledger.ensure_schema(SCHEMA)

    def add(self, owner: str, x28, original: np.ndarray, label: int, predicted: int | None = None) -> Drawing:
        """Add a drawing to the class this browser is a student of. The same drawing twice
        (a double click) is kept once. Raises ClassError with a message for the student."""
        found = self.classroom.student_class(owner)
        if found is None:
            raise ClassError("Join a class first to add drawings to it.")
        info = found[0]
        if not (isinstance(label, (int, np.integer)) and 0 <= int(label) <= 9):
            raise ClassError("Choose the digit you drew (0 to 9).")
        pixels = to_bytes28(x28)
        if pixels.max() <= INK_THRESHOLD * 255:
            raise ClassError("The drawing is empty.")
        digest = hashlib.sha256(pixels.tobytes()).hexdigest()
        conn = self.ledger.connect()
        same = conn.execute("SELECT * FROM class_drawings WHERE class_id = ? AND owner = ? AND digest = ?",
                            (info.id, owner, digest)).fetchone()
        if same:
            return _drawing(same)
        mine = conn.execute("SELECT count(*) FROM class_drawings WHERE class_id = ? AND owner = ?",
                            (info.id, owner)).fetchone()[0]
        if mine >= MAX_PER_STUDENT:
            raise ClassError(f"You have added {MAX_PER_STUDENT} drawings, the most one student can add.")
        if self.count(info.id) >= MAX_PER_CLASS:
            raise ClassError(f"The class's drawing set is full ({MAX_PER_CLASS:,} drawings).")
        with self.ledger.transaction() as c:
            cur = c.execute("INSERT INTO class_drawings (class_id, owner, label, predicted, added, pixels, "
                            "original, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (info.id, owner, int(label), None if predicted is None else int(predicted),
                             time.time(), pixels.tobytes(), _png(original), digest))
            row = c.execute("SELECT * FROM class_drawings WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _drawing(row)

    def list(self, class_id: str, label: int | None = None, owner: str | None = None) -> list[Drawing]:
        """The class's drawings in the order they were added (of one digit, or one student)."""
        sql, args = "SELECT * FROM class_drawings WHERE class_id = ?", [class_id]
        if label is not None:
            sql, args = sql + " AND label = ?", args + [int(label)]
        if owner is not None:
            sql, args = sql + " AND owner = ?", args + [owner]
        return [_drawing(r) for r in self.ledger.connect().execute(sql + " ORDER BY id", args).fetchall()]

    def count(self, class_id: str, owner: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM class_drawings WHERE class_id = ?", [class_id]
        if owner is not None:
            sql, args = sql + " AND owner = ?", args + [owner]
        return self.ledger.connect().execute(sql, args).fetchone()[0]

    def counts(self, class_id: str) -> list[int]:
        """Drawings per digit 0-9."""
        out = [0] * 10
        for label, n in self.ledger.connect().execute(
                "SELECT label, count(*) FROM class_drawings WHERE class_id = ? GROUP BY label", (class_id,)):
            out[label] = n
        return out

    def original(self, class_id: str, drawing_id: int) -> np.ndarray | None:
        """The drawing as drawn, (H, W) uint8 grey levels."""
        row = self.ledger.connect().execute("SELECT original FROM class_drawings WHERE class_id = ? AND id = ?",
                                            (class_id, int(drawing_id))).fetchone()
        return np.array(Image.open(io.BytesIO(row[0]))) if row else None

    def delete(self, class_id: str, drawing_id: int) -> bool:
        with self.ledger.transaction() as c:
            return c.execute("DELETE FROM class_drawings WHERE class_id = ? AND id = ?",
                             (class_id, int(drawing_id))).rowcount > 0

    # -- export ------------------------------------------------------------------------------------
    def arrays(self, class_id: str, ids=None) -> tuple[np.ndarray, np.ndarray]:
        """(images (N, 28, 28) uint8, labels (N,) uint8) in the order added; only `ids` if given
        (drawings deleted since are left out)."""
        drawings = self.list(class_id)
        if ids is not None:
            keep = set(ids)
            drawings = [d for d in drawings if d.id in keep]
        x = np.stack([d.pixels for d in drawings]) if drawings else np.zeros((0, 28, 28), np.uint8)
        return x, np.array([d.label for d in drawings], np.uint8)

    def export_idx(self, class_id: str) -> bytes:
        """A .zip with the two IDX files (images, labels), as MNIST is distributed (uncompressed)."""
        x, y = self.arrays(class_id)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(IDX_IMAGES, idx_bytes(x, IMAGE_MAGIC))
            z.writestr(IDX_LABELS, idx_bytes(y, LABEL_MAGIC))
        return buf.getvalue()

    def export_npz(self, class_id: str) -> bytes:
        """A .npz: images (N, 28, 28) uint8, labels (N,) uint8, predicted (N,) int16 (-1: none),
        originals (N, H, W) uint8 (the drawings as drawn, padded with black to the largest)."""
        drawings = self.list(class_id)
        x, y = self.arrays(class_id)
        originals = [self.original(class_id, d.id) for d in drawings]
        h = max((o.shape[0] for o in originals), default=0)
        w = max((o.shape[1] for o in originals), default=0)
        padded = np.zeros((len(originals), h, w), np.uint8)
        for i, o in enumerate(originals):
            padded[i, :o.shape[0], :o.shape[1]] = o
        predicted = np.array([-1 if d.predicted is None else d.predicted for d in drawings], np.int16)
        buf = io.BytesIO()
        np.savez_compressed(buf, images=x, labels=y, predicted=predicted, originals=padded)
        return buf.getvalue()
