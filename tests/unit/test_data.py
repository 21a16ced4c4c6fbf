"""IDX parsing, the embedded MNIST, splits and the Fashion-MNIST sources."""
import gzip
import hashlib
import io

import numpy as np
import pytest
import torch

from core import data


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


def _write_fake_set(folder, n=5):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for key, fname in data.FILES.items():
        if key.endswith("images"):
            blob = idx_bytes(rng.integers(0, 256, (n, 28, 28)), data.IMAGE_MAGIC)
        else:
            blob = idx_bytes(rng.integers(0, 10, n), data.LABEL_MAGIC)
        (folder / fname).write_bytes(gzip.compress(blob))


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


@pytest.mark.skipif(not data._has_files(data.DEBIAN_FASHION), reason="dataset-fashion-mnist not installed")
def test_download_of_the_real_files_succeeds_and_loads(tmp_path, monkeypatch):
    served = {f: (data.DEBIAN_FASHION / f).read_bytes() for f in data.FILES.values()}
    monkeypatch.setattr(data.urllib.request, "urlopen",
                        lambda url, timeout: _FakeResponse(served[url.rsplit("/", 1)[1]]))
    dest = data.download("fashion", tmp_path)
    assert sorted(p.name for p in dest.iterdir()) == sorted(data.FILES.values())
    d = data.load("fashion")
    assert d.class_names[9] == "Ankle boot" and d.train_x.shape == (60000, 784)
