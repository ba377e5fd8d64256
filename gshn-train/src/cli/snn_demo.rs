//! A small spiking demo: a two-layer spiking network learns to classify rate-coded patterns
//! with surrogate gradients, and reports accuracy, firing rates, SOPs and estimated energy.
//!
//! It exercises every part of `gshn-snn` (encoder, neurons, surrogate, spiking layers,
//! statistics) end to end; the full GSHN training replaces it as the main job later.

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gshn_snn::encoder::{EncoderConfig, Encoding};
use gshn_snn::layer::{rate_readout, SpikingLinear, SpikingLinearConfig};
use gshn_snn::neuron::NeuronConfig;
use gshn_snn::rng::SeedRng;
use gshn_snn::stats::{EnergyModel, LayerStats};

/// Settings of the demo.
#[derive(Config, Debug)]
pub struct SnnDemoConfig {
    /// The one seed that drives data, initialisation and spike encoding.
    #[config(default = 0)]
    pub seed: u64,
    /// Training steps (one batch each).
    #[config(default = 300)]
    pub steps: usize,
    /// Batch size.
    #[config(default = 64)]
    pub batch: usize,
    /// Time steps T.
    #[config(default = 8)]
    pub time_steps: usize,
    /// Input features.
    #[config(default = 32)]
    pub inputs: usize,
    /// Hidden spiking neurons per layer.
    #[config(default = 64)]
    pub hidden: usize,
    /// Classes.
    #[config(default = 4)]
    pub classes: usize,
    /// Std of the noise added to each class prototype.
    #[config(default = 0.25)]
    pub noise: f64,
    /// Adam learning rate.
    #[config(default = 5e-3)]
    pub lr: f64,
    /// The neuron model of both spiking layers.
    #[config(default = "NeuronConfig::default()")]
    pub neuron: NeuronConfig,
}

/// Rate-coded input → spiking layer → spiking layer → firing rate → linear readout.
#[derive(Module, Debug)]
pub struct SpikingClassifier {
    /// First spiking layer (fed by input spikes).
    pub fc1: SpikingLinear,
    /// Second spiking layer.
    pub fc2: SpikingLinear,
    /// Linear readout of the firing rates.
    pub readout: Linear,
}

impl SpikingClassifier {
    /// Logits `[N, classes]` and per-layer statistics for input spikes `[T, N, F]`.
    pub fn forward(&self, spikes: Tensor<3>) -> gshn_snn::Result<(Tensor<2>, Vec<LayerStats>)> {
        let (s1, st1) = self.fc1.forward_with_stats(spikes, true, "fc1")?;
        let (s2, st2) = self.fc2.forward_with_stats(s1, true, "fc2")?;
        let mut readout_stats = LayerStats::measure("readout", &s2, true, self.readout.weight.dims()[1], &s2);
        readout_stats.spikes = 0.0;
        readout_stats.neuron_steps = 0.0;
        Ok((self.readout.forward(rate_readout(s2)), vec![st1, st2, readout_stats]))
    }
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct SnnDemoReport {
    /// Cross-entropy of the first and last 20 training steps (mean).
    pub loss_first: f64,
    /// Mean cross-entropy of the last 20 steps.
    pub loss_last: f64,
    /// Accuracy on 512 held-out samples.
    pub test_accuracy: f64,
    /// Per-layer statistics on the held-out samples.
    pub layers: Vec<LayerStats>,
    /// MACs a non-spiking network of the same shape would need on the same samples.
    pub ann_macs: f64,
}

struct Task {
    prototypes: Vec<Vec<f32>>,
}

impl Task {
    fn new(cfg: &SnnDemoConfig, rng: &mut SeedRng) -> Self {
        let prototypes = (0..cfg.classes).map(|_| (0..cfg.inputs).map(|_| if rng.next_f32() < 0.5 { 0.8 } else { 0.1 }).collect()).collect();
        Self { prototypes }
    }

