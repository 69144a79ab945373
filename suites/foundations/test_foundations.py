"""The lecture notes' training claims (CS231n, Neural Networks Parts 1-3, the RNN and visualization
lectures, the ResNet note), each measured on MNIST or on a problem built for it.

Part 3  optimizers on an ill-conditioned quadratic: momentum and Nesterov vs SGD; AdaGrad's decaying
        effective step vs RMSProp's; Adam's defaults; L-BFGS vs SGD on a convex logistic regression.
Part 2  initialisation in a 10-layer net; batch norm's train/eval behaviour and high learning rates;
        inverted dropout.
Part 3  gradient checking of every layer type, and a planted bug.
RNNs    gradient through 50 steps, clipping, a long-delay memory task.
ResNet  degradation of a deep plain net and its residual fix.
Adversarial examples  FGSM against a linear classifier, and the dimension argument.
CNNs    data augmentation (flips, crops) on a small training set of synthetic scenes; transfer of
        features pretrained on digits 0-4 to a few-shot task on digits 5-9.
Visualization  on the scene CNN: saliency, guided backprop, Grad-CAM and occlusion against the
        scenes' object masks; Adebayo et al.'s cascading randomisation; feature inversion; Gram style.
"""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from datasets.mnist import binary_subset, load_mnist, mnist_fingerprint
from reference_impls.common import num_threads, untrained_mode
from reference_impls.foundations import adversarial as adv
from reference_impls.foundations import gradcheck, init, nets, optim, rnn
from reference_impls.foundations import transfer as tl
from reference_impls.foundations import visualize as vis

N_TRAIN = 3000


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with num_threads(1):
        yield


@pytest.fixture(scope="module")
def mnist(data_root, seed):
    """3,000 training digits (a seeded draw) and the first 2,000 test digits, 14x14 pooled."""
    x, y = load_mnist(data_root, "train")
    xt, yt = load_mnist(data_root, "test")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:N_TRAIN]
    fp = mnist_fingerprint(data_root)
    return {"raw": (x, y, xt, yt),
            "train": {"x": nets.mnist_features(x[idx]), "y": y[idx], "fingerprint": f"{fp}-{seed}-{N_TRAIN}"},
            "test": (nets.mnist_features(xt[:2000]), yt[:2000])}


# ----------------------------------------------------------------------------- Part 3: optimizers
def test_momentum_and_nesterov_beat_sgd(claim, artifacts):
    runs = {k: optim.run(make, 3000, threshold=1e-3) for k, make in optim.OPTIMIZERS.items()}
    steps = {k: r[2] if r[2] is not None else math.inf for k, r in runs.items()}
    claim("momentum_fewer_steps_than_sgd", steps["momentum"], than=steps["sgd"])
    claim("nesterov_fewer_steps_than_sgd", steps["nesterov"], than=steps["sgd"])
    # the lecture's picture: trajectories on the contours
    fig, ax = plt.subplots(figsize=(5, 3))
    a, b = torch.meshgrid(torch.linspace(-11, 2, 100), torch.linspace(-1.5, 1.5, 100), indexing="ij")
    ax.contour(a, b, 0.5 * (a ** 2 + optim.KAPPA * b ** 2), levels=15, colors="#bbb", linewidths=0.6)
    for k, (traj, _, _) in runs.items():
        t = traj[:120]
        ax.plot(t[:, 0], t[:, 1], ".-", ms=2, lw=0.8, label=f"{k} ({steps[k]} steps)")
    ax.legend(fontsize=7), ax.set_title("first 120 steps on f = (x1^2 + 50 x2^2) / 2", fontsize=8)
    artifacts.save_figure(fig, "optimizer_trajectories")


def test_adagrad_decays_rmsprop_does_not(claim):
    ratio = {}
    for name in ("adagrad", "rmsprop"):
        steps = optim.effective_step(name, 10_000)
        ratio[name] = steps[-1] / steps[299]
    claim("adagrad_effective_step_decays", ratio["adagrad"])
    claim("rmsprop_effective_step_does_not_decay", ratio["rmsprop"])


def test_adam_defaults_converge(claim):
    _, losses, _ = optim.run(lambda p: torch.optim.Adam(p), 5000, start=(-1.0, 0.1))
    claim("adam_default_converges", losses[-1])


def test_lbfgs_beats_sgd_on_a_convex_problem(claim, mnist):
    x, y, _, _ = mnist["raw"]
    xb, yb = binary_subset(x, y, 1, 7)
    X = nets.mnist_features(xb[:1000])
    lbfgs, sgd = optim.lbfgs_vs_sgd(X, yb[:1000])
    claim("lbfgs_beats_sgd_convex", lbfgs, than=sgd)


