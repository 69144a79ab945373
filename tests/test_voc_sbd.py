"""datasets.voc reading the SBD release (benchmark_RELEASE/dataset/cls/*.mat) for train_aug: the fake
release as the real files are read, the train_aug list arithmetic, and malformed .mat files."""
import io
import shutil

import numpy as np
import pytest
import scipy.io

from datasets import DataError, DataMissing, fake, voc


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """Three miniature data roots: the SBD release only, SegmentationClassAug only, and both."""
    d = tmp_path_factory.mktemp("sbd")
    fake.voc2012(d / "sbd", n=4, n_aug=3, size=(48, 40), aug=("SBD",))
    fake.voc2012(d / "png", n=4, n_aug=3, size=(48, 40), aug=("SegmentationClassAug",))
    fake.voc2012(d / "both", n=4, n_aug=3, size=(48, 40))
    return d


def _copy(roots, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(roots / "sbd", root)
    return root, root / "benchmark_RELEASE" / "dataset"


def test_train_aug_list_arithmetic():
    # (SBD train + SBD val + VOC train) - VOC val: overlaps counted once, VOC val ids dropped wherever they are
    voc_train, voc_val = ["a", "b"], ["c", "d"]
    sbd_train, sbd_val = ["b", "c", "e"], ["f", "e", "d", "g"]
    ids = voc.train_aug_ids(voc_train, voc_val, sbd_train, sbd_val)
    assert ids == ["a", "b", "e", "f", "g"]
    union = set(voc_train) | set(sbd_train) | set(sbd_val)
    assert len(ids) == len(union) - len(union & set(voc_val)) == 7 - 2
    assert voc.train_aug_ids([], ["x"], ["x"], ["x"]) == []


def test_fake_release_is_read_as_the_real_files_are(roots):
    f = roots / "sbd" / "benchmark_RELEASE" / "dataset" / "cls" / "2008_000001.mat"
    # torchvision's SBDataset / mmsegmentation's voc_aug.py: loadmat(f)["GTcls"][0]["Segmentation"][0]
    mat = scipy.io.loadmat(f)
    seg = mat["GTcls"][0]["Segmentation"][0]
    assert seg.dtype == np.uint8 and seg.shape == (40, 48) and set(np.unique(seg)) <= set(range(21))
    assert mat["GTcls"].dtype.names == ("Segmentation", "Boundaries", "CategoriesPresent")
    bounds = mat["GTcls"][0]["Boundaries"][0]
    assert bounds.shape == (20, 1) and bounds[0][0].shape == (40, 48) and hasattr(bounds[0][0], "toarray")
    present = mat["GTcls"][0]["CategoriesPresent"][0].ravel()
    assert sorted(present) == sorted(c for c in np.unique(seg) if c)
    for c in present:      # each present class has its boundary pixels, on its own region
        b = bounds[int(c) - 1][0].toarray().astype(bool)
        assert b.any() and (seg[b] == c).all()
    assert scipy.io.loadmat(f.parent.parent / "inst" / f.name)["GTinst"].dtype.names == \
        ("Segmentation", "Boundaries", "Categories")
    assert f.read_bytes()[:10] == b"MATLAB 5.0" and f.read_bytes()[126:128] == b"IM"   # v5 header, little-endian


def test_fake_release_bytes_are_deterministic(tmp_path):
    for k in "ab":
        fake.voc2012(tmp_path / k, n=2, n_aug=1, size=(24, 20), aug=("SBD",))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "benchmark_RELEASE").rglob("*.*"))
    assert files and all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in files)


def test_reader_on_the_fake_release(roots):
    ds = voc.VOCSegmentation(roots / "sbd", "train_aug")
    assert ds.source == "SBD"
    # VOC train (2007_000032/33) + SBD's extra images; 2007_000034 (VOC val, in SBD train) is left out
    assert ds.ids == ["2007_000032", "2007_000033", "2008_000001", "2008_000002", "2008_000003"]
    assert ds.ids == voc.read_ids(roots / "png", "train_aug")        # the same ids as the converted layout's list
    png = voc.VOCSegmentation(roots / "png", "train_aug")
    assert png.source == "SegmentationClassAug"
    sbd = roots / "sbd" / "benchmark_RELEASE" / "dataset"
    for i, iid in enumerate(ds.ids):
        x, y, got = ds[i]
        assert got == iid and x.shape == (3, 40, 48) and y.shape == (40, 48)
        if iid in ("2007_000032", "2007_000033"):    # VOC train: VOC's own label, borders 255
            assert (y == 255).any()
            assert np.array_equal(y.numpy(), voc.read_label(roots / "sbd" / "VOCdevkit/VOC2012/SegmentationClass"
                                                            / f"{iid}.png", expect_palette=True))
        else:                                        # SBD: GTcls.Segmentation, and the PNG converted from it
            seg = scipy.io.loadmat(sbd / "cls" / f"{iid}.mat")["GTcls"][0]["Segmentation"][0]
            assert np.array_equal(y.numpy(), seg) and np.array_equal(y.numpy(), png[i][1].numpy())


