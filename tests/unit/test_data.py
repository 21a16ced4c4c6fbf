"""IDX parsing, the embedded MNIST, the checks on every data file, splits and the Fashion-MNIST
sources."""
import dataclasses
import gzip
import hashlib
import http.server
import io
import os
import shutil
import threading

import numpy as np
import pytest
import torch

from core.nn import data


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_idx_images_and_labels():
    imgs = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    out = data.parse_idx(idx_bytes(imgs, data.IMAGE_MAGIC), data.IMAGE_MAGIC)
    assert out.shape == (2, 28, 28) and (out == imgs).all()
    labels = data.parse_idx(idx_bytes(np.array([3, 1, 4]), data.LABEL_MAGIC), data.LABEL_MAGIC)
    assert labels.tolist() == [3, 1, 4]


@pytest.mark.parametrize("mangle,message", [
    (lambda b: b[:-5], "truncated or corrupted"),
    (lambda b: b + b"\0", "truncated or corrupted"),
    (lambda b: b[:6], "too short|truncated header"),
    (lambda b: (2049).to_bytes(4, "big") + b[4:], "magic number 2049 is not 2051"),
])
def test_parse_idx_rejects_bad_files(mangle, message):
    raw = idx_bytes(np.zeros((3, 28, 28)), data.IMAGE_MAGIC)
    with pytest.raises(data.DataError, match=message):
        data.parse_idx(mangle(raw), data.IMAGE_MAGIC, "x")


def test_parse_idx_rejects_wrong_image_size():
    with pytest.raises(data.DataError, match="expected 28x28"):
        data.parse_idx(idx_bytes(np.zeros((1, 32, 32)), data.IMAGE_MAGIC), data.IMAGE_MAGIC)