# ----------------------------------------------------------------------------- Part 2: initialisation
def test_initialisation_and_activation_statistics(claim, artifacts):
    acts = {(a, i): init.layer_activations(a, i) for a, i in
            [("tanh", "std0.01"), ("tanh", "std1"), ("tanh", "xavier"), ("relu", "xavier"), ("relu", "he")]}
    claim("small_init_activations_vanish", init.std_ratio(acts["tanh", "std0.01"]))
    claim("large_init_saturates", init.saturated_fraction(acts["tanh", "std1"]))
    claim("xavier_keeps_tanh_scale", init.std_ratio(acts["tanh", "xavier"]))
    claim("xavier_halves_relu_variance", init.variance_ratio_per_layer(acts["relu", "xavier"]))
    claim("he_keeps_relu_variance", init.variance_ratio_per_layer(acts["relu", "he"]))
    fig, axes = plt.subplots(len(acts), 5, figsize=(10, 1.6 * len(acts)))
    for row, ((a, i), layers) in zip(axes, acts.items()):
        for ax, li in zip(row, (0, 2, 4, 6, 9)):
            ax.hist(layers[li].flatten().numpy(), bins=40, color="#546e7a")
            ax.set_yticks([]), ax.tick_params(labelsize=5)
            ax.set_title(f"{a} {i} layer {li + 1}", fontsize=6)
    fig.tight_layout()
    artifacts.save_figure(fig, "activation_histograms")


# ----------------------------------------------------------------------------- batch normalization, dropout
def test_batchnorm_train_and_eval(claim):
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(8).train()
    x = torch.randn(32, 8) * 3 + 1
    manual = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + bn.eps)
    claim("batchnorm_train_uses_batch_statistics", float((bn(x) - manual).abs().max().detach()))
    for _ in range(20):
        bn(torch.randn(32, 8) * 3 + 1)
    bn.eval()
    probe = torch.randn(1, 8)
    a = bn(torch.cat([probe, torch.randn(15, 8)]))[0]
    b = bn(torch.cat([torch.randn(3, 8) * 10, probe]))[-1]
    claim("batchnorm_eval_independent_of_batch", float((a - b).abs().max().detach()))


BN_HI = dict(depth=4, width=128, lr=1.0, epochs=5, batch=64)


def test_batchnorm_trains_at_a_high_learning_rate(claim, mnist, seed, cache_dir):
    tr = mnist["train"]
    loss = {}
    for bn in (True, False):
        m = nets.train_mlp(f"bn{int(bn)}_hi", dict(BN_HI, bn=bn), tr, seed, cache_dir)
        loss[bn] = nets.loss_and_accuracy(m, tr["x"], tr["y"])[0]
    untrained = nets.train_mlp("bn1_hi", dict(BN_HI, bn=True), tr, seed, cache_dir, untrained=True)
    claim("batchnorm_trains_at_high_learning_rate", loss[True], than=loss[False],
          controls={"untrained": nets.loss_and_accuracy(untrained, tr["x"], tr["y"])[0]})


def test_inverted_dropout(claim):
    torch.manual_seed(0)
    drop = nn.Dropout(0.5).train()
    v = torch.rand(64) + 0.5
    mean = torch.stack([drop(v) for _ in range(20_000)]).mean(0)
    claim("inverted_dropout_keeps_expectation", float(((mean - v).abs() / v).max()))
    net = nets.MLP(2, 32, dropout=0.5).eval()
    x = torch.randn(4, 196)
    claim("dropout_is_deterministic_at_test", float((net(x) - net(x)).abs().max()))


DROPOUT = dict(depth=3, width=512, lr=0.05, momentum=0.9, epochs=40, batch=50)


def test_dropout_improves_heldout_accuracy(claim, mnist, seed, cache_dir):
    small = {k: v[:500] if k != "fingerprint" else v + "-500" for k, v in mnist["train"].items()}
    acc = {p: nets.loss_and_accuracy(nets.train_mlp(f"dropout{p}", dict(DROPOUT, dropout=p), small, seed, cache_dir),
                                     *mnist["test"])[1] for p in (0.5, 0.0)}
    untrained = nets.train_mlp("dropout0.5", dict(DROPOUT, dropout=0.5), small, seed, cache_dir, untrained=True)
    claim("dropout_improves_heldout_accuracy", acc[0.5], than=acc[0.0],
          controls={"untrained": nets.loss_and_accuracy(untrained, *mnist["test"])[1]})


