"""The spatial transformer's grid generator and bilinear sampler (Jaderberg et al. 2015, section 3.2-3.3),
written out so that its gradients are the paper's (eq. 6-7), not a library kernel's.

    grid = affine_grid(theta, 21, 21)     # theta (B, 2, 3): output coords -> input coords
    V = bilinear_sample(U, grid)          # U (B, C, H, W) -> V (B, C, 21, 21)

Coordinates are normalised to [-1, 1] with pixel centres at (2j + 1) / W - 1 (torch's
align_corners=False convention); samples outside the input read zero. The two functions give the
numbers of torch.nn.functional.affine_grid / grid_sample(mode="bilinear", padding_mode="zeros",
align_corners=False).
"""
from __future__ import annotations

import torch


def affine_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Source coordinates (B, H, W, 2) as (x, y) of every target pixel centre: (x_s, y_s) = theta (x_t, y_t, 1)."""
    ys = (2 * torch.arange(height, dtype=theta.dtype, device=theta.device) + 1) / height - 1
    xs = (2 * torch.arange(width, dtype=theta.dtype, device=theta.device) + 1) / width - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(-1, 3)    # (H*W, 3)
    return (base @ theta.transpose(1, 2)).reshape(theta.shape[0], height, width, 2)


def bilinear_sample(U: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """V_i = sum_nm U_nm max(0, 1 - |x_i - m|) max(0, 1 - |y_i - n|) (eq. 5), zero outside U.
    Differentiable in U (eq. 6) and in the grid (eq. 7: the floor is a constant of the sub-gradient)."""
    B, C, H, W = U.shape
    Ho, Wo = grid.shape[1:3]
    x = ((grid[..., 0] + 1) * W - 1) / 2          # pixel coordinates of the sampling points
    y = ((grid[..., 1] + 1) * H - 1) / 2
    x0, y0 = torch.floor(x.detach()), torch.floor(y.detach())
    flat = U.reshape(B, C, H * W)
    out = 0
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            w = (1 - (x - xi).abs()) * (1 - (y - yi).abs())                 # (B, Ho, Wo)
            valid = (xi >= 0) & (xi <= W - 1) & (yi >= 0) & (yi <= H - 1)
            idx = (yi.clamp(0, H - 1) * W + xi.clamp(0, W - 1)).long().reshape(B, 1, -1).expand(B, C, -1)
            vals = flat.gather(2, idx).reshape(B, C, Ho, Wo)
            out = out + vals * (w * valid).unsqueeze(1)
    return out


def transform(U: torch.Tensor, theta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """U warped by theta into an output of `size` (H, W)."""
    return bilinear_sample(U, affine_grid(theta, *size))


def identity(batch: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
    return torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], dtype=dtype, device=device).expand(batch, 2, 3).contiguous()


def homogeneous(theta: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) affine maps -> (B, 3, 3) matrices (for composing and inverting)."""
    last = torch.zeros(theta.shape[0], 1, 3, dtype=theta.dtype, device=theta.device)
    last[..., 2] = 1
    return torch.cat([theta, last], dim=1)


def finite_difference_check(U: torch.Tensor, theta: torch.Tensor, size=(5, 6), eps: float = 1e-6,
                            seed: int = 0) -> dict:
    """Analytic gradients of L = sum(R * sample(U, grid(theta))) (R random) against central finite
    differences, w.r.t. every entry of theta and of U (float64). Returns the largest absolute error of
    each, and the largest gradient (for scale)."""
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(U.shape[0], U.shape[1], *size, generator=g, dtype=U.dtype)

    def loss(u, t):
        return (R * transform(u, t, size)).sum()

    u, t = U.clone().requires_grad_(True), theta.clone().requires_grad_(True)
    loss(u, t).backward()
    out = {}
    for name, base, grad in (("theta", theta, t.grad), ("U", U, u.grad)):
        num = torch.zeros_like(base)
        flat, nflat = base.reshape(-1), num.reshape(-1)
        for i in range(flat.numel()):
            plus, minus = flat.clone(), flat.clone()
            plus[i] += eps
            minus[i] -= eps
            args = (plus.reshape(base.shape), minus.reshape(base.shape))
            if name == "theta":
                lp, lm = loss(U, args[0]), loss(U, args[1])
            else:
                lp, lm = loss(args[0], theta), loss(args[1], theta)
            nflat[i] = (lp - lm) / (2 * eps)
        out[f"max_err_{name}"] = float((grad - num).abs().max())
        out[f"max_grad_{name}"] = float(grad.abs().max())
    return out
