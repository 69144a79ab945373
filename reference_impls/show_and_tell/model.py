"""Show and Tell (Vinyals et al., CVPR 2015): a CNN image embedding is the LSTM's first input.

    x_{-1} = W_I CNN(I),   x_t = W_e S_t,   p_{t+1} = softmax(W_o LSTM(x_t))      (eq. 10-12)

The image is shown once, at t = -1; the word at t = 0 is <start>; training is teacher forcing on
the reference words; dropout on the embeddings and the LSTM output. Decoders (decode.py) only
use `start(images)` and `step(words, state)`, so an `Ensemble` of models decodes the same way.
"""
from __future__ import annotations

import torch
from torch import nn

from reference_impls.common.backbones import backbone


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def normalizer(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) as (1, 3, 1, 1) tensors: "imagenet" -- the statistics an ImageNet checkpoint
    expects (full tier) -- or "proxy" (0.5, 0.25), for CNNs trained from scratch on the scenes."""
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if kind == "imagenet" else ((0.5,) * 3, (0.25,) * 3)
    if kind not in ("imagenet", "proxy"):
        raise ValueError(f"normalize must be 'imagenet' or 'proxy', got {kind!r}")
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


class FrozenEncoder:
    """Mixin for a captioner whose CNN is `self.encoder` (Show and Tell, Show, Attend and Tell):
    the CNN can be frozen, and a frozen CNN stays in eval mode (its batch-norm statistics too)
    while the rest of the model trains."""

    def set_encoder_trainable(self, trainable: bool):
        for p in self.encoder.parameters():
            p.requires_grad_(trainable)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and not any(p.requires_grad for p in self.encoder.parameters()):
            self.encoder.eval()
        return self


class ShowAndTell(FrozenEncoder, nn.Module):
    def __init__(self, vocab_size: int, encoder: str = "resnet10t", encoder_kwargs: dict | None = None,
                 encoder_weights=None, embed: int = 256, hidden: int = 256, dropout: float = 0.3,
                 normalize: str = "proxy"):
        super().__init__()
        # the paper's GoogLeNet in the full tier ("inception_v3" / "googlenet"-like timm models);
        # a narrow timm ResNet for the smoke proxy
        self.encoder = backbone(encoder, weights=encoder_weights, num_classes=0, **(encoder_kwargs or {}))
        self.img_embed = nn.Linear(self.encoder.num_features, embed)
        self.word_embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)
        mean, std = normalizer(normalize)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    # -- image side
    def _normalized(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        return (images - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled CNN features (B, D); images are uint8 (B,3,H,W) or float in [0,1]."""
        return self.encoder(self._normalized(images))

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        """The CNN's last feature grid (B, D, h, w), before pooling."""
        return self.encoder.forward_features(self._normalized(images))

    # -- training: teacher forcing
    def forward(self, captions: torch.Tensor, images: torch.Tensor | None = None, feats: torch.Tensor | None = None):
        """Logits (B, T, V) for predicting captions[:, 1:] from <start> w1 .. w_{T-1} and the image.
        Give either images or precomputed CNN features (stage 1, frozen encoder)."""
        if feats is None:
            feats = self.features(images)
        x_img = self.drop(self.img_embed(feats))[:, None]                  # t = -1
        x_words = self.drop(self.word_embed(captions[:, :-1]))             # t = 0 .. T-1
        h, _ = self.lstm(torch.cat([x_img, x_words], 1))
        return self.out(self.drop(h[:, 1:]))

    # -- inference interface used by decode.py
    def start(self, images: torch.Tensor | None = None, feats: torch.Tensor | None = None):
        if feats is None:
            feats = self.features(images)
        _, state = self.lstm(self.img_embed(feats)[:, None])
        return state                                                       # (h, c), each (1, B, H)

    def step(self, words: torch.Tensor, state):
        h, state = self.lstm(self.word_embed(words)[:, None], state)
        return torch.log_softmax(self.out(h[:, 0]).float(), -1), state


class Ensemble(nn.Module):
    """Average the word distributions of several models at every step (the paper's ensembling)."""

    def __init__(self, models):
        super().__init__()
        self.models = nn.ModuleList(models)

    def start(self, images=None, feats=None):
        if feats is not None:
            raise ValueError("an ensemble decodes from images (each member has its own CNN)")
        return [m.start(images) for m in self.models]

    def step(self, words, state):
        outs = [m.step(words, s) for m, s in zip(self.models, state)]
        logp = torch.logsumexp(torch.stack([o[0] for o in outs]), 0) - torch.log(torch.tensor(float(len(outs))))
        return logp, [o[1] for o in outs]