    fn batch(&self, cfg: &SnnDemoConfig, n: usize, rng: &mut SeedRng, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let mut xs = Vec::with_capacity(n * cfg.inputs);
        let mut ys = Vec::with_capacity(n);
        for _ in 0..n {
            let c = rng.below(cfg.classes as u64) as usize;
            ys.push(c as i64);
            xs.extend(self.prototypes[c].iter().map(|&p| (p as f64 + cfg.noise * rng.normal()).clamp(0.0, 1.0) as f32));
        }
        (Tensor::from_data(TensorData::new(xs, [n, cfg.inputs]), device), Tensor::from_data(TensorData::new(ys, [n]), device))
    }
}

/// The most bytes one step's input spikes `[T, batch, max(inputs, hidden)]` (f32) may take.
pub const MAX_STEP_BYTES: usize = 1 << 30;

impl SnnDemoConfig {
    /// Checks every field against the bounds of its twin in the GSHN config (steps as
    /// `train.steps`, time steps as `model.snn.time_steps`, widths as `model.d_model`) and
    /// refuses a step whose spikes would exceed [`MAX_STEP_BYTES`]; errors name the field.
    pub fn validate(&self) -> Result<(), crate::GshnError> {
        use crate::error::invalid as bad;
        use crate::model::config::limits::{MAX_TIME_STEPS, MAX_WIDTH};
        if !(1..=100_000_000).contains(&self.steps) {
            return Err(bad("steps", format!("{} must lie in 1..=1e8", self.steps)));
        }
        if !(1..=MAX_TIME_STEPS).contains(&self.time_steps) {
            return Err(bad("time_steps", format!("{} must lie in 1..={MAX_TIME_STEPS}", self.time_steps)));
        }
        for (field, n, lo) in [("batch", self.batch, 1), ("inputs", self.inputs, 1), ("hidden", self.hidden, 1), ("classes", self.classes, 2)] {
            if !(lo..=MAX_WIDTH).contains(&n) {
                return Err(bad(field, format!("{n} must lie in {lo}..={MAX_WIDTH}")));
            }
        }
        if !(self.noise.is_finite() && (0.0..=10.0).contains(&self.noise)) {
            return Err(bad("noise", format!("{} must lie in [0, 10]", self.noise)));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1e6) {
            return Err(bad("lr", format!("{} must lie in (0, 1e6]", self.lr)));
        }
        let bytes = self.time_steps * self.batch * self.inputs.max(self.hidden) * 4;
        if bytes > MAX_STEP_BYTES {
            return Err(bad(
                "time_steps",
                format!(
                    "T = {} × batch {} × width {} needs {bytes} bytes of spikes per step, over the limit of {MAX_STEP_BYTES}",
                    self.time_steps,
                    self.batch,
                    self.inputs.max(self.hidden)
                ),
            ));
        }
        self.neuron.validate().map_err(crate::GshnError::from)
    }
}

/// Trains and evaluates the demo on `device` (an autodiff device), printing progress through
/// `log` every 25 steps. The config is validated first ([`SnnDemoConfig::validate`]).
pub fn run(cfg: &SnnDemoConfig, device: &Device, mut log: impl FnMut(&str)) -> Result<SnnDemoReport, crate::GshnError> {
    cfg.validate()?;
    device.seed(cfg.seed);
    let root = SeedRng::new(cfg.seed);
    let mut data_rng = root.fork("data");
    let mut enc_rng = root.fork("encoder");
    let task = Task::new(cfg, &mut data_rng);
    let encoder = EncoderConfig::new().with_time_steps(cfg.time_steps).with_encoding(Encoding::Rate).init()?;
    let mut model = SpikingClassifier {
        fc1: SpikingLinearConfig::new(cfg.inputs, cfg.hidden).with_neuron(cfg.neuron.clone()).init(device)?,
        fc2: SpikingLinearConfig::new(cfg.hidden, cfg.hidden).with_neuron(cfg.neuron.clone()).init(device)?,
        readout: LinearConfig::new(cfg.hidden, cfg.classes).init(device),
    };
    let mut optim = AdamConfig::new().init();
    let ce = CrossEntropyLossConfig::new().init(device);
    let mut losses = Vec::with_capacity(cfg.steps);
    for step in 1..=cfg.steps {
        let (x, y) = task.batch(cfg, cfg.batch, &mut data_rng, device);
        let spikes: Tensor<3> = encoder.encode(x, &mut enc_rng)?;
        let (logits, _) = model.forward(spikes)?;
        let loss = ce.forward(logits, y);
        let value: f32 = loss.clone().into_scalar();
        if !value.is_finite() {
            return Err(crate::GshnError::InvalidInput(format!("the demo's loss became {value} at step {step}")));
        }
        losses.push(value as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
        if step % 25 == 0 || step == cfg.steps {
            let recent = &losses[losses.len().saturating_sub(25)..];
            log(&format!("step {step:>4}/{}  loss {:.4}", cfg.steps, recent.iter().sum::<f64>() / recent.len() as f64));
        }
    }

    // Held-out evaluation without gradients.
    let model = model.valid();
    let eval_device = model.readout.weight.val().device();
    let (x, y) = task.batch(cfg, 512, &mut data_rng, &eval_device);
    let spikes: Tensor<3> = encoder.encode(x, &mut enc_rng)?;
    let (logits, layers) = model.forward(spikes)?;
    let pred = logits.argmax(1).squeeze_dim::<1>(1);
    let correct: i64 = pred.equal(y).int().sum().into_scalar();
    let n = 512.0;
    let ann_macs = n * (cfg.inputs * cfg.hidden + cfg.hidden * cfg.hidden + cfg.hidden * cfg.classes) as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let k = losses.len().min(20);
    Ok(SnnDemoReport { loss_first: mean(&losses[..k]), loss_last: mean(&losses[losses.len() - k..]), test_accuracy: correct as f64 / n, layers, ann_macs })
}

/// The report as a Markdown table.
pub fn render(report: &SnnDemoReport, energy: &EnergyModel) -> String {
    let mut s = String::new();
    s += &format!("loss {:.4} → {:.4}   test accuracy {:.3}\n\n", report.loss_first, report.loss_last, report.test_accuracy);
    s += "| layer | firing rate | SOPs | MACs | energy (µJ) |\n|---|---|---|---|---|\n";
    let mut total = 0.0;
    for l in &report.layers {
        let e = l.energy_pj(energy) * 1e-6;
        total += e;
        s += &format!("| {} | {:.4} | {:.3e} | {:.3e} | {:.4} |\n", l.name, l.firing_rate(), l.sops, l.macs, e);
    }
    let ann = energy.energy_pj(report.ann_macs, 0.0) * 1e-6;
    s += &format!("\nSNN arithmetic energy {total:.4} µJ vs {ann:.4} µJ for an ANN of the same shape ({}; memory traffic ignored)\n", energy.name);
    s
}
