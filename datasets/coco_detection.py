"""COCO instances (2017 or 2014) and the conformance files for the COCO mAP.

    <data-root>/coco/annotations/instances_{val2017,train2017,val2014,...}.json
    <data-root>/coco/{val2017,train2017,...}/<12-digit id>.jpg
    <data-root>/coco-detection/annotations/instances_val2014_100.json        (conformance subset)
                              results/instances_val2014_fakebbox100_results.json
                              results/val2014_fake_eval_res.txt              (the official output)
"""
from __future__ import annotations

import re
from pathlib import Path

from . import DataError, locate, read_text
from . import read_json as _read_json

COCO_LAYOUT = "coco/{annotations/instances_<split><year>.json, <split><year>/<id>.jpg} (cocodataset.org downloads unpacked)"
CONFORMANCE_LAYOUT = ("coco-detection/{annotations/instances_val2014_100.json, results/instances_val2014_fakebbox100_results.json, "
                      "results/val2014_fake_eval_res.txt} (cocoapi's fake results and expected output)")


def read_json(path: Path) -> dict | list:
    """Parsed JSON; unreadable, non-UTF-8 or invalid JSON raises DataError naming the file."""
    return _read_json(path)


def load_coco(data_root, year: str = "2017", split: str = "val") -> dict:
    """{'annotations': path of the instances JSON, 'images': image folder, 'dataset': the parsed JSON}."""
    name = f"{split}{year}"
    ann = locate(data_root, f"coco/annotations/instances_{name}.json", COCO_LAYOUT)
    img_dir = locate(data_root, f"coco/{name}", COCO_LAYOUT)
    ds = read_json(ann)
    if not isinstance(ds, dict):
        raise DataError(f"{ann}: a COCO instances file is a JSON object, not {type(ds).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(ds.get(key), list):
            raise DataError(f"{ann}: no '{key}' list (not a COCO instances file)")
    return {"annotations": ann, "images": img_dir, "dataset": ds}


def parse_expected_output(path: Path, iou_type: str = "bbox") -> list[float]:
    """The 12 numbers of one `type=<iou_type>` block of a printed COCOeval summary."""
    text = read_text(path)
    m = re.search(rf"type={iou_type}\n(.*?)(?:\n-{{10,}}|\Z)", text, re.S)
    if not m:
        raise DataError(f"{path}: no 'type={iou_type}' block")
    nums = [float(x) for x in re.findall(r"\] = (-?[0-9.]+)", m.group(1))]
    if len(nums) != 12:
        raise DataError(f"{path}: the {iou_type} block has {len(nums)} numbers, expected 12")
    return nums


def load_conformance(data_root) -> dict:
    """Paths of cocoapi's val2014 100-image subset, its fake bbox results and the expected 12 numbers."""
    base = locate(data_root, "coco-detection", CONFORMANCE_LAYOUT)
    out = {"annotations": base / "annotations" / "instances_val2014_100.json",
           "results": base / "results" / "instances_val2014_fakebbox100_results.json",
           "expected_file": base / "results" / "val2014_fake_eval_res.txt"}
    for _k, p in out.items():
        if not p.exists():
            raise DataError(f"{p}: missing from {base} (expected layout {CONFORMANCE_LAYOUT})")
    out["expected"] = parse_expected_output(out["expected_file"], "bbox")
    return out
