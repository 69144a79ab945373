"""Influence of training points on a test loss (Koh & Liang 2017, eqs. 2 and 5):

    I_up,loss(z, z_test) = -∇_θ L(z_test, θ̂)ᵀ H_θ̂⁻¹ ∇_θ L(z, θ̂)

Removing z from an objective (1/n) Σ ℓ_i + (λ/2)||θ||² is up-weighting it by ε = -1/n, so the
predicted change of the test loss is -(1/n) I_up,loss = (1/n) s_testᵀ ∇ℓ(z), s_test = H⁻¹∇L_test.
"""
from __future__ import annotations

import torch


def influence_up_loss(train_grads: torch.Tensor, s_test: torch.Tensor) -> torch.Tensor:
    """I_up,loss(z_i, z_test) for every row ∇ℓ(z_i) of `train_grads`, given s_test = H⁻¹∇L(z_test)."""
    return -(train_grads @ s_test)


def predicted_loss_change_on_removal(train_grads: torch.Tensor, s_test: torch.Tensor, n: int) -> torch.Tensor:
    """Predicted L(z_test, θ̂_{-i}) - L(z_test, θ̂) for removing each training point."""
    return -influence_up_loss(train_grads, s_test) / n


def self_influence(train_grads: torch.Tensor, ihvp) -> torch.Tensor:
    """I_up,loss(z_i, z_i) = -∇ℓ_iᵀ H⁻¹ ∇ℓ_i for every row; `ihvp` maps a (p, m) matrix of
    columns to H⁻¹ times them (e.g. `lambda V: exact_ihvp(H, V)`)."""
    solved = ihvp(train_grads.T).T
    return -(train_grads * solved).sum(1)
