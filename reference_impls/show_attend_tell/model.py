"""Show, Attend and Tell (Xu et al., ICML 2015), section 3: soft ("deterministic") attention.

The CNN gives L annotation vectors a_i (a feature grid, not one vector). At every step t the
decoder scores every location from its previous hidden state, e_ti = w^T tanh(W_a a_i + W_h h_{t-1}),
takes alpha_t = softmax(e_t), and reads the context z_t = beta_t sum_i alpha_ti a_i, where
beta_t = sigmoid(f_beta(h_{t-1})) is the gating scalar of section 4.2.1. The LSTM's input is
[E y_{t-1}; z_t]; its initial (h_0, c_0) come from the mean annotation vector (two MLPs); the word
distribution is the deep output p(y_t) ~ exp(L_o(E y_{t-1} + L_h h_t + L_z z_t)) (eq. 7).
Training adds the doubly stochastic penalty lambda sum_i (1 - sum_t alpha_ti)^2 (eq. 14),
which asks every location to receive about as much attention over the caption as any other.

Decoders (reference_impls.show_and_tell.decode) only use `start(images=, feats=)` and
`step(words, state)`; the state keeps the annotations with the batch on dim 1 so that beam
search can reorder it like the LSTM's (h, c).
"""
from __future__ import annotations

import torch
from torch import nn

from reference_impls.common.backbones import backbone
from reference_impls.show_and_tell.model import FrozenEncoder, normalizer


class ShowAttendTell(FrozenEncoder, nn.Module):
    def __init__(self, vocab_size: int, encoder: str = "resnet10t", encoder_kwargs: dict | None = None,
                 encoder_weights=None, embed: int = 128, hidden: int = 256, att: int = 128, dropout: float = 0.3,
                 normalize: str = "proxy", drop_final_pool: bool = False):
        super().__init__()
        self.encoder = backbone(encoder, weights=encoder_weights, num_classes=0, **(encoder_kwargs or {}))
        if drop_final_pool:   # VGG: conv5_4 before its max-pooling, the paper's 14x14x512 grid at 224x224
            feats = self.encoder.features
            if not isinstance(feats[-1], nn.MaxPool2d):
                raise ValueError(f"{encoder}: its feature stack does not end in a max-pooling layer")
            self.encoder.features = feats[:-1]
        D = self.encoder.num_features
        self.init_h, self.init_c = nn.Linear(D, hidden), nn.Linear(D, hidden)
        self.att_a, self.att_h, self.att_w = nn.Linear(D, att), nn.Linear(hidden, att, bias=False), nn.Linear(att, 1)
        self.f_beta = nn.Linear(hidden, 1)
        self.word_embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTMCell(embed + D, hidden)
        self.out_h, self.out_z = nn.Linear(hidden, embed), nn.Linear(D, embed, bias=False)
        self.out = nn.Linear(embed, vocab_size)
        self.drop = nn.Dropout(dropout)
        mean, std = normalizer(normalize)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    # -- image side
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Annotation vectors (B, L, D): the CNN's last feature grid, locations in raster order."""
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        g = self.encoder.forward_features((images - self.mean) / self.std)
        return g.flatten(2).transpose(1, 2)

    def _init(self, a):
        m = a.mean(1)
        return torch.tanh(self.init_h(m)), torch.tanh(self.init_c(m))

    def _attend(self, a, a_proj, h):
        """(context z_t (B, D), alpha_t (B, L)) from annotations (B, L, D), their projection and h_{t-1}."""
        e = self.att_w(torch.tanh(a_proj + self.att_h(h)[:, None])).squeeze(-1)
        alpha = torch.softmax(e, -1)
        z = torch.sigmoid(self.f_beta(h)) * torch.bmm(alpha[:, None], a)[:, 0]
        return z, alpha

    def _logits(self, emb, h, z):
        return self.out(self.drop(emb + self.out_h(self.drop(h)) + self.out_z(z)))

    # -- training: teacher forcing
    def forward(self, captions: torch.Tensor, images: torch.Tensor | None = None, feats: torch.Tensor | None = None,
                return_alpha: bool = False):
        """Logits (B, T-1, V) predicting captions[:, 1:] from <start> w1 .. w_{T-1}; with
        return_alpha also the attention maps (B, T-1, L), alpha[:, t] being the map used to emit
        the word captions[:, t + 1]. Give images or precomputed annotation vectors (B, L, D).
        Captions are padded with 0 after their <end>: a step past a caption's end predicts nothing
        the loss counts, so it is not computed (its logits and map are 0). The rows are ordered by
        length and each step runs on the captions still going, so a batch costs its words, not its
        size times its longest caption; the deep output, which does not feed back, is computed for
        all steps at once after the recurrence."""
        a = self.features(images) if feats is None else feats
        lengths = (captions[:, 1:] != 0).sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        a, captions = a[order], captions[order]
        steps = torch.arange(captions.shape[1] - 1, device=lengths.device)
        going = [n for n in (lengths[order][None] > steps[:, None]).sum(1).tolist() if n]   # captions going at step t
        h, c = self._init(a)
        a_proj = self.att_a(a)
        emb = self.drop(self.word_embed(captions[:, :-1]))
        B, T = emb.shape[:2]
        words = emb.unbind(1)
        hs, zs, alphas = [], [], []
        for t, n in enumerate(going):
            if n < len(h):                                  # some captions ended: go on with the others
                a, a_proj, h, c = a[:n], a_proj[:n], h[:n], c[:n]
            z, alpha = self._attend(a, a_proj, h)
            h, c = self.lstm(torch.cat([words[t][:n], z], 1), (h, c))
            hs.append(h)
            zs.append(z)
            alphas.append(alpha)
        out = self._logits(torch.cat([w[:n] for w, n in zip(words, going)]), torch.cat(hs), torch.cat(zs))
        where = (torch.cat([torch.arange(n, device=out.device) for n in going]),                     # row
                 torch.repeat_interleave(torch.arange(len(going), device=out.device),
                                         torch.tensor(going, device=out.device)))                    # step
        back = torch.argsort(order)
        logits = out.new_zeros(B, T, out.shape[-1]).index_put(where, out)[back]
        if not return_alpha:
            return logits
        alpha = torch.cat(alphas)
        return logits, alpha.new_zeros(B, T, alpha.shape[-1]).index_put(where, alpha)[back]

    # -- inference interface used by show_and_tell.decode
    def start(self, images: torch.Tensor | None = None, feats: torch.Tensor | None = None):
        a = self.features(images) if feats is None else feats
        h, c = self._init(a)
        return h[None], c[None], a.transpose(0, 1), self.att_a(a).transpose(0, 1)   # batch on dim 1

    def step(self, words: torch.Tensor, state):
        h, c, a_t, p_t = state
        a, a_proj = a_t.transpose(0, 1), p_t.transpose(0, 1)
        emb = self.word_embed(words)
        z, _ = self._attend(a, a_proj, h[0])
        h1, c1 = self.lstm(torch.cat([emb, z], 1), (h[0], c[0]))
        return torch.log_softmax(self._logits(emb, h1, z).float(), -1), (h1[None], c1[None], a_t, p_t)
