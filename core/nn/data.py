"""Data sets: an IDX reader, where each data set lives, and the in-memory tensors.

A data set is loaded once per process (about 0.5 s for MNIST) and shared read-only by every run
and every browser session: images are one float32 tensor in [0, 1] of shape (N, 784). A run never
copies it; it holds index tensors (its split) and gathers each mini-batch with them.
Normalization (the training set's mean and std) is part of the model (`core.nn.model.Normalize`),
so every consumer of a model, the Draw page included, feeds plain [0, 1] pixels.

Every file is checked before it is used: its IDX header and size, the images' shape, as many
labels as images, labels 0-9, and the SHA-256 of its content against the published sum (so a
corruption that keeps the file's size is caught too). Checking MNIST means reading and
decompressing it (0.7 s) and hashing 55 MB (0.1 s), so a file that passed is remembered in the
per-user cache (`verified.json`, keyed by the file's path, size and modification time): later
loads hash nothing, and `available` (asked on every sidebar rerun) reads nothing. Every problem
is a DataError whose message names the file and says how to fix it.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import threading
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ASSETS = Path(__file__).resolve().parents[2] / "assets"
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class DataError(Exception):
    """A data file is missing, truncated or not what it claims to be."""


class DataUnavailable(DataError):
    """A data set is not on this machine; the message says how to get it."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    class_names: tuple[str, ...]
    # SHA-256 of the *uncompressed* files: gzip output differs between packagers
    # (Debian re-compresses), the content does not.
    sha256: dict[str, str]
    url: str | None = None  # where a download comes from, if it may be downloaded