def test_read_idx_reports_corrupt_gzip(tmp_path):
    f = tmp_path / "x.gz"
    good = gzip.compress(idx_bytes(np.zeros((2, 28, 28)), data.IMAGE_MAGIC))
    f.write_bytes(good[: len(good) // 2])
    with pytest.raises(data.DataError, match="corrupted"):
        data.read_idx(f, data.IMAGE_MAGIC)
    with pytest.raises(data.DataError, match="not found"):
        data.read_idx(tmp_path / "missing.gz", data.IMAGE_MAGIC)


def test_embedded_mnist_matches_its_published_checks():
    d = data.load("mnist")
    assert d.train_x.shape == (60000, 784) and d.test_x.shape == (10000, 784)
    assert d.train_x.dtype == torch.float32 and 0 <= d.train_x.min() and d.train_x.max() <= 1
    assert torch.bincount(d.train_y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(d.test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d.mean == pytest.approx(0.1307, abs=1e-4) and d.std == pytest.approx(0.3081, abs=1e-4)
    assert data.load("mnist") is d  # loaded once per process, shared


def test_embedded_files_have_the_recorded_checksums():
    for key, fname in data.FILES.items():
        raw = gzip.decompress((data.ASSETS / "mnist" / fname).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == data.DATASETS["mnist"].sha256[key]


def test_split_is_seeded_disjoint_and_sized():
    a = data.split(60000, 0.1, seed=3)
    assert len(a.val_idx) == 6000 and len(a.train_idx) == 54000
    assert len(set(a.val_idx.tolist()) & set(a.train_idx.tolist())) == 0
    b = data.split(60000, 0.1, seed=3)
    assert torch.equal(a.train_idx, b.train_idx)
    assert not torch.equal(a.val_idx, data.split(60000, 0.1, seed=4).val_idx)
    sub = data.split(60000, 0.1, subset=4000, seed=3)
    assert len(sub.train_idx) == 4000 and torch.equal(sub.val_idx, a.val_idx)


def _write_fake_set(folder, n=5, mangle=None):
    """A tiny data set of n images per split in `folder`; returns the SHA-256 of each file's
    content (what DatasetInfo records). `mangle(key, array)` may change an array before writing."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sums = {}
    for key, fname in data.FILES.items():
        if key.endswith("images"):
            array, magic = rng.integers(0, 256, (n, 28, 28)), data.IMAGE_MAGIC
        else:
            array, magic = rng.integers(0, 10, n), data.LABEL_MAGIC
        blob = idx_bytes(mangle(key, array) if mangle else array, magic)
        sums[key] = hashlib.sha256(blob).hexdigest()
        (folder / fname).write_bytes(gzip.compress(blob))
    return sums


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """No data set loaded or checked in this process yet, and an empty per-user cache."""
    monkeypatch.setattr(data, "_cache", {})
    monkeypatch.setattr(data, "_checked", {})
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def fake_mnist(fresh, monkeypatch):
    """MNIST replaced by a tiny set in tmp_path/assets/mnist with its own published sums.
    Returns a function that (re)writes the set, optionally mangled, and records its sums."""
    monkeypatch.setattr(data, "ASSETS", fresh / "assets")
    folder = fresh / "assets" / "mnist"

    def write(mangle=None):
        sums = _write_fake_set(folder)            # the published sums are the good set's
        if mangle is not None:
            _write_fake_set(folder, mangle=mangle)
        monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(data.DATASETS["mnist"], sha256=sums))
        return folder
    return write


def _error(name="mnist"):
    """The message of `load`'s DataError, after checking that `available` reports the same."""
    ok, why = data.available(name)
    assert not ok
    with pytest.raises(data.DataError) as e:
        data.load(name)
    assert str(e.value) == why
    return why


def test_a_good_set_loads_and_is_available(fake_mnist):
    folder = fake_mnist()
    assert data.available("mnist") == (True, str(folder))
    d = data.load("mnist")
    assert d.train_x.shape == (5, 784) and d.test_y.dtype == torch.int64


def test_a_missing_embedded_file_is_named_with_the_fix(fake_mnist):
    folder = fake_mnist()
    (folder / data.FILES["train_labels"]).unlink()
    why = _error()
    assert str(folder / "train-labels-idx1-ubyte.gz") in why and "is missing" in why
    assert "git checkout -- assets/mnist" in why


def test_a_corrupt_gzip_is_named_with_the_fix(fake_mnist):
    folder = fake_mnist()
    f = folder / data.FILES["test_images"]
    f.write_bytes(f.read_bytes()[:100])
    why = _error()
    assert why.startswith(f"{f} cannot be decompressed") and "corrupted" in why
    assert "Fix: restore the app's embedded MNIST files" in why


def test_more_labels_than_images_is_a_data_error(fake_mnist):
    fake_mnist(mangle=lambda key, a: np.append(a, 3) if key == "train_labels" else a)
    why = _error()
    assert why.startswith(str(data.ASSETS / "mnist" / "train-labels-idx1-ubyte.gz"))
    assert "holds 6 labels but train-images-idx3-ubyte.gz holds 5 images" in why and "Fix:" in why


def test_a_label_above_9_is_a_data_error(fake_mnist):
    def bad_label(key, a):
        if key == "test_labels":
            a = a.copy()
            a[2] = 10
        return a
    fake_mnist(mangle=bad_label)
    why = _error()
    assert why.startswith(str(data.ASSETS / "mnist" / "t10k-labels-idx1-ubyte.gz"))
    assert "label 10 (image 2) is not a class 0-9" in why and "Fix:" in why


def test_images_of_the_wrong_shape_are_a_data_error(fake_mnist):
    fake_mnist(mangle=lambda key, a: np.zeros((5, 32, 32)) if key == "train_images" else a)
    why = _error()
    assert str(data.ASSETS / "mnist" / "train-images-idx3-ubyte.gz") in why
    assert "32x32, expected 28x28" in why and "Fix:" in why


def test_a_file_that_is_not_the_published_one_fails_its_checksum(fake_mnist):
    # a well-formed set (right header, sizes and labels) with other pixels than the published
    fake_mnist(mangle=lambda key, a: 255 - a if key == "train_images" else a)
    why = _error()
    assert why.startswith(str(data.ASSETS / "mnist" / "train-images-idx3-ubyte.gz"))
    assert "SHA-256" in why and "not the published" in why and "Fix:" in why


def test_a_same_size_corruption_of_the_real_files_is_caught(fresh, monkeypatch):
    """The real MNIST, copied, with one test label changed in place: the file keeps its size and
    stays well-formed (the label is still 0-9); only the published checksum can tell."""
    real = data.ASSETS / "mnist"
    folder = fresh / "assets" / "mnist"
    shutil.copytree(real, folder)
    f = folder / data.FILES["test_labels"]
    raw = bytearray(gzip.decompress(f.read_bytes()))
    f.write_bytes(bytes(raw))                    # stored uncompressed (the reader accepts both)
    monkeypatch.setattr(data, "ASSETS", fresh / "assets")
    assert data.available("mnist") == (True, str(folder))   # verified, and remembered as such
    size = f.stat().st_size
    raw[8 + 1234] = (raw[8 + 1234] + 1) % 10     # one label, 8 bytes past the header
    with open(f, "r+b") as out:                  # in place: same size
        out.write(raw)
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000_000))
    assert f.stat().st_size == size
    data._checked.clear()
    why = _error()
    assert why.startswith(f"{f}: its content's SHA-256") and "corrupted" in why


def test_checksums_are_computed_once_then_remembered(fake_mnist, monkeypatch):
    folder = fake_mnist()
    hashed = []
    real_sha = data._sha256
    monkeypatch.setattr(data, "_sha256", lambda content: hashed.append(len(content)) or real_sha(content))
    data.load("mnist")
    assert len(hashed) == 4                      # first load: every file is hashed
    cache = data.cache_dir() / "verified.json"
    assert cache.is_file() and str((folder / data.FILES["test_labels"]).resolve()) in cache.read_text()

    data._cache.clear()                          # a new process: load from disk again
    hashed.clear()
    data.load("mnist")
    assert hashed == []                          # ... without hashing anything

    read = []
    monkeypatch.setattr(data, "_read_checked", lambda *a: read.append(a))
    data._cache.clear()
    assert data.available("mnist") == (True, str(folder)) and read == []   # available reads nothing


def test_a_changed_file_is_hashed_again_and_a_damaged_cache_is_ignored(fake_mnist, monkeypatch):
    folder = fake_mnist()
    data.load("mnist")
    hashed = []
    real_sha = data._sha256
    monkeypatch.setattr(data, "_sha256", lambda content: hashed.append(len(content)) or real_sha(content))
    f = folder / data.FILES["train_labels"]
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000_000))
    data._cache.clear()
    data.load("mnist")
    assert hashed == [8 + 5]                     # only the touched file (its content: header + 5 labels)
    (data.cache_dir() / "verified.json").write_text("{not json")
    data._cache.clear()
    hashed.clear()
    data.load("mnist")
    assert len(hashed) == 4


def test_available_reports_a_broken_file_without_rereading_it_then_sees_the_fix(fake_mnist, monkeypatch):
    folder = fake_mnist()
    f = folder / data.FILES["test_images"]
    good = f.read_bytes()
    f.write_bytes(good[:-3])
    reads = []
    real = data._read_checked
    monkeypatch.setattr(data, "_read_checked", lambda *a: reads.append(a) or real(*a))
    for _ in range(3):                           # the sidebar asks on every rerun
        ok, why = data.available("mnist")
        assert not ok and str(f) in why and "Fix:" in why
    assert len(reads) == 1
    f.write_bytes(good)                          # the user restores the file
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000_000))
    assert data.available("mnist") == (True, str(folder))


