#!/usr/bin/env python3
"""A PyTorch twin of the whole GSHN model, timed on gshn's own batches.

Called by gshn-bench's `compare-train`, which writes the batches gshn's batcher produced
(images, segment masks, geometry, graphs, captions, questions; the format is in
gshn-bench/src/twin.rs) and the model's sizes into one file (--batches). The twin builds the
same model in PyTorch, PyTorch Geometric and SpikingJelly, trains it on those batches (forward,
backward, gradient clipping, AdamW) and prints JSON: the time of every step, the losses of the
first step, the versions.

The model, as in gshn-train/src/model (sizes from the file; the default config shown):

    F      = CNN(I)            3×3 convs 3→16→32→32, ReLU, 2×2 average pools after the first
                               log2(stride) convs: [B, 32, 16, 16] for 64×64 images
    V      = W_v · (masks · F) + W_g · geometry         [B, M, 32] → [B, M, 64], real rows kept
    F_GAT  = GATConv(ELU(GATConv(V)))                   PyG GATConv 64 → 4 heads × 16, concat,
                                                        LeakyReLU 0.2, self loops, bias
    E_SNN  = W_o · rate(SGC_2(SGC_1(V)))                SGC: Linear → mean over in-neighbours
                                                        and self → LayerNorm → LIF over T = 4
                                                        (SpikingJelly LIFNode, step_mode='m',
                                                        τ 2, V_th 1, hard reset 0, ATan α 2);
                                                        direct encoding: layer 1's current is
                                                        computed once and repeated over T
    V'     = r·N(E_SNN) + N(F_GAT)                      N: per-node standardisation, r learned
    image  = l2norm(P_i · mean_k V'_k)
    text   = l2norm(P_t · mean over tokens of TransformerEncoder(words + positions))
                                                        width 64, 2 pre-norm layers, 4 heads,
                                                        FF 128, GELU, dropout 0.1
    VQA    = W_o · ReLU(W_f [p; q; p ⊙ q]),  p = attention of q = W_q · question over W_k V'
    loss   = 1.0 · CLIP InfoNCE (learned logit scale, clamped to ln 100) + 0.5 · VQA CE

Optimiser: AdamW (β 0.9/0.999, ε 1e-5, weight decay 1e-4 — Burn's values) with each
parameter tensor's gradient clipped to norm 1 by itself (Burn's GradientClipping::Norm clips
per tensor, not over the whole model as torch.nn.utils.clip_grad_norm_ does).

Where the twin differs from gshn, and why:

* Graph layout. gshn pads every image to a block of M nodes (M a power of two) so that shapes
  repeat on a GPU; its GAT layers run dense [B, H, M, M] attention (the `auto` path for
  M ≤ 32) and its spiking layers aggregate over an edge list of all B·M padded rows plus two
  spare rows. The twin does what a PyTorch user would: PyG's edge-list GATConv and scatter
  over the real nodes only (ΣN rows, no padding). Both compute the same values on the real
  nodes; the padded rows are extra work that gshn chooses to do.
* Per-image mean and VQA attention: the twin pools with PyG's global_mean_pool and builds the
  padded [B, M, d] block for the VQA head with to_dense_batch (the same M as gshn's).
* LIF: SpikingJelly 2.0's LIFNode has no `backend=` argument any more; the device picks the
  implementation (on the CPU its fused multi-step `lif_multi_step` with an analytic backward;
  on CUDA its CUDA/Triton kernel).
* Weights are initialised by PyTorch's and PyG's own initialisers (the shapes are gshn's, the
  values are not, so losses agree in scale only), or, with --weights (compare-train
  --same-weights), copied from gshn's initial model. Then, without dropout, the twin's losses
  follow gshn's step for step (measured: equal to 5 decimals over 5 training steps), which
  checks the forward, the backward, the clipping and AdamW. The spiking branch's firing rates,
  which can change the work of sparse kernels, do not change the work of the dense ops either
  side runs.
* The projections used only by Spiked Text Learning and the node-level InfoNCE (which the main
  stage's default weights switch off) exist as parameters, as in gshn, and get no gradient.
* Dropout (text encoder only) draws from PyTorch's RNG, not Burn's.
"""
import os

# PyTorch's OpenMP threads spin while they wait for work. On a machine that other processes
# share (a build beside the benchmark), spinning threads that lose their core made the twin's
# steps swing 10× at 2 threads (0.3 s to 4.9 s) while 1 thread stayed steady; with passive
# waiting they stayed at 0.17-0.23 s. Set OMP_WAIT_POLICY yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_geometric
from torch_geometric.nn import GATConv, global_mean_pool
from torch_geometric.utils import scatter, to_dense_batch
import spikingjelly
from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate

