#!/usr/bin/env python3
"""Golden fixtures for gshn-snn from snnTorch 1.0 and SpikingJelly 2.0.

Each case runs one peer neuron multi-step (T = 8, N = 200) on seeded random input and records
spikes, the membrane trace, and the gradients of the loss L = sum(g_s * S) + sum(g_v * V) with
respect to the input (and PLIF's weight w). Writes gshn-snn/tests/fixtures/*.json.

    python3 -m venv .venv && .venv/bin/pip install torch snntorch spikingjelly
    .venv/bin/python scripts/peers/snn_fixtures.py
"""
import json
import pathlib

import torch
import snntorch
from snntorch import surrogate as snn_sg
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_sg
import importlib.metadata as md

OUT = pathlib.Path(__file__).resolve().parents[2] / "gshn-snn/tests/fixtures"
T, N = 8, 200


def inputs(seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, N, generator=g) * 0.8 + 0.6).float()
    g_s = torch.randn(T, N, generator=g).float()
    g_v = torch.randn(T, N, generator=g).float()
    return x, g_s, g_v


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def run_snntorch(x, g_s, g_v):
    lif = snntorch.Leaky(beta=0.9, threshold=1.0, spike_grad=snn_sg.atan(alpha=2.0),
                         reset_mechanism="subtract")
    mem = lif.init_leaky()
    spk_rec, mem_rec = [], []
    for t in range(T):
        spk, mem = lif(x[t], mem)
        spk_rec.append(spk)
        mem_rec.append(mem)
    return torch.stack(spk_rec), torch.stack(mem_rec), {}


def run_sj(node):
    def run(x, g_s, g_v):
        node.step_mode = "m"
        node.store_v_seq = True
        s = node(x)
        extra = {}
        if hasattr(node, "w"):
            extra["w_param"] = node.w
        return s, node.v_seq, extra
    return run


CASES = {
    "snntorch_leaky_subtract_atan": (
        "snnTorch Leaky(beta=0.9, threshold=1, reset_mechanism='subtract', spike_grad=atan(alpha=2))",
        run_snntorch),
    "spikingjelly_lif_hard_sigmoid": (
        "SpikingJelly LIFNode(tau=2, decay_input=True, v_reset=0, Sigmoid(alpha=4), detach_reset=False)",
        lambda: run_sj(sj_neuron.LIFNode(tau=2.0, decay_input=True, v_reset=0.0,
                                         surrogate_function=sj_sg.Sigmoid(alpha=4.0)))),
    "spikingjelly_lif_hard_atan": (
        "SpikingJelly LIFNode(tau=2, decay_input=True, v_reset=0, ATan(alpha=2), detach_reset=False)",
        lambda: run_sj(sj_neuron.LIFNode(tau=2.0, decay_input=True, v_reset=0.0,
                                         surrogate_function=sj_sg.ATan(alpha=2.0)))),
    "spikingjelly_lif_nodecay_detach_atan": (
        "SpikingJelly LIFNode(tau=3, decay_input=False, v_reset=0, ATan(alpha=2), detach_reset=True)",
        lambda: run_sj(sj_neuron.LIFNode(tau=3.0, decay_input=False, v_reset=0.0,
                                         surrogate_function=sj_sg.ATan(alpha=2.0), detach_reset=True))),
    "spikingjelly_plif_hard_atan": (
        "SpikingJelly ParametricLIFNode(init_tau=2, decay_input=True, v_reset=0, ATan(alpha=2))",
        lambda: run_sj(sj_neuron.ParametricLIFNode(init_tau=2.0, decay_input=True, v_reset=0.0,
                                                   surrogate_function=sj_sg.ATan(alpha=2.0)))),
    "spikingjelly_if_soft_atan": (
        "SpikingJelly IFNode(v_reset=None (soft), ATan(alpha=2))",
        lambda: run_sj(sj_neuron.IFNode(v_reset=None, surrogate_function=sj_sg.ATan(alpha=2.0)))),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, (peer, make)) in enumerate(CASES.items()):
        x, g_s, g_v = inputs(1000 + i)
        x = x.clone().requires_grad_(True)
        runner = run_snntorch if make is run_snntorch else make()
        s, v, extra = runner(x, g_s, g_v)
        loss = (g_s * s).sum() + (g_v * v).sum()
        loss.backward()
        fix = {
            "name": name,
            "peer": peer,
            "versions": {"torch": torch.__version__, "snntorch": md.version("snntorch"),
                         "spikingjelly": md.version("spikingjelly")},
            "loss": "L = sum(g_spike * S) + sum(g_mem * V)",
            "t": T, "n": N,
            "x": flat(x), "g_spike": flat(g_s), "g_mem": flat(g_v),
            "spikes": flat(s), "membrane": flat(v), "grad_x": flat(x.grad),
        }
        if "w_param" in extra:
            fix["w"] = float(extra["w_param"].item())
            fix["grad_w"] = float(extra["w_param"].grad.item())
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(fix, separators=(",", ":")))
        print(f"{path.name}: {int(s.sum())} spikes / {T * N}")


if __name__ == "__main__":
    main()