# ----------------------------------------------------------------------------- gradient checking
def test_gradient_check(claim):
    errors = {name: gradcheck.check(f, x) for name, (f, x) in gradcheck.layers().items()}
    claim("gradcheck_every_layer", max(errors.values()), **{f"err_{k}": v for k, v in errors.items()})
    claim("gradcheck_catches_planted_bug",
          gradcheck.check(gradcheck.BuggyTanh.apply, torch.randn(4, 5, generator=torch.Generator().manual_seed(0))))


# ----------------------------------------------------------------------------- recurrent networks
def test_lstm_preserves_the_gradient(claim, seed):
    ratio = {c: rnn.gradient_reaching_start(c, steps=50, seed=seed) for c in ("rnn", "lstm")}
    claim("lstm_preserves_gradient_over_50_steps", math.log10(ratio["lstm"]), than=math.log10(ratio["rnn"]))
    before, after = rnn.clipped_norm(5.0, seed=seed)
    claim("gradient_clipping_bounds_norm", after, norm_before=before)


DELAY = dict(delay=30, steps=300, lr=1e-2, batch=64, hidden=32)


def _delay_net(cell, seed, cache_dir, untrained=False):
    from reference_impls.common import trained

    def build():
        torch.manual_seed(seed)
        return rnn.DelayNet(cell, DELAY["hidden"])

    def train(net, resume):
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), DELAY["lr"])
        for _ in range(DELAY["steps"]):
            x, y = rnn.delay_batch(g, DELAY["batch"], DELAY["delay"])
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(), loss.backward(), opt.step()
    return trained(f"foundations_delay_{cell}", build, train, config=DELAY, seed=seed, code=[rnn],
                   cache_dir=cache_dir, untrained=untrained)


def test_lstm_learns_a_long_delay(claim, seed, cache_dir):
    acc = {c: rnn.delay_accuracy(_delay_net(c, seed, cache_dir), DELAY["delay"], seed) for c in ("lstm", "rnn")}
    untrained = rnn.delay_accuracy(_delay_net("lstm", seed, cache_dir, untrained=True), DELAY["delay"], seed)
    claim("lstm_learns_long_delay_rnn_cannot", acc["lstm"], than=acc["rnn"],
          controls={"untrained": untrained, "chance": 0.5})


# ----------------------------------------------------------------------------- residual connections
DEPTH = dict(width=64, bn=True, lr=0.05, momentum=0.9, epochs=3, batch=64)


def test_degradation_and_the_residual_fix(claim, mnist, seed, cache_dir, artifacts):
    tr = mnist["train"]
    cfgs = {"shallow": dict(DEPTH, depth=3), "plain30": dict(DEPTH, depth=30),
            "residual30": dict(DEPTH, depth=30, residual=True)}
    loss = {k: nets.loss_and_accuracy(nets.train_mlp(k, c, tr, seed, cache_dir), tr["x"], tr["y"])[0]
            for k, c in cfgs.items()}
    init_loss = {k: nets.loss_and_accuracy(nets.train_mlp(k, c, tr, seed, cache_dir, untrained=True),
                                           tr["x"], tr["y"])[0] for k, c in cfgs.items()}
    claim("deep_plain_net_trains_worse_than_shallow", loss["shallow"], than=loss["plain30"],
          controls={"untrained": init_loss["shallow"]})
    claim("residual_deep_net_trains_better_than_plain", loss["residual30"], than=loss["plain30"],
          controls={"untrained": init_loss["residual30"]})
    claim("residual_deep_net_matches_shallow", loss["residual30"], than=loss["shallow"],
          controls={"untrained": init_loss["residual30"]})


# ----------------------------------------------------------------------------- adversarial examples
def test_fgsm_against_a_linear_classifier(claim, mnist, seed):
    x, y, xt, yt = mnist["raw"]
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:2000]
    rate, rand = {}, {}
    for f in (1, 2):
        xtr, xte = adv.upsample(x[idx], f), adv.upsample(xt[:1000], f)
        model = adv.train_linear(xtr, y[idx], seed)
        for eps in (0.1, 0.05):
            rate[f, eps] = adv.flip_rate(model, xte, adv.fgsm(model, xte, yt[:1000], eps))
            rand[f, eps] = adv.flip_rate(model, xte, adv.random_sign(xte, eps, seed))
    untrained = {}
    for f, eps in ((1, 0.1), (2, 0.05)):
        torch.manual_seed(seed)
        model, xte = nn.Linear(784 * f * f, 10), adv.upsample(xt[:1000], f)
        untrained[f] = adv.flip_rate(model, xte, adv.fgsm(model, xte, yt[:1000], eps))
    claim("fgsm_flips_linear_classifier", rate[1, 0.1], than=0.5,
          controls={"untrained": untrained[1], "random_sign": rand[1, 0.1]})
    claim("fgsm_flip_rate_grows_with_dimension", rate[2, 0.05], than=rate[1, 0.05],
          controls={"untrained": untrained[2], "random_sign": rand[2, 0.05]})
    assert untrained_mode() or rate[1, 0.1] > rand[1, 0.1]


