"""The lecture notes' training claims (CS231n-style): optimizers, initialisation, batch norm,
dropout, gradient checking, RNN vs LSTM, residual depth, adversarial examples."""
from . import adversarial, gradcheck, init, nets, optim, rnn
from .nets import MLP, loss_and_accuracy, mnist_features, train_mlp

__all__ = ["adversarial", "gradcheck", "init", "nets", "optim", "rnn", "MLP", "loss_and_accuracy", "mnist_features",
           "train_mlp"]
