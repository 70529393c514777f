"""``fpa import-fpainter``: the authors' checkpoints (IDSIA/fpainter) as fpa runs, exactly.

The checkpoints here are synthetic: random weights under the authors' exact parameter names and
shapes (their ``Trainer.save``: ``{"GAN": GAN.state_dict(), "version", "G_opt", ...}``). The
reference forward pass below is written from their equations with plain tensor operations (a
hand-written LSTM, the sequential delta loop, their U-Net as functions); it calls no fpa code.
"""

from __future__ import annotations

import io
import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

import fpa
from fpa.cli import app
from fpa.importers import FpainterFlags, import_fpainter, load_fpainter
from fpa.runs import TrainConfig
from fpa.viz.figure import figure_png, paint_figure

runner = CliRunner()
TYPES = ("lstm_delta", "lstm_delta_unet", "lstm_delta_split_v2", "lstm_delta_split_v2_unet")


@dataclass
class Spec:
    """The authors' hyper-parameters of one synthetic model."""

    model_type: str
    side: int = 16
    channels: int = 3
    steps: int = 6
    latent: int = 12
    hidden: int = 24
    layers: int = 1
    code: int = 4
    input_size: int = 10
    vect_lr: bool = False
    pos_enc: bool = False
    learned_init: bool = False
    wide: int = 0
    latent_to_init: bool = True  # always on for v1; --use_latent_to_init for v2
    unet_mults: tuple[int, ...] = (1, 2, 4)
    flags: dict = field(default_factory=dict)

    @property
    def v2(self) -> bool:
        return "split_v2" in self.model_type

    @property
    def unet(self) -> bool:
        return self.model_type.endswith("_unet")


# ----------------------------------------------------------------- their parameter names
def resnet_block(prefix, dim_in, dim_out):
    shapes = {
        f"{prefix}.block1.proj.weight": (dim_out, dim_in, 3, 3),
        f"{prefix}.block1.proj.bias": (dim_out,),
        f"{prefix}.block1.norm.weight": (dim_out,),
        f"{prefix}.block1.norm.bias": (dim_out,),
        f"{prefix}.block2.proj.weight": (dim_out, dim_out, 3, 3),
        f"{prefix}.block2.proj.bias": (dim_out,),
        f"{prefix}.block2.norm.weight": (dim_out,),
        f"{prefix}.block2.norm.bias": (dim_out,),
    }
    if dim_in != dim_out:
        shapes |= {f"{prefix}.res_conv.weight": (dim_out, dim_in, 1, 1)}
        shapes |= {f"{prefix}.res_conv.bias": (dim_out,)}
    return shapes


def linear_attention(prefix, dim):  # Residual(PreNorm(dim, LinearAttention(dim))), 4 × 32
    return {
        f"{prefix}.fn.fn.to_qkv.weight": (384, dim, 1, 1),
        f"{prefix}.fn.fn.to_out.0.weight": (dim, 128, 1, 1),
        f"{prefix}.fn.fn.to_out.0.bias": (dim,),
        f"{prefix}.fn.fn.to_out.1.g": (1, dim, 1, 1),
        f"{prefix}.fn.fn.to_out.1.b": (1, dim, 1, 1),
        f"{prefix}.fn.norm.g": (1, dim, 1, 1),
        f"{prefix}.fn.norm.b": (1, dim, 1, 1),
    }