# ----------------------------------------------------------------------------- CNNs: augmentation, transfer
SCENES = dict(n_train=300, n_test=500, n_masks=64)
SCENE_CNN = dict(width=16, lr=3e-3, batch=32, epochs=30)


@pytest.fixture(scope="module")
def scenes(seed, cache_dir):
    """300 training scenes (a small set), 500 test scenes (object masks for the first 64); the CNN
    trained with flips and crops (also the visualization model) and without."""
    data = vis.scenes(SCENES["n_train"], SCENES["n_test"], seed, SCENES["n_masks"])
    cnn = {aug: vis.train_scene_cnn(data, dict(SCENE_CNN, augment=aug), seed, cache_dir) for aug in (True, False)}
    untrained = vis.train_scene_cnn(data, dict(SCENE_CNN, augment=True), seed, cache_dir, untrained=True)
    return {"data": data, "cnn": cnn, "untrained": untrained}


def test_augmentation_improves_heldout_accuracy(claim, scenes):
    test, train = scenes["data"]["test"], scenes["data"]["train"]
    acc = {aug: vis.accuracy(m, test["images"], test["labels"]) for aug, m in scenes["cnn"].items()}
    majority = int(torch.bincount(train["labels"]).argmax())
    claim("augmentation_improves_heldout_accuracy", acc[True], than=acc[False],
          controls={"untrained": vis.accuracy(scenes["untrained"], test["images"], test["labels"]),
                    "class_prior": float((test["labels"] == majority).float().mean())})


TRANSFER = dict(epochs=5, lr=1e-3, batch=64, shots=5)


def test_transfer_from_pretrained_features(claim, mnist, seed, cache_dir):
    tr = mnist["train"]
    source = tl.split(tr["x"], tr["y"], range(5))
    target, test = tl.split(tr["x"], tr["y"], range(5, 10)), tl.split(*mnist["test"], range(5, 10))
    cfg = {k: TRANSFER[k] for k in ("epochs", "lr", "batch")}
    net = tl.pretrain(*source, cfg, seed, tr["fingerprint"] + "-digits0-4", cache_dir)
    random_net = tl.pretrain(*source, cfg, seed, tr["fingerprint"] + "-digits0-4", cache_dir, untrained=True)
    fx, fy = tl.few_shot(*target, TRANSFER["shots"], seed)
    claim("pretrained_features_beat_scratch_at_few_examples", tl.accuracy(tl.linear_probe(net, fx, fy, seed), *test),
          than=tl.accuracy(tl.from_scratch(fx, fy, seed), *test),
          controls={"untrained": tl.accuracy(tl.linear_probe(random_net, fx, fy, seed), *test),
                    "nearest_neighbour": tl.nearest_neighbour_accuracy(fx, fy, *test)},
          fine_tuned=tl.accuracy(tl.fine_tune(net, fx, fy, seed), *test),
          source_accuracy=tl.accuracy(net, *tl.split(*mnist["test"], range(5))))


# ----------------------------------------------------------------------------- visualization
def _show(x):
    return (x.permute(1, 2, 0) * vis.proxy_data.STD + vis.proxy_data.MEAN).clamp(0, 255).numpy() / 255


def test_maps_concentrate_on_the_object(claim, scenes, seed, artifacts):
    data, model, untrained = scenes["data"], scenes["cnn"][True], scenes["untrained"]
    masks = data["masks"]
    x, y = data["test"]["images"][:len(masks)], data["test"]["labels"][:len(masks)]
    methods = dict(vis.METHODS, occlusion=vis.occlusion_map)
    maps = {k: f(model, x, y) for k, f in methods.items()}
    controls = {"random_map": vis.mass_inside(vis.random_map(masks.shape, seed), masks),
                "position_prior": vis.mass_inside(data["prior"].expand(masks.shape), masks),
                "edge_detector": vis.mass_inside(vis.edge_map(x), masks)}
    ids = {"gradient": "saliency_concentrates_on_object", "guided_backprop": "guided_backprop_concentrates_on_object",
           "gradcam": "gradcam_concentrates_on_object", "occlusion": "occlusion_concentrates_on_object"}
    for k, f in methods.items():
        claim(ids[k], vis.mass_inside(maps[k], masks),
              controls={"untrained": vis.mass_inside(f(untrained, x, y), masks), **controls},
              mask_area=float(masks.float().mean()))
    fig, axes = plt.subplots(4, 2 + len(maps), figsize=(1.3 * (2 + len(maps)), 5.4))
    for row, i in zip(axes, range(4)):
        row[0].imshow(_show(x[i])), row[1].imshow(masks[i], cmap="gray")
        row[0].set_title("scene", fontsize=6), row[1].set_title("object mask", fontsize=6)
        for ax, (k, m) in zip(row[2:], maps.items()):
            ax.imshow(m[i].abs(), cmap="inferno"), ax.set_title(k, fontsize=6)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    artifacts.save_figure(fig, "saliency_maps")


