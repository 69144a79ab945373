"""The reference CPU benchmark that every quoted time stands beside.

Machines of the developers' kind differ by about 3x, so a run's wall time means little alone.
`reference_benchmark()` trains timm's resnet18 on 64x64 batches of 64 with 2 threads (fp32) for
a few seconds and returns images per second: about 66 on a slow machine of this kind, about
190 on a fast one. `./repro reproduce` prints it beside the run's time, and the report shows it.

    python -m harness.bench          # prints the figure
"""
from __future__ import annotations

import time

SLOW_IMG_S, FAST_IMG_S = 66.0, 190.0
DESCRIPTION = "timm resnet18, 64x64, batch 64, 2 threads, fp32 training"


def reference_benchmark(seconds: float = 4.0, batch: int = 64, threads: int = 2) -> dict:
    """Train resnet18 for about `seconds` (after one warm-up step); images per second."""
    import timm
    import torch

    from reference_impls.common import num_threads

    g = torch.Generator().manual_seed(0)
    with num_threads(threads):
        model = timm.create_model("resnet18", pretrained=False, num_classes=10)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = torch.randn(batch, 3, 64, 64, generator=g)
        y = torch.randint(0, 10, (batch,), generator=g)

        def step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        step()  # warm-up
        n, t0 = 0, time.perf_counter()
        while n < 3 or time.perf_counter() - t0 < seconds:
            step()
            n += 1
        elapsed = time.perf_counter() - t0
    img_s = n * batch / elapsed
    return {"img_s": round(img_s, 1), "what": DESCRIPTION, "steps": n,
            "relative_to_slow": round(img_s / SLOW_IMG_S, 2)}


def describe(bench: dict | None) -> str:
    if not bench:
        return "reference benchmark not measured"
    return (f"reference benchmark: {bench['img_s']:.0f} img/s ({bench['what']}; "
            f"slow machine of this kind ~{SLOW_IMG_S:.0f}, fast ~{FAST_IMG_S:.0f})")


if __name__ == "__main__":
    print(describe(reference_benchmark()))