MAGIC = b"GSHNTWIN1\n"
DTYPES = {"f32": np.dtype("<f4"), "i64": np.dtype("<i8"), "u8": np.dtype("u1")}
LOGIT_SCALE_INIT = math.log(1 / 0.07)
LOGIT_SCALE_MAX = math.log(100.0)


def read_batches(path):
    """The meta and the batches (dicts of NumPy arrays) of a file compare-train wrote."""
    raw = open(path, "rb").read()
    if raw[: len(MAGIC)] != MAGIC:
        raise SystemExit(f"{path} is not a gshn twin batch file")
    (n,) = struct.unpack("<Q", raw[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8
    header = json.loads(raw[start : start + n])
    data = memoryview(raw)[start + n :]
    batches = []
    for entries in header["batches"]:
        arrays = {}
        for e in entries:
            dt = DTYPES[e["dtype"]]
            a = np.frombuffer(data, dtype=dt, count=e["bytes"] // dt.itemsize, offset=e["offset"])
            arrays[e["name"]] = a.reshape(e["shape"])
        batches.append(arrays)
    return header["meta"], batches


class Batch:
    """One batch on the device, with what gshn's batcher also computes before the step (the
    spiking branch's self-looped edges folded over T steps and their inverse in-degrees)."""

    def __init__(self, a, time_steps, device):
        t = lambda x, dtype: torch.from_numpy(np.array(x)).to(device=device, dtype=dtype)
        self.pixels = t(a["pixels"], torch.float32)
        self.masks = t(a["masks"], torch.float32)
        self.geometry = t(a["geometry"], torch.float32)
        self.node_mask = t(a["node_mask"], torch.bool)
        b, m = self.node_mask.shape
        self.images, self.m = b, m
        ptr = a["ptr"].astype(np.int64)
        counts = np.diff(ptr)
        n = int(ptr[-1])
        self.nodes = n
        self.batch_vec = t(np.repeat(np.arange(b), counts), torch.long)
        src, dst = a["edge_src"].astype(np.int64), a["edge_dst"].astype(np.int64)
        self.edge_index = t(np.stack([src, dst]), torch.long)
        loop = np.arange(n)
        s, d = np.concatenate([src, loop]), np.concatenate([dst, loop])
        inv = 1.0 / np.maximum(np.bincount(d, minlength=n), 1)
        self.snn_src, self.snn_dst = t(s, torch.long), t(d, torch.long)
        self.inv_degree = t(inv.reshape(n, 1), torch.float32)
        offsets = (np.arange(time_steps) * n).reshape(time_steps, 1)
        self.snn_src_t = t((s[None, :] + offsets).reshape(-1), torch.long)
        self.snn_dst_t = t((d[None, :] + offsets).reshape(-1), torch.long)
        self.inv_degree_t = t(np.tile(inv, time_steps).reshape(time_steps * n, 1), torch.float32)
        self.captions = None
        if "caption_ids" in a:
            self.captions = (t(a["caption_ids"], torch.long), t(a["caption_pad"], torch.bool))
        self.questions = None
        if "question_ids" in a:
            self.questions = (
                t(a["question_ids"], torch.long),
                t(a["question_pad"], torch.bool),
                t(a["question_image"], torch.long),
                t(a["answers"], torch.long),
            )


class Backbone(nn.Module):
    def __init__(self, channels, stride):
        super().__init__()
        self.pools = int(round(math.log2(stride)))
        widths = [16, 32, channels] + [channels] * max(0, self.pools - 2)
        convs, cin = [], 3
        for w in widths:
            convs.append(nn.Conv2d(cin, w, 3, padding=1))
            cin = w
        self.convs = nn.ModuleList(convs)

    def forward(self, x):
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i < self.pools:
                x = F.avg_pool2d(x, 2)
        return x


class SpikingGraphConv(nn.Module):
    """Linear → mean over in-neighbours and self → LayerNorm → multi-step LIF."""

    def __init__(self, d, snn):
        super().__init__()
        self.linear = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d, eps=1e-5)
        self.lif = sj_neuron.LIFNode(
            tau=float(snn["tau"]),
            decay_input=True,
            v_threshold=float(snn["threshold"]),
            v_reset=float(snn["reset_value"]),
            surrogate_function=sj_surrogate.ATan(alpha=float(snn["alpha"])),
            detach_reset=False,
            step_mode="m",
        )

    def current(self, x, src, dst, inv_degree):
        h = self.linear(x)
        agg = scatter(h[src], dst, dim=0, dim_size=h.shape[0], reduce="sum") * inv_degree
        return self.norm(agg)


class SnnBranch(nn.Module):
    def __init__(self, d, snn):
        super().__init__()
        self.t = snn["time_steps"]
        self.layers = nn.ModuleList([SpikingGraphConv(d, snn) for _ in range(snn["layers"])])
        self.readout = nn.Linear(d, d)

    def forward(self, v, batch):
        n, d = v.shape
        t = self.t
        x = None
        for i, layer in enumerate(self.layers):
            if i == 0:
                # Direct encoding: the same input every step, so the current once.
                c = layer.current(v, batch.snn_src, batch.snn_dst, batch.inv_degree)
                c = c.unsqueeze(0).expand(t, n, d)
            else:
                c = layer.current(x.reshape(t * n, d), batch.snn_src_t, batch.snn_dst_t, batch.inv_degree_t).reshape(t, n, d)
            x = layer.lif(c)
        return self.readout(x.mean(0))


class TextEncoder(nn.Module):
    def __init__(self, vocab, text):
        super().__init__()
        w = text["width"]
        self.words = nn.Embedding(vocab, w)
        self.positions = nn.Embedding(text["max_len"], w)
        layer = nn.TransformerEncoderLayer(w, text["heads"], 2 * w, text["dropout"], activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, text["layers"], enable_nested_tensor=False)

    def forward(self, ids, pad):
        l = ids.shape[1]
        pos = torch.arange(l, device=ids.device)
        x = self.words(ids) + self.positions(pos).unsqueeze(0)
        tokens = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).float().unsqueeze(-1)
        sentence = (tokens * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return tokens, sentence


class VqaHead(nn.Module):
    def __init__(self, d, w, answers):
        super().__init__()
        self.query = nn.Linear(w, d)
        self.key = nn.Linear(d, d)
        self.fuse = nn.Linear(3 * d, d)
        self.out = nn.Linear(d, answers)

    def forward(self, question, nodes, mask):
        q, m, d = nodes.shape
        query = self.query(question)
        keys = self.key(nodes)
        scores = torch.bmm(keys, query.unsqueeze(2)).reshape(q, m) / math.sqrt(d)
        attention = torch.softmax(scores.masked_fill(~mask, -1e9), dim=1)
        pooled = torch.bmm(attention.unsqueeze(1), nodes).reshape(q, d)
        h = F.relu(self.fuse(torch.cat([pooled, query, pooled * query], dim=1)))
        return self.out(h)


def l2_normalize(x):
    return x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-12)


def normalize_rows(x):
    centred = x - x.mean(1, keepdim=True)
    return centred / (centred.pow(2).mean(1, keepdim=True) + 1e-5).sqrt()


def cross_entropy(logits, targets):
    return -torch.log_softmax(logits, 1).gather(1, targets.unsqueeze(1)).mean()


class GshnTwin(nn.Module):
    def __init__(self, meta):
        super().__init__()
        d, e, w = meta["d_model"], meta["embed_dim"], meta["text"]["width"]
        self.branches = meta["branches"]
        self.backbone = Backbone(meta["cnn_channels"], meta["stride"])
        self.node_in = nn.Linear(meta["cnn_channels"], d)
        self.geometry = nn.Linear(7, d) if meta["geometry"] else None
        g = meta["gat"]
        self.gat = None
        if self.branches in ("hybrid", "gat-only"):
            heads = g["heads"]
            self.gat = nn.ModuleList(
                [GATConv(d, d // heads, heads=heads, concat=True, negative_slope=g["negative_slope"], dropout=0.0, add_self_loops=True, bias=True) for _ in range(g["layers"])]
            )
        self.snn = SnnBranch(d, meta["snn"]) if self.branches in ("hybrid", "snn-only") else None
        self.r = nn.Parameter(torch.tensor([float(meta["r"])]))
        self.image_proj = nn.Linear(d, e)
        self.text = TextEncoder(meta["vocab_size"], meta["text"])
        self.text_proj = nn.Linear(w, e)
        self.log_scale = nn.Parameter(torch.tensor([LOGIT_SCALE_INIT]))
        self.vqa = VqaHead(d, w, meta["answers"])
        # Spiked Text Learning and node-level InfoNCE projections: unused by the main stage.
        self.stl_words = nn.Linear(w, e)
        self.stl_segments = nn.Linear(d, e)
        self.node_snn = nn.Linear(d, d)
        self.node_gat = nn.Linear(d, d)
        self.loss_weights = meta["loss"]

    def tokens(self, batch):
        f = self.backbone(batch.pixels)
        b, c, h, w = f.shape
        cells = f.reshape(b, c, h * w).transpose(1, 2)
        v = self.node_in(torch.bmm(batch.masks, cells))
        if self.geometry is not None:
            v = v + self.geometry(batch.geometry)
        return v[batch.node_mask]  # [ΣN, d], image by image

    def encode_images(self, batch):
        v = self.tokens(batch)
        f = None
        if self.gat is not None:
            f = v
            for i, layer in enumerate(self.gat):
                f = layer(f, batch.edge_index)
                if i + 1 < len(self.gat):
                    f = F.elu(f)
        e = self.snn(v, batch) if self.snn is not None else None
        if e is not None and f is not None:
            nodes = normalize_rows(e) * self.r + normalize_rows(f)
        else:
            # One branch, or neither (tokens-only: V' = V).
            nodes = normalize_rows(e if e is not None else f if f is not None else v)
        mean = global_mean_pool(nodes, batch.batch_vec, size=batch.images)
        return l2_normalize(self.image_proj(mean)), nodes

    def losses(self, batch):
        image, nodes = self.encode_images(batch)
        total = torch.zeros(1, device=nodes.device)
        parts = {}
        if batch.captions is not None and self.loss_weights["clip"] > 0:
            _, sentence = self.text(*batch.captions)
            text = l2_normalize(self.text_proj(sentence))
            scale = self.log_scale.clamp(0.0, LOGIT_SCALE_MAX).exp()
            logits = image @ text.t() * scale
            targets = torch.arange(logits.shape[0], device=logits.device)
            clip = (cross_entropy(logits, targets) + cross_entropy(logits.t(), targets)) / 2
            total = total + clip * self.loss_weights["clip"]
            parts["clip"] = clip
        if batch.questions is not None and self.loss_weights["vqa"] > 0:
            ids, pad, image_row, answers = batch.questions
            _, sentence = self.text(ids, pad)
            dense, mask = to_dense_batch(nodes, batch.batch_vec, max_num_nodes=batch.m, batch_size=batch.images)
            logits = self.vqa(sentence, dense[image_row], mask[image_row])
            vqa = cross_entropy(logits, answers)
            total = total + vqa * self.loss_weights["vqa"]
            parts["vqa"] = vqa
        return total, parts


def gshn_state_dict(path, model):
    """The twin's state dict from gshn's initial weights (a safetensors file compare-train
    wrote with Burn's parameter names): Burn's Linear stores [in, out], PyTorch's [out, in];
    Burn's LayerNorm names gamma/beta; Burn's attention has separate query/key/value maps where
    PyTorch has one in_proj; Burn's pre-norm layer applies norm_2 before attention and norm_1
    before the feed-forward block (PyTorch: norm1, norm2)."""
    from safetensors.torch import load_file

    w = load_file(path)
    out, used = {}, set()

    def take(name):
        used.add(name)
        return w[name]

    def linear(burn, torch_name, bias=True):
        out[f"{torch_name}.weight"] = take(f"{burn}.weight").t().contiguous()
        if bias:
            out[f"{torch_name}.bias"] = take(f"{burn}.bias")

    for i in range(len(model.backbone.convs)):
        for k in ("weight", "bias"):
            out[f"backbone.convs.{i}.{k}"] = take(f"backbone.Cnn.convs.{i}.{k}")
    for name in ["node_in", "image_proj", "text_proj", "stl_words", "stl_segments", "node_snn", "node_gat", "vqa.query", "vqa.key", "vqa.fuse", "vqa.out"]:
        linear(name, name)
    if model.geometry is not None:
        linear("geometry", "geometry")
    out["r"] = take("fusion.r")
    out["log_scale"] = take("logit_scale.log_scale")
    if model.gat is not None:
        for i, layer in enumerate(model.gat):
            linear(f"gat.layers.{i}.lin", f"gat.{i}.lin", bias=False)
            for k in ("att_src", "att_dst"):
                out[f"gat.{i}.{k}"] = take(f"gat.layers.{i}.{k}").reshape(layer.att_src.shape)
            out[f"gat.{i}.bias"] = take(f"gat.layers.{i}.bias")
    if model.snn is not None:
        linear("snn.readout", "snn.readout")
        for i in range(len(model.snn.layers)):
            linear(f"snn.layers.{i}.linear", f"snn.layers.{i}.linear")
            out[f"snn.layers.{i}.norm.weight"] = take(f"snn.layers.{i}.norm.gamma")
            out[f"snn.layers.{i}.norm.bias"] = take(f"snn.layers.{i}.norm.beta")
    t = "text.Scratch"
    out["text.words.weight"] = take(f"{t}.words.weight")
    out["text.positions.weight"] = take(f"{t}.positions.weight")
    for i in range(len(model.text.encoder.layers)):
        b, p = f"{t}.encoder.layers.{i}", f"text.encoder.layers.{i}"
        qkv = ("query", "key", "value")
        out[f"{p}.self_attn.in_proj_weight"] = torch.cat([take(f"{b}.mha.{k}.weight").t() for k in qkv], 0).contiguous()
        out[f"{p}.self_attn.in_proj_bias"] = torch.cat([take(f"{b}.mha.{k}.bias") for k in qkv], 0)
        linear(f"{b}.mha.output", f"{p}.self_attn.out_proj")
        linear(f"{b}.pwff.linear_inner", f"{p}.linear1")
        linear(f"{b}.pwff.linear_outer", f"{p}.linear2")
        for burn_norm, torch_norm in (("norm_2", "norm1"), ("norm_1", "norm2")):
            out[f"{p}.{torch_norm}.weight"] = take(f"{b}.{burn_norm}.gamma")
            out[f"{p}.{torch_norm}.bias"] = take(f"{b}.{burn_norm}.beta")
    unused = sorted(set(w) - used)
    if unused:
        raise SystemExit(f"gshn parameters the twin does not map: {unused}")
    return out


def clip_per_tensor(params, max_norm):
    """Burn's GradientClipping::Norm: each gradient scaled to norm ≤ max_norm by itself."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch._foreach_norm(grads)
    coefs = torch._foreach_add(norms, torch.finfo(torch.float32).tiny)
    torch._foreach_reciprocal_(coefs)
    torch._foreach_mul_(coefs, max_norm)
    torch._foreach_clamp_max_(coefs, 1.0)
    torch._foreach_mul_(grads, coefs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", required=True, help="the batch file compare-train wrote")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5, help="timed passes over the batches")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--phases", action="store_true", help="also time forward, backward and the optimiser step apart")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", help="start from gshn's initial weights (safetensors, Burn's names) instead of PyTorch's initialisation")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    meta, raw = read_batches(a.batches)
    batches = [Batch(b, meta["snn"]["time_steps"], device) for b in raw]
    model = GshnTwin(meta)
    if a.weights:
        model.load_state_dict(gshn_state_dict(a.weights, model), strict=True)
    model = model.to(device)
    model.train()
    o = meta["optim"]
    params = [q for q in model.parameters()]
    opt = torch.optim.AdamW(params, lr=o["lr"], betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"], weight_decay=o["weight_decay"])
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def step(batch, phases=None):
        sj_functional.reset_net(model)
        opt.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        total, parts = model.losses(batch)
        if phases is not None:
            sync()
            t1 = time.perf_counter()
        total.backward()
        if phases is not None:
            sync()
            t2 = time.perf_counter()
        clip_per_tensor(params, o["grad_clip"])
        opt.step()
        sync()
        if phases is not None:
            t3 = time.perf_counter()
            phases["forward"].append((t1 - t0) * 1e3)
            phases["backward"].append((t2 - t1) * 1e3)
            phases["optimizer"].append((t3 - t2) * 1e3)
        return total, parts

    # The warm-up steps' losses (read after each step; untimed): with gshn's weights and no
    # dropout they follow gshn's step for step, which checks the backward and the optimiser too.
    warmup_losses = []
    for i in range(max(1, a.warmup)):
        total, parts = step(batches[i % len(batches)])
        warmup_losses.append({"total": total.item(), **{k: v.item() for k, v in parts.items()}})
    first = warmup_losses[0]
    times = []
    for _ in range(a.reps):
        for b in batches:
            t = time.perf_counter()
            step(b)
            times.append((time.perf_counter() - t) * 1e3)
    out = {
        "step_ms": times,
        "median_ms": statistics.median(times),
        "first_losses": first,
        "warmup_losses": warmup_losses,
        "weights": "gshn's" if a.weights else "PyTorch's initialisation",
        "params": sum(q.numel() for q in params),
        "nodes": [b.nodes for b in batches],
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "spikingjelly": getattr(spikingjelly, "__version__", None) or _dist_version("spikingjelly"),
    }
    if a.phases:
        phases = {"forward": [], "backward": [], "optimizer": []}
        for _ in range(a.reps):
            for b in batches:
                step(b, phases)
        out["phases_ms"] = {k: statistics.median(v) for k, v in phases.items()}
    print(json.dumps(out))


def _dist_version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


if __name__ == "__main__":
    main()