def test_cascading_randomization_sanity_check(claim, scenes, seed, artifacts):
    """Adebayo et al. (2018): re-draw the weights from the top layer down; the map of a method that
    explains the model must change with them (rank correlation with the trained model's map falls)."""
    data, model = scenes["data"], scenes["cnn"][True]
    x, y = data["test"]["images"][:32], data["test"]["labels"][:32]
    curves = vis.randomization_curves(model, x, y, seed)
    mean = {k: sum(v) / len(v) for k, v in curves.items()}
    fixed = vis.rank_correlation(vis.edge_map(x), vis.edge_map(x))   # a model-independent map never changes
    per_stage = {f"{k}_after_{layer}": round(v, 4) for k, vs in curves.items()
                 for layer, v in zip(vis.SceneCNN.LAYERS, vs)}
    claim("saliency_sanity_checks_cascading_randomization", mean["gradient"],
          controls={"model_independent_map": fixed}, **per_stage)
    claim("gradcam_changes_under_randomization", mean["gradcam"], controls={"model_independent_map": fixed})
    claim("guided_backprop_barely_changes_vs_gradient", mean["guided_backprop"], than=mean["gradient"])
    claim("guided_backprop_barely_changes_vs_gradcam", mean["guided_backprop"], than=mean["gradcam"])
    fig, ax = plt.subplots(figsize=(4, 2.6))
    for k, v in curves.items():
        ax.plot(range(1, len(v) + 1), v, "o-", label=k)
    ax.set_xticks(range(1, len(vis.SceneCNN.LAYERS) + 1), [f"+{n}" for n in vis.SceneCNN.LAYERS], fontsize=7)
    ax.set_ylabel("rank corr. with trained map", fontsize=7), ax.set_ylim(-0.1, 1.05), ax.legend(fontsize=7)
    ax.set_title("cascading randomisation, top layer first", fontsize=8)
    artifacts.save_figure(fig, "cascading_randomization")


def test_feature_inversion(claim, scenes, seed, artifacts):
    """Invert the conv2 code (stride 4, 32 channels) of 8 test scenes by gradient descent on the input."""
    data, model = scenes["data"], scenes["cnn"][True]
    x = data["test"]["images"][:8]
    code = model.features(x, 2)[-1].detach()
    own = vis.invert(model, code, 2, x.shape, seed)
    other = vis.invert(model, code.roll(1, 0), 2, x.shape, seed)       # a random code: another scene's
    u = scenes["untrained"]
    claim("feature_inversion_from_code_beats_random_code", vis.relative_error(own, x),
          than=vis.relative_error(other, x),
          untrained_network=vis.relative_error(vis.invert(u, u.features(x, 2)[-1].detach(), 2, x.shape, seed), x))
    fig, axes = plt.subplots(3, 4, figsize=(5, 3.8))
    for j in range(4):
        for ax, img, t in zip(axes[:, j], (x[j], own[j], other[j]), ("scene", "from its code", "from a random code")):
            ax.imshow(_show(img)), ax.axis("off"), ax.set_title(t, fontsize=6)
    fig.tight_layout()
    artifacts.save_figure(fig, "feature_inversion")


def test_gram_matrix_style(claim, scenes, seed):
    """Synthesise an image whose conv1-conv2 Gram matrices match a target scene's (Gatys et al.)."""
    data, model = scenes["data"], scenes["cnn"][True]
    target, other = data["test"]["images"][:1], data["test"]["images"][1:2]
    img, losses = vis.synthesize_style(model, target, seed)
    claim("gram_style_loss_decreases", losses[-1] / losses[0], initial=losses[0], final=losses[-1])
    claim("gram_style_matches_target_statistics", vis.style_distance(model, img, target),
          than=vis.style_distance(model, other, target))