DATASETS = {
    "mnist": DatasetInfo(
        "mnist", "MNIST handwritten digits", tuple(str(i) for i in range(10)),
        {"train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
         "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
         "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
         "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}),
    "fashion": DatasetInfo(
        "fashion", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"),
        {"train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
         "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
         "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
         "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def cache_dir() -> Path:
    """Per-user cache for downloaded data sets ($MNIST_PLAYGROUND_CACHE overrides)."""
    base = os.environ.get("MNIST_PLAYGROUND_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mnist-playground")
    return Path(base)


# -- the IDX format -----------------------------------------------------------------------------

def parse_idx(raw: bytes, expect_magic: int, name: str = "file") -> np.ndarray:
    """Parse an uncompressed IDX file (big-endian header, unsigned bytes)."""
    if len(raw) < 8:
        raise DataError(f"{name}: only {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expect_magic:
        kind = "images" if expect_magic == IMAGE_MAGIC else "labels"
        raise DataError(f"{name}: magic number {magic} is not {expect_magic} (IDX {kind}); "
                        "is this the right file?")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (28, 28):
        raise DataError(f"{name}: images are {dims[1]}x{dims[2]}, expected 28x28")
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(f"{name}: header promises {expected:,} bytes of data for shape {dims}, "
                        f"found {len(raw) - header:,} (the file is truncated or corrupted)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, expect_magic: int) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path.name}: cannot decompress ({e}); the file is corrupted") from None
    return parse_idx(data, expect_magic, path.name)


# -- where each data set is ---------------------------------------------------------------------

def _has_files(folder: Path) -> bool:
    return all((folder / f).is_file() for f in FILES.values())


def locate(name: str) -> Path:
    """The folder holding the four files of data set `name`, or DataUnavailable saying why."""
    if name not in DATASETS:
        raise DataUnavailable(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "mnist":
        folder = ASSETS / "mnist"
        missing = [f for f in FILES.values() if not (folder / f).is_file()]
        if missing:
            raise DataError(f"{folder / missing[0]} is missing"
                            + (f" (and {len(missing) - 1} more of the data set's 4 files)" if len(missing) > 1 else "")
                            + f". {fix_for(name, folder)}")
        return folder
    for folder in (DEBIAN_FASHION, cache_dir() / name):
        if _has_files(folder):
            return folder
    raise DataUnavailable(
        "Fashion-MNIST is not on this machine. Install it with "
        "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or on a machine with "
        f"internet run `python -m core.nn.data download fashion` (it goes to {cache_dir() / name}).")


def fix_for(name: str, folder: Path) -> str:
    """How to get good copies of data set `name`'s files back into `folder` (for messages)."""
    if name == "mnist":
        return (f"Fix: restore the app's embedded MNIST files in {folder} (in the app's folder: "
                "`git checkout -- assets/mnist`, or reinstall the app).")
    if Path(folder) == DEBIAN_FASHION:
        return "Fix: reinstall them with `sudo apt-get install --reinstall dataset-fashion-mnist`."
    return (f"Fix: delete {folder} and download it again with `python -m core.nn.data download {name}` "
            "(or install the Debian package dataset-fashion-mnist).")


def available(name: str) -> tuple[bool, str]:
    """(True, folder) or (False, what is wrong and how to fix it): for the UI's data set choice
    (Start stays disabled while False). Runs every check of `load`; after the first time (in this
    process, or once ever thanks to the verified cache) it costs four `stat` calls."""
    try:
        return True, str(check(name))
    except DataError as e:
        return False, str(e)


_checked: dict[tuple, str | None] = {}   # (folder, files' stamps) -> None (good) or the error


def check(name: str) -> Path:
    """The folder of data set `name` once all its files passed every check; else DataError."""
    folder = locate(name)
    if (name, "cpu") in _cache:   # loaded and checked already; runs use the copy in memory
        return folder
    try:
        stamps = {key: _stamp(folder / f) for key, f in FILES.items()}
    except OSError as e:
        raise DataError(f"{e.filename} cannot be read ({e.strerror}). {fix_for(name, folder)}") from None
    verified = _read_verified()
    if all(_vouched(verified, folder / f, stamps[key], DATASETS[name].sha256[key])
           for key, f in FILES.items()):
        return folder   # the published content, unchanged since it was hashed: nothing to read
    memo = (str(folder), tuple(tuple(s.values()) for s in stamps.values()))
    if memo not in _checked:
        try:
            _read_checked(name, folder)
            _checked[memo] = None
        except DataError as e:
            _checked[memo] = str(e)
    if _checked[memo] is not None:
        raise DataError(_checked[memo])
    return folder


def download(name: str, dest: Path | None = None, timeout: float = 30.0) -> Path:
    """Download a data set into the cache, verifying the SHA-256 of each file's content."""
    info = DATASETS[name]
    if info.url is None:
        raise DataError(f"{name} is embedded and needs no download")
    dest = Path(dest or cache_dir() / name)
    dest.mkdir(parents=True, exist_ok=True)
    for key, fname in FILES.items():
        target = dest / fname
        if target.is_file() and _sha256_of_content(target) == info.sha256[key]:
            continue
        try:
            with urllib.request.urlopen(info.url + fname, timeout=timeout) as r:
                blob = r.read()
        except OSError as e:
            raise DataUnavailable(f"could not download {fname} from {info.url} ({e}); "
                                  "without internet, install the Debian package "
                                  "dataset-fashion-mnist") from None
        got = hashlib.sha256(gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob).hexdigest()
        if got != info.sha256[key]:
            raise DataError(f"{fname}: checksum mismatch (got {got[:12]}..., expected "
                            f"{info.sha256[key][:12]}...); the download is corrupted")
        tmp = target.with_suffix(".part")
        tmp.write_bytes(blob)
        tmp.replace(target)
    return dest


def _sha256_of_content(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha256(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).hexdigest()


# -- the tensors, shared by the whole process ---------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    """A whole data set in memory. Images are float32 in [0, 1], flattened to 784."""
    name: str
    class_names: tuple[str, ...]
    train_x: torch.Tensor   # (60000, 784) float32
    train_y: torch.Tensor   # (60000,) int64
    test_x: torch.Tensor    # (10000, 784)
    test_y: torch.Tensor
    mean: float             # of the training images' pixels, for normalization
    std: float

    def to(self, device: torch.device | str) -> "Dataset":
        device = torch.device(device)
        if self.train_x.device == device:
            return self
        move = lambda t: t.to(device)  # noqa: E731
        return Dataset(self.name, self.class_names, move(self.train_x), move(self.train_y),
                       move(self.test_x), move(self.test_y), self.mean, self.std)


_cache: dict[tuple[str, str], Dataset] = {}
_cache_lock = threading.Lock()


def load(name: str = "mnist", device: torch.device | str = "cpu") -> Dataset:
    """The data set as tensors on `device`, loaded at most once per process and device."""
    device = torch.device(device)
    with _cache_lock:
        if (name, "cpu") not in _cache:
            _cache[(name, "cpu")] = _load_from_disk(name)
        key = (name, str(device))
        if key not in _cache:
            _cache[key] = _cache[(name, "cpu")].to(device)
        return _cache[key]


def _load_from_disk(name: str) -> Dataset:
    arrays = _read_checked(name, locate(name))
    to_x = lambda a: torch.from_numpy(a.reshape(len(a), 784).astype(np.float32) / 255.0)  # noqa: E731
    to_y = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    train_x = to_x(arrays["train_images"])
    return Dataset(name, DATASETS[name].class_names, train_x, to_y(arrays["train_labels"]),
                   to_x(arrays["test_images"]), to_y(arrays["test_labels"]),
                   mean=float(train_x.mean()), std=float(train_x.std()))


def _read_checked(name: str, folder: Path) -> dict[str, np.ndarray]:
    """The four arrays of data set `name` from `folder`, after every check (DataError naming
    the file and the fix otherwise). Checksums are computed only for files the verified cache
    does not already vouch for."""
    info, fix = DATASETS[name], fix_for(name, folder)
    arrays, contents, stamps = {}, {}, {}
    for key, fname in FILES.items():
        path = folder / fname
        try:
            stamps[key] = _stamp(path)
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{path} is missing. {fix}") from None
        except OSError as e:
            raise DataError(f"{path} cannot be read ({e.strerror}). {fix}") from None
        try:
            contents[key] = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        except (OSError, EOFError, zlib.error) as e:   # gzip.BadGzipFile is an OSError
            raise DataError(f"{path} cannot be decompressed ({e}): the file is corrupted. {fix}") from None
        try:
            arrays[key] = parse_idx(contents[key], IMAGE_MAGIC if key.endswith("images") else LABEL_MAGIC,
                                    str(path))
        except DataError as e:
            raise DataError(f"{e}. {fix}") from None
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(f"{folder / FILES[split + '_labels']} holds {len(labels):,} labels but "
                            f"{FILES[split + '_images']} holds {len(images):,} images: the files do not "
                            f"belong together. {fix}")
        if len(labels) and labels.max() > 9:
            i = int(np.argmax(labels > 9))
            raise DataError(f"{folder / FILES[split + '_labels']}: label {labels[i]} (image {i:,}) is "
                            f"not a class 0-9: the file is corrupted. {fix}")
    verified = _read_verified()
    newly = {}
    for key, fname in FILES.items():
        path, expected = folder / fname, info.sha256[key]
        if _vouched(verified, path, stamps[key], expected):
            continue
        got = _sha256(contents[key])
        if got != expected:
            raise DataError(f"{path}: its content's SHA-256 is {got[:16]}…, not the published "
                            f"{expected[:16]}…: the file is corrupted or not the original. {fix}")
        newly[_cache_key(path)] = {**stamps[key], "sha256": got}
    if newly:
        _record_verified(newly)
    return arrays


# -- the verified cache: files whose checksum passed, so a start-up need not hash them again ----

def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _stamp(path: Path) -> dict:
    """What changes when a file is replaced or edited: its size and modification time."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cache_key(path: Path) -> str:
    return str(Path(path).resolve())


def _vouched(verified: dict, path: Path, stamp: dict, sha256: str) -> bool:
    """Whether the cache saw this very file (same size and modification time) hash to `sha256`."""
    return verified.get(_cache_key(path)) == {**stamp, "sha256": sha256}


def _verified_file() -> Path:
    return cache_dir() / "verified.json"


def _read_verified() -> dict:
    try:
        entries = json.loads(_verified_file().read_text())
        return entries if isinstance(entries, dict) else {}
    except (OSError, ValueError):   # no cache yet, or a damaged one: hash again
        return {}


def _record_verified(new: dict) -> None:
    """Add entries to verified.json (written to a temporary file, then renamed, so a reader
    never sees half a file). Without a writable cache the files are simply hashed each time."""
    target = _verified_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        entries = {**_read_verified(), **new}
        with tempfile.NamedTemporaryFile("w", dir=target.parent, prefix=".verified.", delete=False) as f:
            json.dump(entries, f, indent=1, sort_keys=True)
        os.replace(f.name, target)
    except OSError:
        pass


# -- splits -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """Indices into Dataset.train_x: the run's training and validation images."""
    train_idx: torch.Tensor
    val_idx: torch.Tensor


def split(n: int, val_fraction: float, subset: int = 0, seed: int = 0,
          device: torch.device | str = "cpu") -> Split:
    """A seeded shuffle of range(n): the first val_fraction is validation, the rest training
    (optionally only the first `subset` of it). The same seed always gives the same split."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_val = round(n * val_fraction)
    train = perm[n_val:]
    if subset:
        train = train[:subset]
    return Split(train.to(device), perm[:n_val].to(device))


if __name__ == "__main__":  # python -m core.nn.data download fashion
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "download":
        try:
            print(download(sys.argv[2]))
        except DataError as e:
            sys.exit(f"error: {e}")
    else:
        sys.exit("usage: python -m core.nn.data download fashion")