def unet_shapes(dim, channels, mults):
    """``Unet(dim=image_size, channels, dim_mults)`` of their unet.py."""
    dims = [dim, *(dim * m for m in mults)]
    in_out = list(itertools.pairwise(dims))
    shapes = {"init_conv.weight": (dim, channels, 7, 7), "init_conv.bias": (dim,)}
    for i, (dim_in, dim_out) in enumerate(in_out):
        shapes |= resnet_block(f"downs.{i}.0", dim_in, dim_out)
        shapes |= resnet_block(f"downs.{i}.1", dim_out, dim_out)
        shapes |= linear_attention(f"downs.{i}.2", dim_out)
        if i < len(in_out) - 1:
            shapes |= {f"downs.{i}.3.weight": (dim_out, dim_out, 4, 4)}
            shapes |= {f"downs.{i}.3.bias": (dim_out,)}
    mid = dims[-1]
    shapes |= resnet_block("mid_block1", mid, mid)
    shapes |= {
        "mid_attn.fn.fn.to_qkv.weight": (384, mid, 1, 1),
        "mid_attn.fn.fn.to_out.weight": (mid, 128, 1, 1),
        "mid_attn.fn.fn.to_out.bias": (mid,),
        "mid_attn.fn.norm.g": (1, mid, 1, 1),
        "mid_attn.fn.norm.b": (1, mid, 1, 1),
    }
    shapes |= resnet_block("mid_block2", mid, mid)
    for i, (dim_in, dim_out) in enumerate(reversed(in_out)):
        shapes |= resnet_block(f"ups.{i}.0", 2 * dim_out, dim_in)
        shapes |= resnet_block(f"ups.{i}.1", dim_in, dim_in)
        shapes |= linear_attention(f"ups.{i}.2", dim_in)
        if i < len(in_out) - 1:  # ConvTranspose2d(dim_in, dim_in, 4, 2, 1)
            shapes |= {f"ups.{i}.3.weight": (dim_in, dim_in, 4, 4), f"ups.{i}.3.bias": (dim_in,)}
    shapes |= resnet_block("final_res_block", 2 * dim, dim)
    shapes |= {"final_conv.weight": (channels, dim, 1, 1), "final_conv.bias": (channels,)}
    return shapes


def generator_shapes(spec: Spec) -> tuple[dict, list[list[str]]]:
    """Their generator's parameters in registration order, and the module groups that their
    U-Net classes list again under ``mod_dict.base`` (the U-Net under ``mod_dict.unet.0``)."""
    s, c, h = spec.side, spec.channels, spec.hidden
    lr_dim = s if spec.vect_lr else 1
    shapes, groups = {}, []

    def add(group):
        shapes.update(group)
        groups.append(list(group))

    rnn_in = spec.input_size if spec.v2 else spec.latent
    if spec.pos_enc:
        shapes["decoder_time_enc"] = (spec.steps, rnn_in)
    if spec.learned_init:
        shapes["learned_init"] = (c, s, s)
    if spec.latent_to_init or not spec.v2:
        add(
            {
                "latent_to_init.weight": (2 * h * spec.layers, spec.latent),
                "latent_to_init.bias": (2 * h * spec.layers,),
            }
        )
    if spec.v2:
        add(
            {
                "input_generator.weight": (spec.code * spec.steps, spec.latent),
                "input_generator.bias": (spec.code * spec.steps,),
            }
        )
        add(
            {
                "per_time_linear_input.weight": (spec.input_size, spec.code),
                "per_time_linear_input.bias": (spec.input_size,),
            }
        )
    rnn = {}
    for layer in range(spec.layers):
        width = rnn_in if layer == 0 else h
        rnn |= {
            f"decoder_rnn.weight_ih_l{layer}": (4 * h, width),
            f"decoder_rnn.weight_hh_l{layer}": (4 * h, h),
            f"decoder_rnn.bias_ih_l{layer}": (4 * h,),
            f"decoder_rnn.bias_hh_l{layer}": (4 * h,),
        }
    add(rnn)
    features = h
    if spec.wide:
        shapes |= {"wide_net.0.weight": (spec.wide, h), "wide_net.0.bias": (spec.wide,)}
        features = spec.wide
    rows = c * (2 * s + lr_dim)
    add({"kvb_net.weight": (rows, features), "kvb_net.bias": (rows,)})
    if spec.unet:
        shapes |= {f"u_net.{k}": v for k, v in unet_shapes(s, c, spec.unet_mults).items()}
    return shapes, groups


