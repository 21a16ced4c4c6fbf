"""core.nn.data: the messages and rules the other data tests leave open, pinned on files made here:
every IDX error written out, where each data set is looked for, the per-user cache folder, the
verified cache's keys, downloads that need nothing, and the tensors' exact values."""
import dataclasses
import gzip
import hashlib
import json

import numpy as np
import pytest
import torch

from core.nn import data


def idx(array: np.ndarray, magic: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + \
        array.astype(np.uint8).tobytes()


def write_set(folder, images, labels, test_images=None, test_labels=None, compress=True):
    """A data set of the given arrays in `folder`; returns the SHA-256 of each file's content."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train_images": images, "train_labels": labels,
              "test_images": images if test_images is None else test_images,
              "test_labels": labels if test_labels is None else test_labels}
    sums = {}
    for key, fname in data.FILES.items():
        blob = idx(arrays[key], data.IMAGE_MAGIC if key.endswith("images") else data.LABEL_MAGIC)
        sums[key] = hashlib.sha256(blob).hexdigest()
        (folder / fname).write_bytes(gzip.compress(blob) if compress else blob)
    return sums


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_cache", {})
    monkeypatch.setattr(data, "_checked", {})
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "ASSETS", tmp_path / "assets")
    monkeypatch.setattr(data, "DEBIAN_FASHION", tmp_path / "debian")
    return tmp_path


def as_mnist(monkeypatch, sums):
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(data.DATASETS["mnist"], sha256=sums))


# -- the IDX format: every message ------------------------------------------------------------------

def test_idx_messages_name_the_file_and_the_problem():
    images = idx(np.zeros((2, 28, 28)), data.IMAGE_MAGIC)
    cases = [
        (b"\x00" * 7, data.IMAGE_MAGIC, "f: only 7 bytes, too short for an IDX header"),
        (images[:10], data.IMAGE_MAGIC, "f: truncated header"),
        (images, data.LABEL_MAGIC, "f: magic number 2051 is not 2049 (IDX labels); is this the right file?"),
        (idx(np.zeros(3), data.LABEL_MAGIC), data.IMAGE_MAGIC,
         "f: magic number 2049 is not 2051 (IDX images); is this the right file?"),
        (idx(np.zeros((1, 28, 27)), data.IMAGE_MAGIC), data.IMAGE_MAGIC, "f: images are 28x27, expected 28x28"),
        (images[:-1], data.IMAGE_MAGIC,
         "f: header promises 1,568 bytes of data for shape (2, 28, 28), found 1,567 (the file is "
         "truncated or corrupted)"),
        (idx(np.zeros(3), data.LABEL_MAGIC) + b"\x01", data.LABEL_MAGIC,
         "f: header promises 3 bytes of data for shape (3,), found 4 (the file is truncated or corrupted)"),
    ]
    for raw, magic, message in cases:
        with pytest.raises(data.DataError) as e:
            data.parse_idx(raw, magic, "f")
        assert str(e.value) == message


def test_an_empty_label_file_and_exact_pixel_values_parse():
    assert data.parse_idx(idx(np.zeros(0), data.LABEL_MAGIC), data.LABEL_MAGIC).shape == (0,)
    img = np.zeros((1, 28, 28), dtype=np.uint8)
    img[0, 3, 5] = 255
    out = data.parse_idx(idx(img, data.IMAGE_MAGIC), data.IMAGE_MAGIC)
    assert out[0, 3, 5] == 255 and out.sum() == 255 and out.dtype == np.uint8


def test_read_idx_reads_plain_and_gzip_files_and_names_a_missing_or_broken_one(tmp_path):
    labels = np.array([1, 2, 3])
    (tmp_path / "plain").write_bytes(idx(labels, data.LABEL_MAGIC))
    (tmp_path / "packed.gz").write_bytes(gzip.compress(idx(labels, data.LABEL_MAGIC)))
    for name in ("plain", "packed.gz"):
        assert data.read_idx(tmp_path / name, data.LABEL_MAGIC).tolist() == [1, 2, 3]
    with pytest.raises(data.DataError) as e:
        data.read_idx(tmp_path / "gone.gz", data.LABEL_MAGIC)
    assert str(e.value) == f"{tmp_path / 'gone.gz'}: file not found"
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(data.DataError, match=r"^bad.gz: cannot decompress \(.*\); the file is corrupted$"):
        data.read_idx(tmp_path / "bad.gz", data.LABEL_MAGIC)
    with pytest.raises(data.DataError, match="^plain: magic number"):
        data.read_idx(tmp_path / "plain", data.IMAGE_MAGIC)


# -- where data sets are --------------------------------------------------------------------------

def test_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("MNIST_PLAYGROUND_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "mnist-playground"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "mnist-playground"


def test_an_unknown_data_set_is_named():
    with pytest.raises(data.DataUnavailable) as e:
        data.locate("cifar")
    assert str(e.value) == "unknown data set 'cifar'; choose one of mnist, fashion"


def test_missing_embedded_files_are_counted(fresh):
    folder = fresh / "assets" / "mnist"
    write_set(folder, np.zeros((2, 28, 28)), np.array([1, 2]))
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).unlink()
    with pytest.raises(data.DataError) as e:
        data.locate("mnist")
    assert str(e.value) == (f"{folder / 'train-labels-idx1-ubyte.gz'} is missing (and 2 more of the "
                            f"data set's 4 files). {data.fix_for('mnist', folder)}")


def test_fashion_is_looked_for_in_the_debian_folder_first_then_the_cache(fresh):
    imgs, labels = np.zeros((2, 28, 28)), np.array([0, 9])
    write_set(fresh / "cache" / "fashion", imgs, labels)
    assert data.locate("fashion") == fresh / "cache" / "fashion"
    write_set(fresh / "debian", imgs, labels)
    assert data.locate("fashion") == fresh / "debian"
    (fresh / "debian" / data.FILES["test_labels"]).unlink()       # incomplete: not used
    assert data.locate("fashion") == fresh / "cache" / "fashion"


def test_each_fix_says_what_to_do(tmp_path):
    assert data.fix_for("mnist", tmp_path) == (
        f"Fix: restore the app's embedded MNIST files in {tmp_path} (in the app's folder: "
        "`git checkout -- assets/mnist`, or reinstall the app).")
    assert data.fix_for("fashion", data.DEBIAN_FASHION) == (
        "Fix: reinstall them with `sudo apt-get install --reinstall dataset-fashion-mnist`.")
    assert data.fix_for("fashion", tmp_path) == (
        f"Fix: delete {tmp_path} and download it again with `python -m core.nn.data download fashion` "
        "(or install the Debian package dataset-fashion-mnist).")


# -- loading --------------------------------------------------------------------------------------

def test_loaded_tensors_hold_the_files_values(fresh, monkeypatch):
    imgs = np.zeros((3, 28, 28), dtype=np.uint8)
    imgs[0, 0, 0], imgs[1, 27, 27], imgs[2, 14, 0] = 255, 51, 102
    test_imgs = np.full((2, 28, 28), 255, dtype=np.uint8)
    sums = write_set(fresh / "assets" / "mnist", imgs, np.array([7, 0, 9]), test_imgs, np.array([4, 5]),
                     compress=False)                   # plain IDX files are read as well
    as_mnist(monkeypatch, sums)
    d = data.load("mnist")
    assert d.name == "mnist" and d.class_names == tuple("0123456789")
    assert d.train_x.shape == (3, 784) and d.train_x.dtype == torch.float32
    assert d.train_x[0, 0] == 1.0 and d.train_x[1, 783] == pytest.approx(0.2) and d.train_x[2, 14 * 28] == pytest.approx(0.4)
    assert d.train_x.sum().item() == pytest.approx(1.6)
    assert d.train_y.tolist() == [7, 0, 9] and d.train_y.dtype == torch.int64
    assert d.test_x.shape == (2, 784) and torch.all(d.test_x == 1.0) and d.test_y.tolist() == [4, 5]
    pixels = np.concatenate([[1.0, 0.2, 0.4], np.zeros(3 * 784 - 3)])
    assert d.mean == pytest.approx(pixels.mean(), rel=1e-5)
    assert d.std == pytest.approx(pixels.std(ddof=1), rel=1e-4)     # torch's std: n - 1
    assert d.to("cpu") is d and data.load("mnist", "cpu") is d
    assert data.check("mnist") == fresh / "assets" / "mnist"        # loaded: nothing read again


def test_test_files_are_checked_like_the_training_files(fresh, monkeypatch):
    folder = fresh / "assets" / "mnist"
    sums = write_set(folder, np.zeros((2, 28, 28)), np.array([1, 2]), np.zeros((3, 28, 28)), np.array([1, 2]))
    as_mnist(monkeypatch, sums)
    with pytest.raises(data.DataError) as e:
        data.load("mnist")
    assert str(e.value).startswith(f"{folder / 't10k-labels-idx1-ubyte.gz'} holds 2 labels but "
                                   "t10k-images-idx3-ubyte.gz holds 3 images: the files do not belong together.")


def test_the_verified_cache_records_each_file_by_its_resolved_path_size_and_time(fresh, monkeypatch):
    folder = fresh / "assets" / "mnist"
    sums = write_set(folder, np.zeros((2, 28, 28)), np.array([1, 2]))
    as_mnist(monkeypatch, sums)
    data.load("mnist")
    entries = json.loads((fresh / "cache" / "verified.json").read_text())
    assert len(entries) == 4
    for key, fname in data.FILES.items():
        st = (folder / fname).stat()
        assert entries[str((folder / fname).resolve())] == {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                                              "sha256": sums[key]}
    (fresh / "cache" / "verified.json").write_text("[1, 2]")       # not a mapping: ignored
    assert data._read_verified() == {}


def test_an_unwritable_cache_only_means_hashing_again(fresh, monkeypatch):
    (fresh / "cache").write_text("a file where the folder should be")
    sums = write_set(fresh / "assets" / "mnist", np.zeros((2, 28, 28)), np.array([1, 2]))
    as_mnist(monkeypatch, sums)
    assert data.load("mnist").train_y.tolist() == [1, 2]


def test_an_embedded_data_set_needs_no_download():
    with pytest.raises(data.DataError) as e:
        data.download("mnist")
    assert str(e.value) == "mnist is embedded and needs no download"


def test_good_files_already_there_are_not_downloaded_again(tmp_path, monkeypatch):
    sums = write_set(tmp_path / "dl", np.zeros((2, 28, 28)), np.array([3, 4]))
    monkeypatch.setitem(data.DATASETS, "fashion", dataclasses.replace(data.DATASETS["fashion"], sha256=sums))

    def no_network(url, timeout):
        raise AssertionError(f"downloaded {url}")
    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    assert data.download("fashion", tmp_path / "dl") == tmp_path / "dl"


# -- splits ---------------------------------------------------------------------------------------

def test_the_split_is_the_seeded_permutation_cut_at_the_rounded_fraction():
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(7))
    s = data.split(1000, 0.0125, seed=7)                 # 12.5 -> 12 validation images
    assert torch.equal(s.val_idx, perm[:12]) and torch.equal(s.train_idx, perm[12:])
    sub = data.split(1000, 0.0125, subset=100, seed=7)
    assert torch.equal(sub.train_idx, perm[12:112]) and torch.equal(sub.val_idx, perm[:12])
    assert len(data.split(1000, 0.0135, seed=7).val_idx) == 14   # 13.5 rounds to 14
    assert data.split(10, 0.5, device="meta").train_idx.device.type == "meta"


def test_one_missing_embedded_file_is_named_alone(fresh):
    folder = fresh / "assets" / "mnist"
    write_set(folder, np.zeros((2, 28, 28)), np.array([1, 2]))
    (folder / data.FILES["test_images"]).unlink()
    with pytest.raises(data.DataError) as e:
        data.locate("mnist")
    assert str(e.value) == f"{folder / 't10k-images-idx3-ubyte.gz'} is missing. {data.fix_for('mnist', folder)}"


def test_data_sets_are_kept_per_name_and_device(fresh, monkeypatch):
    as_mnist(monkeypatch, write_set(fresh / "assets" / "mnist", np.zeros((2, 28, 28)), np.array([1, 2])))
    write_set(fresh / "debian", np.zeros((3, 28, 28)), np.array([3, 4, 5]))
    monkeypatch.setitem(data.DATASETS, "fashion", dataclasses.replace(
        data.DATASETS["fashion"], sha256={k: hashlib.sha256(gzip.decompress((fresh / "debian" / f).read_bytes())).hexdigest()
                                          for k, f in data.FILES.items()}))
    mnist, fashion = data.load(), data.load("fashion")
    assert (mnist.name, len(mnist.train_y)) == ("mnist", 2) and (fashion.name, len(fashion.train_y)) == ("fashion", 3)
    assert data.load("mnist") is mnist and data.load("fashion") is fashion
    meta = data.load("mnist", "meta")                # another device: a copy there, kept too
    assert meta.train_x.device.type == "meta" and meta.test_y.device.type == "meta"
    assert (meta.name, meta.class_names, meta.mean, meta.std) == (mnist.name, mnist.class_names, mnist.mean, mnist.std)
    assert data.load("mnist", torch.device("meta")) is meta and data.load("mnist") is mnist


def test_a_loaded_data_set_is_not_checked_again(fresh, monkeypatch):
    as_mnist(monkeypatch, write_set(fresh / "assets" / "mnist", np.zeros((2, 28, 28)), np.array([1, 2])))
    data.load("mnist")

    def no_stat(path):
        raise AssertionError(f"{path} was looked at again")
    monkeypatch.setattr(data, "_stamp", no_stat)
    assert data.check("mnist") == fresh / "assets" / "mnist"


def test_a_file_that_cannot_be_read_is_named_with_the_fix(fresh, monkeypatch):
    folder = fresh / "assets" / "mnist"
    write_set(folder, np.zeros((2, 28, 28)), np.array([1, 2]))

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(data, "_stamp", denied)
    with pytest.raises(data.DataError) as e:
        data.check("mnist")
    assert str(e.value) == (f"{folder / 'train-images-idx3-ubyte.gz'} cannot be read (Permission denied). "
                            f"{data.fix_for('mnist', folder)}")


def test_the_verified_cache_folder_is_made_with_its_parents(fresh, monkeypatch):
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(fresh / "deep" / "er" / "cache"))
    as_mnist(monkeypatch, write_set(fresh / "assets" / "mnist", np.zeros((2, 28, 28)), np.array([1, 2])))
    data.load("mnist")
    assert len(json.loads((fresh / "deep" / "er" / "cache" / "verified.json").read_text())) == 4


def test_a_download_gives_up_after_its_timeout(tmp_path, monkeypatch):
    asked = []

    def slow(url, timeout):
        asked.append((url, timeout))
        raise TimeoutError("timed out")
    monkeypatch.setattr(data.urllib.request, "urlopen", slow)
    with pytest.raises(data.DataUnavailable) as e:
        data.download("fashion", tmp_path, timeout=7.5)
    assert asked == [(data.DATASETS["fashion"].url + "train-images-idx3-ubyte.gz", 7.5)]
    assert str(e.value).startswith(f"could not download train-images-idx3-ubyte.gz from {data.DATASETS['fashion'].url} (timed out)")
