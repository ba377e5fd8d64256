#!/usr/bin/env python3
"""Times multi-step LIF forward+backward in snnTorch and SpikingJelly (PyTorch, CPU).

Called by `cargo run --release -p gshn-bench --bin compare-snn`; prints JSON
{"snntorch": {T: ms}, "spikingjelly": {T: ms}} with the median of --reps runs.
"""
import argparse
import json

import torch
import snntorch
from snntorch import surrogate as snn_sg
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_sg

from timing import median_ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--time-steps", default="4,8,16")
    p.add_argument("--shape", default="64,100,256")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    shape = [int(s) for s in a.shape.split(",")]
    out = {"snntorch": {}, "spikingjelly": {}, "threads": a.threads, "torch": torch.__version__}
    for t in [int(s) for s in a.time_steps.split(",")]:
        x = (torch.randn(t, *shape) + 0.8).requires_grad_(True)

        def run_snntorch():
            lif = snntorch.Leaky(beta=0.5, spike_grad=snn_sg.atan(alpha=2.0), reset_mechanism="zero")
            mem = lif.init_leaky()
            spikes = []
            for i in range(t):
                s, mem = lif(x[i], mem)
                spikes.append(s)
            torch.stack(spikes).sum().backward()
            x.grad = None

        def run_spikingjelly():
            lif = sj_neuron.LIFNode(tau=2.0, v_reset=0.0, surrogate_function=sj_sg.ATan(alpha=2.0), step_mode="m")
            lif(x).sum().backward()
            x.grad = None

        out["snntorch"][str(t)] = median_ms(run_snntorch, a.reps)
        out["spikingjelly"][str(t)] = median_ms(run_spikingjelly, a.reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