def random_weights(spec: Spec, *, seed: int) -> dict[str, torch.Tensor]:
    """Random weights of a scale that keeps the painting away from saturation."""
    g = torch.Generator().manual_seed(seed)
    shapes, _ = generator_shapes(spec)
    weights = OrderedDict()
    for name, shape in shapes.items():
        if name.endswith((".g", "norm.weight")):
            value = 1 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith((".b", "norm.bias")) or len(shape) == 1:
            value = 0.1 * torch.randn(shape, generator=g)
        elif name == "learned_init":
            value = 0.3 * torch.randn(shape, generator=g)
        elif name == "decoder_time_enc":
            value = torch.randn(shape, generator=g)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
            if name.startswith("u_net.ups.") and name.endswith(".3.weight"):
                fan_in = shape[0] * 16  # transposed conv: (in, out, kh, kw)
            value = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        if name.startswith("kvb_net"):  # values of either sign, mostly positive pixels
            value = value * 3 + (0.5 if name.endswith("bias") else 0)
        weights[name] = value
    return weights


def authors_checkpoint(path, spec: Spec, *, seed: int = 0, extra=None) -> dict:
    """Save a checkpoint laid out as theirs; returns the G and GE weights."""
    g_weights = random_weights(spec, seed=seed)
    ge_weights = OrderedDict(
        (k, v + 0.01 * torch.randn(v.shape, generator=torch.Generator().manual_seed(seed + 1)))
        for k, v in g_weights.items()
    )
    _, groups = generator_shapes(spec)

    def with_aliases(weights):
        state = OrderedDict(weights)
        if spec.unet:  # the same tensors again, as their parameter groups list them
            for index, group in enumerate(groups):
                for name in group:
                    inner = name.split(".", 1)[1] if "." in name else ""
                    state[f"mod_dict.base.{index}.{inner}"] = weights[name]
            for name, value in weights.items():
                if name.startswith("u_net."):
                    state[f"mod_dict.unet.0.{name[len('u_net.') :]}"] = value
        return state

    discriminator = OrderedDict(
        {
            "residual_layers.0.0.branches.0.1.weight": torch.randn(128, spec.channels, 4, 4),
            "residual_layers.0.0.branches.0.1.bias": torch.randn(128),
            "to_shape_disc_out.0.weight": torch.randn(64, spec.channels, 3, 3),
            "decoder1.layers.0.1.weight": torch.randn(512, 512, 3, 3)[:8],
        }
    )
    gan = OrderedDict()
    gan.update((f"G.{k}", v) for k, v in with_aliases(g_weights).items())
    gan.update((f"D.{k}", v) for k, v in discriminator.items())
    gan.update((f"GE.{k}", v) for k, v in with_aliases(ge_weights).items())
    gan.update((f"D_aug.D.{k}", v) for k, v in discriminator.items())
    adam = {
        "state": {},
        "param_groups": [
            {"lr": 2e-4, "betas": (0.5, 0.9), "eps": 1e-8, "weight_decay": 0, "params": [0, 1]}
        ],
    }
    scaler = {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "_growth_tracker": 0}
    torch.save(
        {
            "GAN": gan,
            "version": "0.23.3",
            "G_scaler": scaler,
            "D_scaler": scaler,
            "G_opt": adam,
            "D_opt": adam,
            **(extra or {}),
        },
        path,
    )
    return {"G": g_weights, "GE": ge_weights}


# ----------------------------------------------------------------- their forward pass
def linear(w, prefix, x):
    return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]


def lstm(w, inputs, state, layers):
    """PyTorch's LSTM equations (gates i, f, g, o), sequence first: ``inputs (T, B, D)``."""
    x = inputs
    for layer in range(layers):
        h, c = state[0][layer], state[1][layer]
        outputs = []
        for t in range(x.shape[0]):
            gates = (
                x[t] @ w[f"decoder_rnn.weight_ih_l{layer}"].T
                + w[f"decoder_rnn.bias_ih_l{layer}"]
                + h @ w[f"decoder_rnn.weight_hh_l{layer}"].T
                + w[f"decoder_rnn.bias_hh_l{layer}"]
            )
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        x = torch.stack(outputs)
    return x


def chan_norm(x, g, b, eps=1e-5):
    var = torch.var(x, dim=1, unbiased=False, keepdim=True)
    mean = torch.mean(x, dim=1, keepdim=True)
    return (x - mean) / (var + eps).sqrt() * g + b


