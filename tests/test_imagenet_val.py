"""datasets.imagenet: the ILSVRC2012 val classification loader (architectures' full tier) on fake layouts."""
import pytest
from PIL import Image

from datasets import DataError, DataMissing
from datasets.imagenet import FLAT, LABELS, ImageFiles, val_samples


def _flat(tmp_path, labels: str, names=("ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG")):
    (tmp_path / FLAT).mkdir()
    for n in names:
        Image.new("RGB", (8, 6), (200, 10, 10)).save(tmp_path / FLAT / n)
    (tmp_path / LABELS).parent.mkdir(parents=True)
    (tmp_path / LABELS).write_text(labels)
    return tmp_path


def test_flat_layout_with_wsolevaluation_labels(tmp_path):
    root = _flat(tmp_path, "val/ILSVRC2012_val_00000001.JPEG,65\nval/ILSVRC2012_val_00000002.JPEG,970\n")
    samples = val_samples(root)
    assert [(p.name, y) for p, y in samples] == [("ILSVRC2012_val_00000001.JPEG", 65),
                                                 ("ILSVRC2012_val_00000002.JPEG", 970)]
    x, y = ImageFiles(samples, lambda im: im.size)[0]
    assert x == (8, 6) and y == 65


@pytest.mark.parametrize("labels, msg", [
    ("val/ILSVRC2012_val_00000001.JPEG\n", "expected '<image path>,<class index>'"),
    ("val/ILSVRC2012_val_00000001.JPEG,1000\n", "class index 1000 outside 0..999"),
    ("val/ILSVRC2012_val_00000001.JPEG,3\n", "no class label for this image"),
])
def test_malformed_labels_name_the_file(tmp_path, labels, msg):
    root = _flat(tmp_path, labels)
    with pytest.raises(DataError, match=msg) as e:
        val_samples(root)
    assert "ILSVRC2012_val_0000000" in str(e.value) or "class_labels.txt" in str(e.value)


def test_image_folder_layout_needs_1000_classes(tmp_path):
    (tmp_path / "imagenet" / "val" / "n01440764").mkdir(parents=True)
    with pytest.raises(DataError, match="expected 1000 class folders, found 1"):
        val_samples(tmp_path)


def test_missing_layout_and_truncated_image(tmp_path):
    with pytest.raises(DataMissing, match="ILSVRC2012_img_val"):
        val_samples(tmp_path)
    root = _flat(tmp_path, "val/ILSVRC2012_val_00000001.JPEG,1\n", names=("ILSVRC2012_val_00000001.JPEG",))
    jpg = root / FLAT / "ILSVRC2012_val_00000001.JPEG"
    jpg.write_bytes(jpg.read_bytes()[:40])   # cut mid-file
    with pytest.raises(DataError, match="ILSVRC2012_val_00000001.JPEG: unreadable or truncated"):
        ImageFiles(val_samples(root), lambda im: im)[0]
