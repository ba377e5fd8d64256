#!/usr/bin/env python3
"""NIR fixtures for gshn-snn: networks crossing between gshn-snn, snnTorch 1.0 and SpikingJelly 2.0.

Writes gshn-snn/tests/fixtures/nir/:

* snntorch_net.nir, snntorch_net.json — a snnTorch network (Linear, Leaky, Linear, Leaky; reset to
  zero in the step that spiked: the dynamics NIR describes) exported by snnTorch's own
  `export_to_nir`, and the spikes the *original* snnTorch network gives on a seeded input.
* spikingjelly_net.nir, spikingjelly_net.json — the same for SpikingJelly (Linear, LIFNode,
  Linear without bias, ParametricLIFNode, Linear, IFNode) through `nir_exchange.export_to_nir`.
* gshn_net_peers.json — gshn_net.nir (written by gshn-snn: `GSHN_WRITE_FIXTURES=1 cargo test
  --workspace --test nir`) imported by snnTorch's `import_from_nir` and SpikingJelly's
  `import_from_nir`, and the spikes each gives on the seeded input.

The Rust tests (gshn-snn/tests/nir.rs) read the .nir files with gshn-snn's own reader and
compare its spikes with these.

    python3 -m venv .venv && .venv/bin/pip install torch snntorch spikingjelly nir nirtorch
    GSHN_WRITE_FIXTURES=1 cargo test --workspace --test nir gshn_fixture
    .venv/bin/python scripts/peers/nir_fixtures.py
"""
import importlib.metadata as md
import json
import pathlib

import nir
import torch
import snntorch as snn
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir as snntorch_export
from snntorch.import_nir import import_from_nir as snntorch_import
from spikingjelly.activation_based import functional, layer, neuron
from spikingjelly.activation_based.nir_exchange import to_nir as sj_to_nir
from spikingjelly.activation_based.nir_exchange import from_nir as sj_from_nir

OUT = pathlib.Path(__file__).resolve().parents[2] / "gshn-snn/tests/fixtures/nir"
T, N, F = 16, 4, 8


def seeded_input(seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(T, N, F, generator=g) * 1.5 + 0.5).float()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def versions():
    return {p: md.version(p) for p in ["torch", "snntorch", "spikingjelly", "nir", "nirtorch"]}


def run_snntorch_seq(net, x):
    """A Sequential of snnTorch layers with init_hidden, stepped over T; the last layer's spikes."""
    snn_utils.reset(net)
    out = []
    with torch.no_grad():
        for t in range(T):
            y = net(x[t])
            out.append(y[0] if isinstance(y, tuple) else y)
    return torch.stack(out)


def snntorch_case():
    torch.manual_seed(1)
    leaky = lambda n, beta, last: snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True,
                                            output=last, reset_mechanism="zero", reset_delay=False)
    net = torch.nn.Sequential(torch.nn.Linear(F, 6), leaky(6, 0.8, False), torch.nn.Linear(6, 4), leaky(4, 0.7, True))
    with torch.no_grad():  # strong enough synapses that both layers fire
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(4.0)
        net[2].bias.add_(0.3)
    x = seeded_input(11)
    spikes = run_snntorch_seq(net, x)
    graph = snntorch_export(net, torch.randn(1, F), ignore_dims=[0])
    nir.write(OUT / "snntorch_net.nir", graph)
    # snnTorch's own round trip must give the same spikes, or the file does not say what the net does.
    back = snntorch_import(nir.read(OUT / "snntorch_net.nir"))
    again = run_graph_executor(back, x)
    assert torch.equal(again, spikes), "snnTorch's export → import changed the spikes"
    json.dump({"peer": versions(), "T": T, "N": N, "F": F, "input": flat(x), "spikes": flat(spikes),
               "spike_count": int(spikes.sum())}, open(OUT / "snntorch_net.json", "w"))
    print(f"snntorch_net: {int(spikes.sum())} spikes of {spikes.numel()}")


def run_graph_executor(module, x):
    """snnTorch's import gives a nirtorch GraphExecutor: stepped with an explicit state."""
    out, state = [], None
    with torch.no_grad():
        for t in range(T):
            y, state = module(x[t], state) if state is not None else module(x[t])
            out.append(y)
    return torch.stack(out)


def spikingjelly_case():
    torch.manual_seed(2)
    net = torch.nn.Sequential(
        layer.Linear(F, 6), neuron.LIFNode(tau=2.0, v_reset=0.0),
        layer.Linear(6, 5, bias=False), neuron.ParametricLIFNode(init_tau=3.0, v_reset=0.0),
        layer.Linear(5, 4), neuron.IFNode(v_reset=0.0))
    functional.set_step_mode(net, "m")
    with torch.no_grad():
        net[3].w.fill_(-0.3)  # a "learned" τ = 1 + e^0.3, not the initial one
    x = seeded_input(12)
    functional.reset_net(net)
    with torch.no_grad():
        spikes = net(x)
    sj_to_nir.export_to_nir(net, x, save_path=OUT / "spikingjelly_net.nir")
    json.dump({"peer": versions(), "T": T, "N": N, "F": F, "input": flat(x), "spikes": flat(spikes),
               "spike_count": int(spikes.sum())}, open(OUT / "spikingjelly_net.json", "w"))
    print(f"spikingjelly_net: {int(spikes.sum())} spikes of {spikes.numel()}")


def gshn_case():
    path = OUT / "gshn_net.nir"
    if not path.exists():
        raise SystemExit(f"{path} is missing: GSHN_WRITE_FIXTURES=1 cargo test --workspace --test nir gshn_fixture")
    x = seeded_input(13)
    graph = nir.read(path)
    st = snntorch_import(graph)
    st_spikes = run_graph_executor(st, x)
    sj = sj_from_nir.import_from_nir(nir.read(path))
    functional.set_step_mode(sj, "m")
    functional.reset_net(sj)
    with torch.no_grad():
        sj_spikes = sj(x)
    sj_spikes = sj_spikes[0] if isinstance(sj_spikes, tuple) else sj_spikes
    json.dump({"peer": versions(), "T": T, "N": N, "F": F, "input": flat(x), "snntorch_spikes": flat(st_spikes),
               "spikingjelly_spikes": flat(sj_spikes)}, open(OUT / "gshn_net_peers.json", "w"))
    print(f"gshn_net: snnTorch {int(st_spikes.sum())} spikes, SpikingJelly {int(sj_spikes.sum())} spikes of {st_spikes.numel()}")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    snntorch_case()
    spikingjelly_case()
    gshn_case()