def block(w, p, x):
    x = F.conv2d(x, w[f"{p}.proj.weight"], w[f"{p}.proj.bias"], padding=1)
    x = F.group_norm(x, 8, w[f"{p}.norm.weight"], w[f"{p}.norm.bias"])
    return F.silu(x)


def resnet(w, p, x):
    h = block(w, f"{p}.block2", block(w, f"{p}.block1", x))
    if f"{p}.res_conv.weight" not in w:
        return h + x
    return h + F.conv2d(x, w[f"{p}.res_conv.weight"], w[f"{p}.res_conv.bias"])


def heads_split(t, heads=4):  # 'b (h c) x y -> b h c (x y)'
    b, _, x, y = t.shape
    return t.reshape(b, heads, -1, x * y)


def lin_attention(w, p, x):
    b, _, hh, ww = x.shape
    xn = chan_norm(x, w[f"{p}.fn.norm.g"], w[f"{p}.fn.norm.b"])
    q, k, v = (heads_split(t) for t in F.conv2d(xn, w[f"{p}.fn.fn.to_qkv.weight"]).chunk(3, 1))
    q = q.softmax(dim=-2) * 32**-0.5
    k = k.softmax(dim=-1)
    context = torch.einsum("bhdn,bhen->bhde", k, v)
    out = torch.einsum("bhde,bhdn->bhen", context, q).reshape(b, -1, hh, ww)
    out = F.conv2d(out, w[f"{p}.fn.fn.to_out.0.weight"], w[f"{p}.fn.fn.to_out.0.bias"])
    return chan_norm(out, w[f"{p}.fn.fn.to_out.1.g"], w[f"{p}.fn.fn.to_out.1.b"]) + x


def full_attention(w, p, x):
    b, _, hh, ww = x.shape
    xn = chan_norm(x, w[f"{p}.fn.norm.g"], w[f"{p}.fn.norm.b"])
    q, k, v = (heads_split(t) for t in F.conv2d(xn, w[f"{p}.fn.fn.to_qkv.weight"]).chunk(3, 1))
    sim = torch.einsum("bhdi,bhdj->bhij", q * 32**-0.5, k)
    attn = (sim - sim.amax(dim=-1, keepdim=True)).softmax(dim=-1)
    out = torch.einsum("bhij,bhdj->bhid", attn, v)  # (b, h, n, d) -> b (h d) x y
    out = out.permute(0, 1, 3, 2).reshape(b, -1, hh, ww)
    out = F.conv2d(out, w[f"{p}.fn.fn.to_out.weight"], w[f"{p}.fn.fn.to_out.bias"])
    return out + x


def unet(w, x, levels):
    x = F.conv2d(x, w["init_conv.weight"], w["init_conv.bias"], padding=3)
    r, skips = x, []
    for i in range(levels):
        x = resnet(w, f"downs.{i}.1", resnet(w, f"downs.{i}.0", x))
        x = lin_attention(w, f"downs.{i}.2", x)
        skips.append(x)
        if f"downs.{i}.3.weight" in w:
            x = F.conv2d(x, w[f"downs.{i}.3.weight"], w[f"downs.{i}.3.bias"], stride=2, padding=1)
    x = resnet(w, "mid_block2", full_attention(w, "mid_attn", resnet(w, "mid_block1", x)))
    for i in range(levels):
        x = torch.cat((x, skips.pop()), dim=1)
        x = lin_attention(w, f"ups.{i}.2", resnet(w, f"ups.{i}.1", resnet(w, f"ups.{i}.0", x)))
        if f"ups.{i}.3.weight" in w:
            x = F.conv_transpose2d(
                x, w[f"ups.{i}.3.weight"], w[f"ups.{i}.3.bias"], stride=2, padding=1
            )
    x = resnet(w, "final_res_block", torch.cat((x, r), dim=1))
    return F.conv2d(x, w["final_conv.weight"], w["final_conv.bias"])


