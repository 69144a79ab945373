"""A rehearsal of the full tier: what each paper's training would cost on this device.

    ./repro rehearse [--device cuda] [--steps 200] [--papers deeplab,yolo] [--scale 1.0] [--out DIR]

For every full-tier training path it builds the paper's model (random weights; nothing is read but
the code), and measures at the paper's input resolution and batch size, on synthetic tensors:

- compute rate: `steps` training steps (forward, loss, backward, optimizer) after `warmup` steps,
  timed with the device synchronised at both ends only (images/s, step time, peak memory);
- input rate: the paper's decoding path (JPEG/PNG/FLAC decode, resize, crop, to tensor) over a
  miniature copy of the real layout (`datasets.fake`, images drawn at the originals' typical sizes),
  through `common.loader` with its default workers, for as many images as the compute measurement
  used; an input rate below the compute rate flags the pipeline as input-bound;
- the projected device-hours of the paper's schedule (its iterations x batch, from the suite's
  full-tier configuration) at the measured compute rate, per process (divide by the GPU count for DDP).

It writes `rehearsal.md` and `rehearsal.json` (default reports/out/rehearsal/) and prints the table.
`--scale s` multiplies resolution and batch (only for the CPU run in CI: a scaled row is marked and
its projection is not a projection of the paper's schedule).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn


@dataclass
class Path_:
    """One full-tier training path: the model, a synthetic batch, the loss, the decoding dataset."""
    paper: str
    what: str
    build: Callable[[], nn.Module]
    batch: Callable[[int, int, torch.device], object]     # (batch size, resolution, device) -> batch
    loss: Callable[[nn.Module, object], torch.Tensor]
    resolution: int                 # the paper's input side (pixels) or crop length (samples)
    batch_size: int
    schedule_iters: int             # the paper's number of training iterations of `batch_size`
    schedule: str                   # where that number comes from
    layout: str                     # datasets.fake layout the input pipeline decodes
    decode: Callable[[Path, int], torch.Tensor]   # (file, resolution) -> one decoded, augmented sample
    files: Callable[[Path], list]   # the layout's input files
    unit: str = "img"
    min_res: int = 32               # the smallest input the model takes (a scaled CPU run stays above it)
    lr: float = 1e-3
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- decoding (the real work per sample)
def _decode_rgb(path: Path, res: int, crop: bool = True) -> torch.Tensor:
    """Decode, random-scale/resize, crop to res x res, flip, to a uint8 tensor: the image paths' CPU work."""
    from PIL import Image

    from datasets import read_rgb
    img = read_rgb(path)
    s = res / min(img.size) * float(np.random.uniform(1.0, 1.25) if crop else 1.0)
    img = img.resize((max(res, round(img.width * s)), max(res, round(img.height * s))), Image.BILINEAR)
    x0, y0 = np.random.randint(0, img.width - res + 1), np.random.randint(0, img.height - res + 1)
    arr = np.asarray(img.crop((x0, y0, x0 + res, y0 + res)))
    if np.random.rand() < 0.5:
        arr = arr[:, ::-1]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _decode_gray(path: Path, res: int) -> torch.Tensor:
    """Decode a 1-bit Omniglot PNG, resize 105 -> res (the official data prep), to a uint8 tensor."""
    from PIL import Image
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("L").resize((res, res), Image.BILINEAR)).copy())


