"""Which datasets the data root holds, and which suites and tiers use them; miniature copies.

    python -m datasets check [--data-root DIR]      (or: ./repro data)
    python -m datasets fake --layout NAME DIR       (or: ./repro data fake --layout NAME DIR): a few images
        in a published layout (datasets/fake.py; NAME: voc2007, voc2012, coco, ilsvrc_val, ilsvrc_train, ilsvrc_test,
        cityscapes, omniglot, vctk, mnist, flickr30k, pascal_sentences, sbu, or all)

Only looks for the top-level paths; the loaders check the files themselves when a suite runs.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import audio, camvid, captions, cityscapes, coco_detection, cub, ilsvrc, mnist, omniglot, voc, voc_detection

# (path under the data root, used by, tier, expected layout)
KNOWN = [
    ("mnist", "influence", "smoke", mnist.LAYOUT),
    ("omniglot/python/images_background_small1", "rare_events", "smoke", omniglot.LAYOUT),
    ("omniglot/python/images_background", "rare_events", "full", omniglot.LAYOUT),
    ("camvid/CamVid", "deeplab", "smoke", camvid.LAYOUT),
    ("audio/fsdd/recordings", "wavenet", "smoke", audio.FSDD_LAYOUT),
    ("audio/librosa-data/audio", "wavenet", "smoke", audio.LIBRI_LAYOUT),
    ("coco-caption", "show_and_tell (metric conformance)", "smoke", "coco-caption/{annotations,results}/*.json"),
    ("coco-detection", "detection (metric conformance)", "smoke", coco_detection.CONFORMANCE_LAYOUT),
    ("raccoon/annotations", "detection (figure, loader)", "smoke", voc_detection.RACCOON_LAYOUT),
    ("imagenet-loc/metadata", "cam (boxes)", "smoke/full", ilsvrc.LAYOUT),
    (ilsvrc.JPEG_DIR, "cam, architectures", "full", ilsvrc.LAYOUT),
    ("CUB_200_2011", "cam", "full", cub.LAYOUT),
    ("VOCdevkit/VOC2012", "deeplab, detection", "full", voc.LAYOUT),
    (voc.SBD_DIR, "deeplab (train_aug, if no SegmentationClassAug)", "full", voc.SBD_LAYOUT),
    ("VOCdevkit/VOC2007", "detection", "full", voc_detection.VOC_LAYOUT.format(year=2007, split="test")),
    ("coco/annotations", "detection, show_and_tell", "full", coco_detection.COCO_LAYOUT),
    ("cityscapes", "deeplab (loader)", "full", cityscapes.LAYOUT),
    ("pascal-sentences", "show_and_tell", "full", captions.PASCAL_LAYOUT),
    ("sbu", "show_and_tell", "full", captions.SBU_LAYOUT),
    ("audio/VCTK-Corpus-0.92", "wavenet", "full", audio.VCTK_LAYOUT),
]


def check(root: str | None) -> int:
    if not root:
        print("no data root: pass --data-root or set REPRO_DATA_ROOT")
        return 2
    base = Path(root)
    print(f"data root: {base}")
    width = max(len(rel) for rel, *_ in KNOWN)
    missing = 0
    for rel, users, tier, layout in KNOWN:
        ok = (base / rel).exists()
        missing += not ok
        print(f"  {'ok     ' if ok else 'missing'}  {rel:<{width}}  {tier:<10} {users}")
        if not ok and tier.startswith("smoke"):
            print(f"           expected: {layout}")
    print(f"{len(KNOWN) - missing} of {len(KNOWN)} present; a suite skips the tests whose data is missing")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m datasets", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["check", "fake"])
    ap.add_argument("--data-root", default=os.environ.get("REPRO_DATA_ROOT"))
    ap.add_argument("--layout", help="fake: which published layout (or 'all')")
    ap.add_argument("--seed", type=int, default=0, help="fake: seed of the drawn images")
    ap.add_argument("dir", nargs="?", help="fake: the folder to write into (a data root)")
    args = ap.parse_intermixed_args(argv)
    if args.command == "fake":
        from . import fake
        if not args.layout or not args.dir:
            ap.error(f"fake needs --layout {{{','.join(fake.LAYOUTS)},all}} and DIR")
        try:
            written = fake.write(args.layout, args.dir, seed=args.seed)
        except ValueError as e:
            ap.error(str(e))
        for p in written:
            print(f"wrote {p}")
        print(f"miniature data root: {Path(args.dir).resolve()} (use --data-root {args.dir})")
        return 0
    return check(args.data_root)


if __name__ == "__main__":
    sys.exit(main())