def authors_forward(weights, z, spec: Spec):
    """Their generator on latents ``z``: (image in their [0, 1] convention, every M_t)."""
    flags = {**FpainterFlags().__dict__, **spec.flags}
    w = {k: v.to(z.dtype) for k, v in weights.items()}
    bsz, s, c, layers, hid = z.shape[0], spec.side, spec.channels, spec.layers, spec.hidden
    state = (torch.zeros(layers, bsz, hid, dtype=z.dtype),) * 2
    if "latent_to_init.weight" in w:
        h, cell = linear(w, "latent_to_init", z).split(layers * hid, dim=-1)
        state = (
            h.reshape(bsz, layers, hid).transpose(0, 1),
            cell.reshape(bsz, layers, hid).transpose(0, 1),
        )
    if spec.v2:
        x = linear(w, "input_generator", z)
        if flags["v2_input_tanh"]:
            x = torch.tanh(x)
        x = linear(w, "per_time_linear_input", x.view(bsz, spec.steps, spec.code)).transpose(0, 1)
        if spec.pos_enc:
            x = x + w["decoder_time_enc"].unsqueeze(1)
    else:
        x = z.unsqueeze(0).expand(spec.steps, -1, -1)
        if spec.pos_enc:
            x = w["decoder_time_enc"].unsqueeze(1) + z.unsqueeze(0)
    out = lstm(w, x, state, layers)
    if spec.wide:
        out = torch.relu(linear(w, "wide_net.0", out))
    out = linear(w, "kvb_net", out)
    lr_dim = s if spec.vect_lr else 1
    if spec.learned_init:
        matrix, first = w["learned_init"].unsqueeze(0).repeat(bsz, 1, 1, 1), False
    else:
        matrix, first = torch.zeros(bsz, c, s, s, dtype=z.dtype), True
    partial = []
    for t in range(spec.steps):
        kx, vx, lrs = torch.split(out[t], (c * s, c * s, c * lr_dim), dim=-1)
        kx, vx, lrs = kx.reshape(bsz * c, s), vx.reshape(bsz * c, s), lrs.reshape(bsz * c, lr_dim)
        if flags["value_tanh"]:
            vx = torch.tanh(vx)
        if flags["sigmoid_rate"]:
            lrs = torch.sigmoid(lrs)
        if flags["softmax_keys"]:
            kx = torch.softmax(kx, dim=-1)
        if not first:
            removed = torch.bmm(matrix.reshape(bsz * c, s, s), kx.unsqueeze(2)).squeeze(2)
            vx = lrs * (vx - removed)
        matrix = matrix + torch.bmm(vx.unsqueeze(2), kx.unsqueeze(1)).view(bsz, c, s, s)
        partial.append(matrix)
        first = False
    if spec.unet:
        refined = unet(
            {k[len("u_net.") :]: v for k, v in w.items() if k.startswith("u_net.")},
            matrix.tanh() if flags["unet_tanh"] else matrix,
            len(spec.unet_mults),
        )
        image = refined.tanh() if flags["out_tanh"] else refined
    else:
        image = matrix.tanh() if flags["out_tanh"] else matrix
    return image, torch.stack(partial, dim=1)


# ----------------------------------------------------------------- exactness
SPECS = [
    Spec("lstm_delta"),
    Spec("lstm_delta", layers=2, vect_lr=True, pos_enc=True, wide=20, channels=1),
    Spec("lstm_delta", learned_init=True, flags={"value_tanh": True, "softmax_keys": False}),
    Spec("lstm_delta_unet"),
    Spec("lstm_delta_unet", side=8, unet_mults=(1, 2), flags={"unet_tanh": False}),
    Spec("lstm_delta_split_v2"),
    Spec("lstm_delta_split_v2", latent_to_init=False, vect_lr=True, pos_enc=True, wide=16),
    Spec(
        "lstm_delta_split_v2",
        channels=4,
        flags={"v2_input_tanh": False, "sigmoid_rate": False, "out_tanh": False},
    ),
    Spec("lstm_delta_split_v2_unet"),
    Spec("lstm_delta_split_v2_unet", latent_to_init=False, flags={"out_tanh": False}),
]


def spec_id(spec: Spec) -> str:
    extras = [k for k in ("vect_lr", "pos_enc", "learned_init") if getattr(spec, k)]
    extras += [f"{k}={v}" for k, v in spec.flags.items()]
    return "-".join([spec.model_type, *extras]) or spec.model_type


