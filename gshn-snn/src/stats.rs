//! Spike statistics and energy estimates.
//!
//! * firing rate: the fraction of (neuron, step) pairs that spiked;
//! * synaptic operations (SOPs): for a layer fed by spikes, every input spike triggers one
//!   accumulate per outgoing synapse, `SOP = Σ_t Σ_i s_i[t] · fan_out_i` (Merolla et al. 2014);
//!   a layer fed by real values does `MAC = T_eff · N_in · fan_out` multiply-accumulates;
//! * energy: `E = MAC · E_MAC + SOP · E_AC` with per-operation energies from Horowitz
//!   (ISSCC 2014, 45 nm). **Caveat:** memory traffic, which dominates real chips, is ignored;
//!   the estimate compares arithmetic only.

use burn::config::Config;
use burn::tensor::Tensor;

/// Energy per operation, in picojoules.
#[derive(Config, Debug, PartialEq)]
pub struct EnergyModel {
    /// Preset name.
    pub name: String,
    /// Energy of one multiply-accumulate (pJ).
    pub e_mac_pj: f64,
    /// Energy of one accumulate (pJ).
    pub e_ac_pj: f64,
}

impl EnergyModel {
    /// 45 nm, fp32: MAC 4.6 pJ (3.7 mult + 0.9 add), AC 0.9 pJ (Horowitz 2014). The usual
    /// figure in the SNN literature, and our default.
    pub fn fp32_45nm() -> Self {
        Self::new("45nm-fp32".into(), 4.6, 0.9)
    }
    /// 45 nm, fp16: MAC 1.5 pJ (1.1 mult + 0.4 add), AC 0.4 pJ (Horowitz 2014).
    pub fn fp16_45nm() -> Self {
        Self::new("45nm-fp16".into(), 1.5, 0.4)
    }
    /// 45 nm, int8: MAC 0.23 pJ (0.2 mult + 0.03 add), AC 0.03 pJ (Horowitz 2014).
    pub fn int8_45nm() -> Self {
        Self::new("45nm-int8".into(), 0.23, 0.03)
    }
    /// A preset by name: `45nm-fp32`, `45nm-fp16` or `45nm-int8`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "45nm-fp32" | "fp32" => Some(Self::fp32_45nm()),
            "45nm-fp16" | "fp16" => Some(Self::fp16_45nm()),
            "45nm-int8" | "int8" => Some(Self::int8_45nm()),
            _ => None,
        }
    }
    /// Estimated energy in picojoules of `macs` MACs and `sops` accumulates.
    pub fn energy_pj(&self, macs: f64, sops: f64) -> f64 {
        macs * self.e_mac_pj + sops * self.e_ac_pj
    }
}

/// What one layer did during one forward pass.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerStats {
    /// Layer name.
    pub name: String,
    /// Spikes the layer emitted.
    pub spikes: f64,
    /// Neuron-steps: `T × number of neurons`.
    pub neuron_steps: f64,
    /// Synaptic operations (accumulates) the layer's inputs triggered.
    pub sops: f64,
    /// Multiply-accumulates (for a layer fed by real values).
    pub macs: f64,
}

impl LayerStats {
    /// Statistics of a layer with output spikes `spikes` (any shape `[T, …]`), fed by
    /// `input` (`[T, …, F_in]`) through `fan_out` synapses per input. If `input_is_spikes`
    /// the layer's cost counts as SOPs (one per input spike and synapse), else as MACs
    /// (one per input value and synapse).
    pub fn measure<const D: usize, const E: usize>(
        name: impl Into<String>,
        input: &Tensor<E>,
        input_is_spikes: bool,
        fan_out: usize,
        spikes: &Tensor<D>,
    ) -> Self {
        let emitted = total(spikes);
        let (sops, macs) = if input_is_spikes { (total(input) * fan_out as f64, 0.0) } else { (0.0, input.shape().num_elements() as f64 * fan_out as f64) };
        Self { name: name.into(), spikes: emitted, neuron_steps: spikes.shape().num_elements() as f64, sops, macs }
    }

    /// Fraction of neuron-steps with a spike.
    pub fn firing_rate(&self) -> f64 {
        if self.neuron_steps == 0.0 {
            0.0
        } else {
            self.spikes / self.neuron_steps
        }
    }

    /// Adds another pass's counts to this one (same layer, more data).
    pub fn accumulate(&mut self, other: &LayerStats) {
        self.spikes += other.spikes;
        self.neuron_steps += other.neuron_steps;
        self.sops += other.sops;
        self.macs += other.macs;
    }

    /// Estimated energy (pJ) under `model`.
    pub fn energy_pj(&self, model: &EnergyModel) -> f64 {
        model.energy_pj(self.macs, self.sops)
    }
}

fn total<const D: usize>(t: &Tensor<D>) -> f64 {
    let s: f32 = t.clone().detach().sum().into_scalar();
    s as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_hold_the_horowitz_figures() {
        let m = EnergyModel::preset("45nm-fp32").unwrap();
        assert_eq!((m.e_mac_pj, m.e_ac_pj), (4.6, 0.9));
        assert_eq!(EnergyModel::preset("int8").unwrap().e_ac_pj, 0.03);
        assert!(EnergyModel::preset("7nm").is_none());
        // 1000 MACs + 2000 SOPs at fp32: 4600 + 1800 pJ.
        assert!((m.energy_pj(1000.0, 2000.0) - 6400.0).abs() < 1e-9);
    }
}