def test_which_layout_is_used(roots, tmp_path):
    assert voc.train_aug_source(roots / "both") == "SegmentationClassAug"      # the converted PNGs first
    assert voc.VOCSegmentation(roots / "both", "train_aug", aug_source="SBD").source == "SBD"
    with pytest.raises(DataMissing, match="no SBD release"):
        voc.VOCSegmentation(roots / "png", "train_aug", aug_source="SBD")
    with pytest.raises(DataMissing, match="SegmentationClassAug"):
        voc.VOCSegmentation(roots / "sbd", "train_aug", aug_source="SegmentationClassAug")
    root, sbd = _copy(roots, tmp_path)
    (sbd / "val.txt").unlink()
    with pytest.raises(DataMissing, match="train_aug.txt.*benchmark_RELEASE/dataset"):
        voc.read_ids(root, "train_aug")
    assert voc.VOCSegmentation(root, "val").source == "SegmentationClass"


def _savemat(path, variables):
    buf = io.BytesIO()
    scipy.io.savemat(buf, variables)
    path.write_bytes(buf.getvalue())


SEG = np.zeros((40, 48), np.uint8)


@pytest.mark.parametrize("corrupt, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:300]), "not a readable MATLAB v5 MAT-file"),          # truncated
    (lambda p: p.write_text("this is not a MAT-file\n"), "not a readable MATLAB v5 MAT-file"),
    (lambda p: p.write_bytes(b""), "not a readable MATLAB v5 MAT-file"),
    (lambda p: _savemat(p, {"GTinst": {"Segmentation": SEG}}), r"no variable 'GTcls' \(found \['GTinst'\]\)"),
    (lambda p: _savemat(p, {"GTcls": {"Seg": SEG}}), r"struct without 'Segmentation' \(fields \['Seg'\]\)"),
    (lambda p: _savemat(p, {"GTcls": SEG}), "GTcls is ndarray of dtype uint8"),
    (lambda p: _savemat(p, {"GTcls": {"Segmentation": SEG.astype(np.float64)}}), "Segmentation is float64"),
    (lambda p: _savemat(p, {"GTcls": {"Segmentation": np.zeros((40, 48, 3), np.uint8)}}), r"shape \(40, 48, 3\)"),
    (lambda p: _savemat(p, {"GTcls": {"Segmentation": np.zeros((20, 48), np.uint8)}}),
     "Segmentation is 48x20 but the image is 48x40"),
    (lambda p: _savemat(p, {"GTcls": {"Segmentation": np.full((40, 48), 21, np.uint8)}}), "unknown class id 21"),
    (lambda p: _savemat(p, {"GTcls": {"Segmentation": np.full((40, 48), 254, np.uint8)}}), "unknown class id 254"),
    (lambda p: p.unlink(), "2008_000002.mat: listed in the SBD lists but missing"),
])
def test_malformed_mat_names_the_file(roots, tmp_path, corrupt, message):
    root, sbd = _copy(roots, tmp_path)
    bad = sbd / "cls" / "2008_000002.mat"
    corrupt(bad)
    ds = voc.VOCSegmentation(root, "train_aug")
    i = ds.ids.index("2008_000002")
    ds[i - 1], ds[i + 1]                              # the others still read
    with pytest.raises(DataError, match=message) as e:
        ds[i]
    assert str(bad) in str(e.value)


def test_ignore_label_255_is_accepted(roots, tmp_path):
    root, sbd = _copy(roots, tmp_path)
    seg = SEG.copy()
    seg[0], seg[1] = 255, 20
    _savemat(sbd / "cls" / "2008_000002.mat", {"GTcls": {"Segmentation": seg}})
    ds = voc.VOCSegmentation(root, "train_aug")
    y = ds[ds.ids.index("2008_000002")][1]
    assert int(y[0, 0]) == 255 and int(y[1, 0]) == 20