def import_spec(tmp_path, spec: Spec):
    path = tmp_path / "model_1.pt"
    weights = authors_checkpoint(path, spec)
    imported = load_fpainter(
        path,
        model_type=spec.model_type,
        paint_steps=None if spec.v2 or spec.pos_enc else spec.steps,
        flags=FpainterFlags(**spec.flags),
    )
    return imported, weights


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_the_imported_generator_is_the_authors_generator_in_float64(tmp_path, spec):
    imported, weights = import_spec(tmp_path, spec)
    z = torch.randn(3, spec.latent, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for model, name in ((imported.generator, "G"), (imported.ema_generator, "GE")):
        expected, partial = authors_forward(weights[name], z, spec)
        assert expected.std() > 0.05  # a painting, not a constant
        model = model.double()
        with torch.no_grad():
            image = model(z)
            trace = model.paint_trace(z)
        # fpa's pixels are [-1, 1]; theirs [0, 1].
        assert (image + 1) / 2 == pytest.approx(expected, abs=1e-10, rel=0)
        scale = 1 + partial.abs().max()  # without softmax keys the matrices grow large
        assert (trace.matrices - partial).abs().max() <= 1e-10 * scale
        assert torch.allclose(trace.images, image, atol=1e-10, rtol=0)


@pytest.mark.parametrize("spec", [*SPECS[::2], SPECS[3], SPECS[5]], ids=spec_id)
def test_float32_is_within_rounding(tmp_path, spec):
    imported, weights = import_spec(tmp_path, spec)
    z = torch.randn(3, spec.latent, generator=torch.Generator().manual_seed(6))
    expected, _ = authors_forward(weights["GE"], z.double(), spec)
    with torch.no_grad():
        image = imported.ema_generator(z)
    assert image.dtype == torch.float32
    assert ((image.double() + 1) / 2 - expected).abs().max() < 2e-5


def test_step_loop_and_parallel_form_paint_the_same(tmp_path):
    imported, _ = import_spec(tmp_path, Spec("lstm_delta_split_v2"))
    config = imported.config
    looped = fpa.FastWeightPainter(config=type(config)(**{**config.__dict__, "rule_impl": "step"}))
    looped.load_state_dict(imported.generator.state_dict())
    z = torch.randn(2, 12)
    with torch.no_grad():
        assert torch.allclose(looped(z), imported.generator(z), atol=1e-5)


# ----------------------------------------------------------------- the command line
def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def import_args(path, spec: Spec, out):
    args = ["import-fpainter", path, "--model-type", spec.model_type, "--out", out]
    return args if spec.v2 else [*args, "--paint-steps", spec.steps]


@pytest.mark.slow
@pytest.mark.parametrize("model_type", TYPES)
def test_import_then_sample_paint_and_interpolate(tmp_path, model_type):
    spec = Spec(model_type, side=16, steps=4)
    path, run = tmp_path / "model_3.pt", tmp_path / "runs" / "imported"
    weights = authors_checkpoint(path, spec)
    result = invoke(*import_args(path, spec, run))
    assert result.exit_code == 0, result.output
    assert (
        f"imported {model_type}" in result.output and "discriminator: not imported" in result.output
    )
    # .lock: the import holds the run folder like a training does (one writer per run).
    assert sorted(p.name for p in run.iterdir()) == [
        ".lock",
        "checkpoints",
        "config.toml",
        "samples",
    ]
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".")]

    # The run loads like any other: fpa.load gives the EMA generator = their GE.
    generator = fpa.load(run)
    z = torch.randn(2, spec.latent, dtype=torch.float64)
    expected, _ = authors_forward(weights["GE"], z, spec)
    with torch.no_grad():
        got = (generator.double()(z) + 1) / 2
    assert torch.allclose(got, expected, atol=1e-10)

    grid, painting, interp = tmp_path / "s.png", tmp_path / "p.png", tmp_path / "i.gif"
    assert invoke("sample", run, "--n", 4, "--out", grid).exit_code == 0
    assert invoke("sample", run, "--n", 2, "--no-ema", "--out", tmp_path / "g.png").exit_code == 0
    result = invoke("paint", run, "--n", 2, "--every", 2, "--out", painting)
    assert result.exit_code == 0, result.output
    result = invoke("interpolate", run, "--n", 2, "--frames", 2, "--out", interp)
    assert result.exit_code == 0, result.output
    with Image.open(grid) as image:
        assert image.mode == "RGB" and image.size == (2 * 18 + 2, 2 * 18 + 2)
    # Steps 2 and 4, and the refined image: the labelled figure of that layout (tiles of 16
    # pixels and 2 of padding, two rows per sample), whatever the label margins measure.
    columns = 2 + (1 if spec.unet else 0)
    generator = fpa.load(run)
    figure = paint_figure(generator, torch.zeros(2, generator.latent_dim), every=2)
    assert (figure.columns, figure.rows) == (columns, 4)
    with Image.open(painting) as image, Image.open(io.BytesIO(figure_png(figure))) as expected:
        assert image.size == expected.size
        assert image.width > columns * 18 + 2 and image.height > 4 * 18 + 2


