#!/usr/bin/env python3
"""Golden fixtures for gshn-graph's GATConv/GATv2Conv from PyTorch Geometric 2.8.

Each case builds a PyG layer with seeded weights, runs it on a random graph with an isolated
node, duplicate edges and existing self loops, and records the weights, the input, the
output, the attention weights (with the edges they belong to) and the gradients of
L = sum(g * out) with respect to the input, the edge features and every weight.

    .venv/bin/pip install torch torch-geometric
    .venv/bin/python scripts/peers/gat_fixtures.py
"""
import json
import pathlib
import importlib.metadata as md

import torch
from torch_geometric.nn import GATConv, GATv2Conv

OUT = pathlib.Path(__file__).resolve().parents[2] / "gshn-graph/tests/fixtures"

CASES = {
    "gat_heads4_concat": dict(cls=GATConv, in_ch=8, out_ch=5, heads=4, concat=True),
    "gat_heads3_mean_edge_residual": dict(cls=GATConv, in_ch=6, out_ch=4, heads=3, concat=False, edge_dim=3, residual=True),
    "gat_no_self_loops": dict(cls=GATConv, in_ch=5, out_ch=3, heads=2, concat=True, add_self_loops=False),
    "gatv2_shared": dict(cls=GATv2Conv, in_ch=7, out_ch=4, heads=2, concat=True, share_weights=True),
    "gatv2_unshared_edge_mean": dict(cls=GATv2Conv, in_ch=6, out_ch=3, heads=3, concat=False, edge_dim=2, residual=True),
}


def graph(g, n=12):
    src = torch.randint(0, n - 1, (26,), generator=g)  # node n-1 stays isolated
    dst = torch.randint(0, n - 1, (26,), generator=g)
    src = torch.cat([src, torch.tensor([2, 2, 4, 5])])  # a duplicate edge and self loops
    dst = torch.cat([dst, torch.tensor([3, 3, 4, 5])])
    return torch.stack([src, dst]), n


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (name, spec) in enumerate(CASES.items()):
        torch.manual_seed(100 + i)
        g = torch.Generator().manual_seed(200 + i)
        spec = dict(spec)
        cls = spec.pop("cls")
        in_ch, out_ch = spec.pop("in_ch"), spec.pop("out_ch")
        layer = cls(in_ch, out_ch, dropout=0.0, **spec)
        with torch.no_grad():  # a non-zero bias so that it is exercised
            layer.bias.normal_(0, 0.1)
        layer.eval()
        edge_index, n = graph(g)
        x = torch.randn(n, in_ch, generator=g).requires_grad_(True)
        edge_attr = None
        if spec.get("edge_dim"):
            edge_attr = torch.randn(edge_index.size(1), spec["edge_dim"], generator=g).requires_grad_(True)
        out, (att_edges, alpha) = layer(x, edge_index, edge_attr=edge_attr, return_attention_weights=True)
        grad_out = torch.randn(out.shape, generator=g)
        (out * grad_out).sum().backward()
        params = {k: {"shape": list(v.shape), "value": flat(v), "grad": flat(v.grad)} for k, v in layer.named_parameters()}
        fix = {
            "name": name, "layer": cls.__name__,
            "config": {"in_channels": in_ch, "out_channels": out_ch, **spec},
            "versions": {"torch": torch.__version__, "torch_geometric": md.version("torch_geometric")},
            "num_nodes": n, "src": edge_index[0].tolist(), "dst": edge_index[1].tolist(),
            "x": flat(x), "edge_attr": None if edge_attr is None else flat(edge_attr),
            "out": flat(out), "out_shape": list(out.shape), "grad_out": flat(grad_out),
            "att_src": att_edges[0].tolist(), "att_dst": att_edges[1].tolist(), "attention": flat(alpha),
            "grad_x": flat(x.grad), "grad_edge_attr": None if edge_attr is None else flat(edge_attr.grad),
            "params": params,
        }
        (OUT / f"{name}.json").write_text(json.dumps(fix, separators=(",", ":")))
        print(name, list(params), tuple(out.shape), alpha.shape)


if __name__ == "__main__":
    main()
