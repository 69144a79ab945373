"""Koh & Liang, "Understanding Black-box Predictions via Influence Functions" (ICML 2017)."""
from .influence import influence_up_loss, predicted_loss_change_on_removal, self_influence
from .loo import leave_one_out, newton
from .models import BinaryLogReg, FunctionalNet, MultiLogReg, SmallCNN, SmoothHingeSVM, smooth_hinge
from .solvers import SingularHessianError, cg_ihvp, cholesky, exact_ihvp, hvp, lissa_ihvp

__all__ = ["influence_up_loss", "predicted_loss_change_on_removal", "self_influence", "leave_one_out", "newton",
           "BinaryLogReg", "MultiLogReg", "SmoothHingeSVM", "SmallCNN", "FunctionalNet", "smooth_hinge",
           "SingularHessianError", "cg_ihvp", "cholesky", "exact_ihvp", "hvp", "lissa_ihvp"]