def test_the_sampled_pixels_are_the_authors_clamped_pixels(tmp_path):
    spec = Spec("lstm_delta_split_v2")
    path, run = tmp_path / "model.pt", tmp_path / "run"
    weights = authors_checkpoint(path, spec)
    assert invoke(*import_args(path, spec, run)).exit_code == 0
    z = torch.randn(1, spec.latent)
    torch.save(z, tmp_path / "z.pt")
    out = tmp_path / "one"
    grid = tmp_path / "grid.png"  # not the default samples.png in the working directory
    result = invoke(
        "sample", run, "--latents", tmp_path / "z.pt", "--individual", out, "--out", grid
    )
    assert result.exit_code == 0, result.output
    expected, _ = authors_forward(weights["GE"], z.double(), spec)
    # Their generate(): clamp to [0, 1], then torchvision's save_image rounding.
    theirs = expected[0].mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
    with Image.open(out / "0.png") as image:
        ours = torch.from_numpy(__import__("numpy").asarray(image).copy())
    assert (ours.int() - theirs.int()).abs().max() <= 1


def test_the_run_records_provenance_and_a_config_of_the_architecture(tmp_path):
    spec = Spec("lstm_delta_split_v2_unet")
    path, run = tmp_path / "model.pt", tmp_path / "run"
    authors_checkpoint(path, spec)
    imported = import_fpainter(path, model_type=spec.model_type, out=run)
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert state["imported_from"]["model_type"] == spec.model_type
    assert state["imported_from"]["source"] == "IDSIA/fpainter"
    assert state["generator_config"]["refiner"] == "fpainter-unet"
    config = TrainConfig.from_dict(state["config"])
    assert config.generator.paint_steps == spec.steps and config.channels == spec.channels
    assert config.generator.painter_options == imported.config.painter_options
    assert config.generator.refiner_options == imported.config.refiner_options
    assert config.generator.rule_options == {"first_step_unit_rate": True}


# ----------------------------------------------------------------- bad input
class NotATensor:
    """Anything a weights-only load must refuse."""