def test_fashion_unavailable_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION", tmp_path / "none")
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(tmp_path / "cache"))
    ok, why = data.available("fashion")
    assert not ok and "apt-get install dataset-fashion-mnist" in why and "download" in why


def test_fashion_is_found_in_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION", tmp_path / "none")
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(tmp_path / "cache"))
    _write_fake_set(tmp_path / "cache" / "fashion")
    assert data.locate("fashion") == tmp_path / "cache" / "fashion"


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_download_verifies_checksums(tmp_path, monkeypatch):
    monkeypatch.setattr(data.urllib.request, "urlopen",
                        lambda url, timeout: _FakeResponse(gzip.compress(b"not the real file")))
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.download("fashion", tmp_path)
    assert not any(tmp_path.glob("*.gz"))   # nothing corrupt is left behind


def test_download_without_network_explains(tmp_path, monkeypatch):
    def fail(url, timeout):
        raise OSError("Network is unreachable")
    monkeypatch.setattr(data.urllib.request, "urlopen", fail)
    with pytest.raises(data.DataUnavailable, match="dataset-fashion-mnist"):
        data.download("fashion", tmp_path)


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving tmp_path/site; yields (folder, base URL)."""
    site = tmp_path / "site"
    site.mkdir()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(site), **kw)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    for var in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    yield site, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_over_http_then_load(fresh, monkeypatch, http_server):
    """The whole path a user without the Debian package takes: download (over real HTTP, from a
    server in this test, files made in this test), verify, store in the cache, then load."""
    site, url = http_server
    sums = _write_fake_set(site, n=7)
    monkeypatch.setitem(data.DATASETS, "fashion", dataclasses.replace(data.DATASETS["fashion"], url=url, sha256=sums))
    monkeypatch.setattr(data, "DEBIAN_FASHION", fresh / "not-installed")
    assert not data.available("fashion")[0]
    dest = data.download("fashion")
    assert dest == fresh / "cache" / "fashion"
    assert sorted(p.name for p in dest.iterdir()) == sorted(data.FILES.values())
    for fname in data.FILES.values():
        assert (dest / fname).read_bytes() == (site / fname).read_bytes()
    assert data.available("fashion") == (True, str(dest))
    d = data.load("fashion")
    assert d.class_names[9] == "Ankle boot" and d.train_x.shape == (7, 784)
    expected = np.frombuffer(gzip.decompress((site / data.FILES["train_images"]).read_bytes())[16:], np.uint8)
    assert torch.equal(d.train_x.flatten(), torch.from_numpy(expected.astype(np.float32) / 255))


def test_download_over_http_refuses_a_tampered_file(fresh, monkeypatch, http_server):
    site, url = http_server
    sums = _write_fake_set(site)
    _write_fake_set(site, mangle=lambda key, a: (a + 1) % 10 if key == "test_labels" else a)
    monkeypatch.setitem(data.DATASETS, "fashion", dataclasses.replace(data.DATASETS["fashion"], url=url, sha256=sums))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        data.download("fashion", fresh / "dl")
    assert not (fresh / "dl" / data.FILES["test_labels"]).exists()