def _decode_audio(path: Path, length: int) -> torch.Tensor:
    """Decode FLAC, resample 48 -> 16 kHz, mu-law encode a random crop of `length` samples."""
    from datasets.audio import mu_law_encode, read_audio
    wav = read_audio(path, 16000, resample_to_sr=True)
    if len(wav) < length:
        wav = np.tile(wav, length // len(wav) + 1)
    s = np.random.randint(0, len(wav) - length + 1)
    return mu_law_encode(torch.from_numpy(wav[s:s + length].copy()))


def _images(sub: str, pattern: str):
    return lambda root: sorted((root / sub).rglob(pattern))


class _Files(torch.utils.data.Dataset):
    def __init__(self, files, n, res, decode):
        self.files, self.n, self.res, self.decode = files, n, res, decode

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.decode(self.files[i % len(self.files)], self.res)


# ----------------------------------------------------------------------------- the papers' paths
def _paths() -> list[Path_]:
    def rgb(b, r, d):
        return torch.randn(b, 3, r, r, device=d)

    def cls_batch(n_cls):
        return lambda b, r, d: (rgb(b, r, d), torch.randint(0, n_cls, (b,), device=d))

    def cam_build():
        from reference_impls.cam import build_model
        return build_model("googlenet", 1000, pool="gap")

    def deeplab_build():
        from reference_impls.deeplab import build_model
        from reference_impls.deeplab.voc import VOC_FULL
        return build_model(VOC_FULL)

    def deeplab_loss(m, b):
        from reference_impls.deeplab.model import msc_loss
        return msc_loss(m(b[0]), b[1])

    def frcnn_build():
        from reference_impls.detection import build_faster_rcnn
        return build_faster_rcnn(21, "vgg16", min_size=600, max_size=1000, anchor_sizes=(128, 256, 512))

    def det_targets(b, r, d, n_cls):
        g = torch.Generator().manual_seed(0)
        out = []
        for _ in range(b):
            xy = torch.rand(3, 2, generator=g) * r * 0.6
            wh = torch.rand(3, 2, generator=g) * r * 0.3 + 16
            out.append({"boxes": torch.cat([xy, xy + wh], 1).to(d),
                        "labels": torch.randint(1, n_cls, (3,), generator=g).to(d)})
        return out

    def frcnn_batch(b, r, d):
        return [torch.rand(3, r, int(r * 5 / 3), device=d) for _ in range(b)], det_targets(b, r, d, 21)

    def frcnn_loss(m, batch):
        return sum(m(batch[0], batch[1]).values())

    def yolo_build():
        from reference_impls.detection import build_yolo
        return build_yolo("resnet50", 4, 20, input_size=448, S=7, B=2, hidden=4096, dropout=0.5, head_channels=1024)

    def yolo_batch(b, r, d):
        t = det_targets(b, r, d, 21)
        return rgb(b, r, d), [{"boxes": x["boxes"], "labels": x["labels"] - 1} for x in t]

    def yolo_loss(m, batch):
        mm = m.module if hasattr(m, "module") else m
        return mm.loss(m(batch[0]), batch[1], batch[0].shape[-1])

    def wavenet_build():
        from reference_impls.wavenet.model import WaveNetConfig, build_model, dilation_stack
        return build_model(WaveNetConfig(residual_channels=64, dilation_channels=64, skip_channels=256,
                                         dilations=dilation_stack(5, 512), n_speakers=109, speaker_dim=32))

    def wavenet_batch(b, r, d):
        return torch.randint(0, 256, (b, r), device=d), torch.randint(0, 109, (b,), device=d)

    def wavenet_loss(m, batch):
        from reference_impls.wavenet.model import teacher_forced_loss
        return teacher_forced_loss(m, batch[0], batch[1])

    def st_build():
        from reference_impls.show_and_tell import FULL, build_model
        return build_model(FULL, 10000)

    def st_batch(b, r, d):
        caps = torch.randint(4, 10000, (b, 22), device=d)
        caps[:, 0] = 1
        return rgb(b, r, d), caps

    def st_loss(m, batch):
        from reference_impls.show_and_tell import caption_loss
        return caption_loss(m, batch[1], images=batch[0])

    def rare_build():
        from reference_impls.rare_events.model import PAPER, build_model
        return build_model(PAPER)

    def rare_batch(b, r, d):      # one step of `b` parallel episodes: images and episode-local labels
        return torch.rand(b, r, r, device=d), torch.randint(0, b * 5, (b,), device=d)

    rare_steps = itertools.count()

    def rare_loss(m, batch):
        if next(rare_steps) % 30 == 0:   # the official train.py clears the memory before every batch of episodes
            (m.module if hasattr(m, "module") else m).memory.clear()
        return m(batch[0], batch[1])[1]

    voc_jpegs = _images("VOCdevkit/VOC2012/JPEGImages", "*.jpg")
    return [
        Path_("cam", "GoogLeNet-GAP fine-tuning", cam_build, cls_batch(1000),
              lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), 224, 64, -(-1_281_167 // 64),
              "one epoch of ILSVRC train (1,281,167 images; the paper does not state its fine-tuning length)",
              "ilsvrc_val", _decode_rgb, _images("ILSVRC2012_img_val", "*.JPEG")),
        Path_("deeplab", "DeepLab-ResNet-101 ASPP-L MSC, VOC train_aug", deeplab_build,
              lambda b, r, d: (rgb(b, r, d), torch.randint(0, 21, (b, r, r), device=d)), deeplab_loss, 321, 10, 20_000,
              "20k iterations of batch 10 (VOC_FULL, DeepLab v2 sec. 4.1)", "voc2012", _decode_rgb, voc_jpegs),
        Path_("detection", "Faster R-CNN VGG-16, VOC 07 (600 px)", frcnn_build, frcnn_batch, frcnn_loss, 600, 1,
              80_000, "60k + 20k iterations of 1 image (Faster R-CNN, VOC 2007)", "voc2007",
              lambda p, r: _decode_rgb(p, r, crop=False), _images("VOCdevkit/VOC2007/JPEGImages", "*.jpg")),
        Path_("detection", "YOLO v1 (ResNet-50 backbone), VOC 07+12", yolo_build, yolo_batch, yolo_loss, 448, 64,
              135 * (16_551 // 64), "135 epochs of VOC 07+12 trainval (16,551 images), batch 64 (YOLO sec. 2.2)",
              "voc2007", lambda p, r: _decode_rgb(p, r, crop=False), _images("VOCdevkit/VOC2007/JPEGImages", "*.jpg"),
              min_res=448),
        Path_("show_and_tell", "Inception-v3 + LSTM, fine-tuning stage", st_build, st_batch, st_loss, 299, 32,
              30 * (119_287 // 32), "20 + 10 epochs of the paper's COCO split (train2014 + val2014 less 4,000 test: 119,287 images), batch 32 "
              "(FULL; stage 1 with the CNN frozen is cheaper than this rate)", "coco", _decode_rgb,
              _images("coco/train2014", "*.jpg"), min_res=75),
        Path_("rare_events", "memory module + LeNet encoder, Omniglot episodes", rare_build, rare_batch, rare_loss, 28, 16,
              200 * 100 * 30, "200 epochs x 100 batches of 16 episodes x 30 steps (the official train.py: 600k Adam steps)",
              "omniglot", _decode_gray, _images("omniglot/python/images_background", "*.png"), unit="episode", min_res=28,
              lr=1e-4),
        Path_("wavenet", "WaveNet 5x(1..512), VCTK speaker-conditioned", wavenet_build, wavenet_batch, wavenet_loss,
              8000, 16, 20_000, "20k iterations of 16 crops of 8,000 samples (suites/wavenet/test_full.py TRAIN)",
              "vctk", _decode_audio, _images("audio/VCTK-Corpus-0.92/wav48_silence_trimmed", "*_mic1.flac"),
              unit="crop", min_res=1024),
    ]


# the miniature layouts' images are drawn at the originals' typical sizes here (their default is smaller),
# so that the input rate measures the decoding cost of the real photographs' pixel counts
TYPICAL_SIZE = {"voc2007": (500, 375), "voc2012": (500, 375), "coco": (640, 480), "ilsvrc_val": (500, 375)}

LEFT = {"influence": "MNIST convex fits and Hessian-vector products: not a GPU training schedule"}


# ----------------------------------------------------------------------------- measuring
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_compute(p: Path_, device, steps: int, warmup: int, scale: float) -> dict:
    from .runtime import autocast
    torch.manual_seed(0)
    res = max(p.min_res, int(round(p.resolution * scale)))
    bs = max(1, int(round(p.batch_size * scale)))
    model = p.build().to(device).train()
    transform = getattr(model, "transform", None)
    if transform is not None and hasattr(transform, "min_size"):   # torchvision detectors resize internally
        transform.min_size, transform.max_size = (res,), int(round(res * 5 / 3))
    opt = torch.optim.SGD(model.parameters(), lr=p.lr, momentum=0.9)
    batch = p.batch(bs, res, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def one():
        with autocast(device):
            loss = p.loss(model, batch)
        loss = loss["loss"] if isinstance(loss, dict) else loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    for _ in range(warmup):
        one()
    _sync(device)
    t0 = time.perf_counter()
    losses = [one() for _ in range(steps)]
    _sync(device)
    dt = (time.perf_counter() - t0) / steps
    ok = bool(torch.isfinite(torch.stack(losses)).all())
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else _rss_gib()
    return {"resolution": res, "batch": bs, "step_s": dt, "rate": bs / dt, "peak_gib": peak, "finite_loss": ok}


def _rss_gib() -> float:
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    except Exception:   # noqa: BLE001 (not on every platform)
        return float("nan")


def measure_input(p: Path_, root: Path, n: int, res: int, workers: int | None) -> dict:
    from .distributed import default_workers, loader
    files = p.files(root)
    if not files:
        raise FileNotFoundError(f"no input files for {p.paper} in {root} (layout {p.layout})")
    workers = default_workers(workers)
    bs = max(1, min(n, 16))
    ds = _Files(files, max(n, bs), res, p.decode)
    dl = loader(ds, bs, seed=0, num_workers=workers, collate_fn=lambda b: torch.stack(b))
    it = iter(dl)
    next(it)                                  # worker start-up is not the steady-state rate
    t0, got = time.perf_counter(), 0
    for b in it:
        got += len(b)
    dt = time.perf_counter() - t0
    if got == 0:                              # one batch only: time a second pass
        t0 = time.perf_counter()
        got = sum(len(b) for b in dl)
        dt = time.perf_counter() - t0
    return {"input_rate": got / max(dt, 1e-9), "workers": workers}


def rehearse(device="cpu", steps: int = 200, warmup: int = 3, scale: float = 1.0, papers=None,
             data_root: Path | None = None, workers: int | None = None) -> dict:
    from datasets import fake

    from .runtime import pick_device
    device = pick_device(device)
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="repro-rehearse-") as tmp:
        root = Path(data_root) if data_root else Path(tmp)
        for p in _paths():
            if papers and p.paper not in papers:
                continue
            if data_root is None and not (root / f".{p.layout}").exists():
                size = TYPICAL_SIZE.get(p.layout)
                fake.LAYOUTS[p.layout](root, seed=0, **({"size": size} if size else {}))
                (root / f".{p.layout}").touch()
            row = {"paper": p.paper, "path": p.what, "schedule": p.schedule, "unit": p.unit,
                   "paper_resolution": p.resolution, "paper_batch": p.batch_size, "scaled": scale != 1.0}
            try:
                row.update(measure_compute(p, device, steps, warmup, scale))
                n_input = max(row["batch"] * min(steps, 8), 16)
                row.update(measure_input(p, root, n_input, row["resolution"], workers))
                row["input_bound"] = row["input_rate"] < row["rate"]
                row["projected_hours"] = p.schedule_iters * row["step_s"] / 3600 if not row["scaled"] else None
                row["error"] = None
            except Exception as e:    # noqa: BLE001 (one path's failure is a row of the table, not the end)
                row["error"] = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return {"device": name, "device_type": device.type, "steps": steps, "warmup": warmup, "scale": scale,
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "rows": rows, "left": LEFT}


def table(result: dict) -> str:
    out = [f"Rehearsal on **{result['device']}** ({result['date']}, torch {result['torch']}, {result['steps']} timed "
           f"steps after {result['warmup']} warm-up{', inputs scaled by ' + str(result['scale']) if result['scale'] != 1 else ''}).",
           "",
           "| paper | path | input x batch | step (s) | units/s | peak memory (GiB; CPU: process max RSS) | input units/s (workers) | input-bound | projected device-hours of the paper's schedule |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if r.get("error"):
            out.append(f"| {r['paper']} | {r['path']} | | failed: {r['error']} | | | | | |")
            continue
        proj = (f"{r['projected_hours']:.1f} h ({r['schedule']})" if r["projected_hours"] is not None else
                f"not projected (scaled from {r['paper_resolution']} x {r['paper_batch']})")
        out.append(f"| {r['paper']} | {r['path']} | {r['resolution']} x {r['batch']} | {r['step_s']:.3f} | "
                   f"{r['rate']:.1f} {r['unit']} | {r['peak_gib']:.2f} | {r['input_rate']:.1f} ({r['workers']}) | "
                   f"{'**yes**' if r['input_bound'] else 'no'} | {proj} |")
    for paper, why in result.get("left", {}).items():
        out.append(f"| {paper} | not rehearsed: {why} | | | | | | | |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="./repro rehearse", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per path (default 200 on GPU, 2 on CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10 on GPU, 1 on CPU)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply resolution and batch (CPU smoke runs only)")
    ap.add_argument("--papers", default="", help="comma-separated suites (default: all)")
    ap.add_argument("--data-root", default=None, help="decode these files instead of a fresh miniature layout")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers ($REPRO_LOADER_WORKERS overrides; default: common.distributed.default_workers)")
    ap.add_argument("--out", default="reports/out/rehearsal", help="folder for rehearsal.md and rehearsal.json")
    a = ap.parse_args(argv)
    from .runtime import pick_device
    dev = pick_device(a.device)
    gpu = dev.type == "cuda"
    steps = a.steps if a.steps is not None else (200 if gpu else 2)
    warmup = a.warmup if a.warmup is not None else (10 if gpu else 1)
    res = rehearse(dev, steps=steps, warmup=warmup, scale=a.scale, papers=[p for p in a.papers.split(",") if p],
                   data_root=Path(a.data_root) if a.data_root else None, workers=a.workers)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    md = table(res)
    (out / "rehearsal.md").write_text(md)
    (out / "rehearsal.json").write_text(json.dumps(res, indent=1, default=str))
    print(md)
    print(f"written: {out / 'rehearsal.md'}, {out / 'rehearsal.json'}")
    failed = [r for r in res["rows"] if r.get("error") or not r.get("finite_loss", True)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