def bad_inputs(tmp_path):
    spec = Spec("lstm_delta_split_v2")
    good = tmp_path / "good.pt"
    authors_checkpoint(good, spec)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    other = tmp_path / "other.pt"
    torch.save({"model": torch.zeros(2)}, other)
    pickled = tmp_path / "pickled.pt"
    authors_checkpoint(pickled, spec, extra={"hook": NotATensor()})
    v1 = tmp_path / "v1.pt"
    authors_checkpoint(v1, Spec("lstm_delta"))
    return good, text, other, pickled, v1


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("text", [], "is not a readable PyTorch checkpoint"),
        ("other", [], "is not an IDSIA/fpainter checkpoint"),
        ("pickled", [], "holds more than tensors and plain values"),
        ("missing", [], "no checkpoint file"),
        ("good", ["--model-type", "lstm_deltaa"], "did you mean 'lstm_delta'"),
        ("good", ["--model-type", "lstm_oja_split_v2"], "is not supported"),
        ("good", ["--model-type", "lstm_delta"], "pass --model-type lstm_delta_split_v2"),
        ("v1", ["--model-type", "lstm_delta_unet"], "pass --model-type lstm_delta"),
        ("good", ["--image-size", "32"], "--image-size 32 does not fit"),
        ("good", ["--paint-steps", "9"], "--paint-steps 9 does not fit"),
        ("good", ["--paint-steps", "0"], "--paint-steps must be at least 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case, args, message):
    good, text, other, pickled, v1 = bad_inputs(tmp_path)
    files = {"good": good, "text": text, "other": other, "pickled": pickled, "v1": v1}
    path = files.get(case, tmp_path / "missing.pt")
    out = tmp_path / "runs" / "new"
    model_type = [] if "--model-type" in args else ["--model-type", "lstm_delta_split_v2"]
    result = invoke("import-fpainter", path, *model_type, *args, "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]
    assert not out.exists()


def test_an_existing_run_is_kept_unless_overwrite(tmp_path):
    spec = Spec("lstm_delta_split_v2")
    path, run = tmp_path / "model.pt", tmp_path / "run"
    authors_checkpoint(path, spec)
    assert invoke(*import_args(path, spec, run)).exit_code == 0
    before = (run / "checkpoints" / "latest.pt").read_bytes()
    authors_checkpoint(path, spec, seed=7)
    result = invoke(*import_args(path, spec, run))
    assert result.exit_code == 2 and "already holds a run" in result.output
    assert (run / "checkpoints" / "latest.pt").read_bytes() == before
    (run / "notes.md").write_text("mine")
    result = invoke(*import_args(path, spec, run), "--overwrite")
    assert result.exit_code == 0, result.output
    assert (run / "checkpoints" / "latest.pt").read_bytes() != before
    assert (run / "notes.md").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    (folder / "data.txt").write_text("x")
    result = invoke(*import_args(path, spec, folder))
    assert result.exit_code == 2 and "holds no fpa run" in result.output


def test_a_value_tanh_the_authors_model_lacks_is_refused(tmp_path):
    spec = Spec("lstm_delta_unet")
    path = tmp_path / "model.pt"
    authors_checkpoint(path, spec)
    result = invoke(*import_args(path, spec, tmp_path / "run"), "--value-tanh")
    assert result.exit_code == 2 and "has no value tanh" in result.output


def test_the_run_config_rebuilds_the_imported_generator_exactly(tmp_path):
    spec = Spec("lstm_delta_split_v2")
    path, run = tmp_path / "model.pt", tmp_path / "run"
    authors_checkpoint(path, spec)
    imported = import_fpainter(path, model_type=spec.model_type, out=run)
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    config = TrainConfig.from_dict(state["config"])
    assert config.generator == imported.config  # output activation included


@pytest.mark.slow
def test_an_imported_run_cannot_resume_but_can_be_fine_tuned(tmp_path):
    from fpa.training import prepare_run, resolve_config

    spec = Spec("lstm_delta")
    path, run = tmp_path / "model.pt", tmp_path / "run"
    authors_checkpoint(path, spec)
    import_fpainter(path, model_type=spec.model_type, out=run, paint_steps=spec.steps)
    resumed = invoke("train", "--out", str(run), "--resume")
    assert resumed.exit_code == 2
    assert "--init-from" in resumed.output and "Traceback" not in resumed.output

    side = (spec.side, spec.side)
    # The painter alone, as imported: a colour run's preset would add a fresh refiner.
    overrides = {"data": "mnist", "image_size": side, "channels": spec.channels}
    overrides |= {"refiner": "identity"}
    config = resolve_config(overrides={**overrides, "init_from": str(run), "device": "cpu"})
    trainer = prepare_run(config.with_overrides({"reset_discriminator": True}), out=tmp_path / "ft")
    assert trainer.generator.config.output_activation == "unit-tanh"
    ema = fpa.load(run)
    z = torch.randn(2, ema.latent_dim)
    with torch.no_grad():
        assert torch.allclose(trainer.generator.eval()(z), ema(z), atol=1e-6)
