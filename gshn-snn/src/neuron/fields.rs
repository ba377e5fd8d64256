//! The config-file form of the neuron configs: one flat table per neuron model, each field
//! optional (a left-out field takes its default), an unknown or misplaced field an error that
//! names it.
//!
//! ```toml
//! [neuron.lif]          # or: neuron = "lif" (every default)
//! tau = 3.0             # or beta = 0.9 (snnTorch's form); decay_input = true
//! threshold = 1.0
//! reset = "hard"        # soft | none
//! surrogate = "sigmoid" # or { sigmoid = { alpha = 4.0 } }
//! fused = false         # per-step ops instead of the fused kernel (default true)
//! ```

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::base::{NeuronBaseConfig, ResetMode, ResetTiming};
use super::{IfConfig, Leak, LifConfig, NeuronConfig, PlifConfig};
use crate::config_serde::{Tagged, TaggedVisitor};
use crate::surrogate::{FireCondition, Surrogate};

/// Every field any neuron table may hold.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(skip_serializing_if = "Option::is_none")]
    tau: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    beta: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    init_tau: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decay_input: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset: Option<ResetMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detach_reset: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fire_condition: Option<FireCondition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    surrogate: Option<Surrogate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_timing: Option<ResetTiming>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fused: Option<bool>,
}

impl Fields {
    fn of_base(b: &NeuronBaseConfig) -> Self {
        Self {
            threshold: Some(b.threshold),
            reset: Some(b.reset),
            reset_value: Some(b.reset_value),
            detach_reset: Some(b.detach_reset),
            fire_condition: Some(b.fire_condition),
            surrogate: Some(b.surrogate),
            reset_timing: Some(b.reset_timing),
            // Written only when off, so that existing config files stay as they were.
            fused: (!b.fused).then_some(false),
            ..Default::default()
        }
    }

    fn base(&self) -> NeuronBaseConfig {
        let d = NeuronBaseConfig::new();
        NeuronBaseConfig {
            threshold: self.threshold.unwrap_or(d.threshold),
            reset: self.reset.unwrap_or(d.reset),
            reset_value: self.reset_value.unwrap_or(d.reset_value),
            detach_reset: self.detach_reset.unwrap_or(d.detach_reset),
            fire_condition: self.fire_condition.unwrap_or(d.fire_condition),
            surrogate: self.surrogate.unwrap_or(d.surrogate),
            reset_timing: self.reset_timing.unwrap_or(d.reset_timing),
            fused: self.fused.unwrap_or(d.fused),
        }
    }

    /// Refuses the model-specific fields `model` does not have.
    fn only<E: de::Error>(&self, model: &str, allowed: &[&str]) -> Result<(), E> {
        let present =
            [("tau", self.tau.is_some()), ("beta", self.beta.is_some()), ("init_tau", self.init_tau.is_some()), ("decay_input", self.decay_input.is_some())];
        for (name, set) in present {
            if set && !allowed.contains(&name) {
                let hint = match (model, name) {
                    ("plif", "tau") => " (PLIF learns τ; its starting value is `init_tau`)",
                    ("lif", "init_tau") => " (a LIF neuron's τ is `tau`; `init_tau` is PLIF's)",
                    ("if", _) => " (an IF neuron does not leak)",
                    _ => "",
                };
                return Err(E::custom(format!("unknown field `{name}` for the {model} neuron{hint}")));
            }
        }
        Ok(())
    }
}

impl Serialize for IfConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Fields::of_base(&self.base).serialize(s)
    }
}

impl<'de> Deserialize<'de> for IfConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = Fields::deserialize(d)?;
        f.only("if", &[])?;
        Ok(IfConfig { base: f.base() })
    }
}

impl Serialize for LifConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut f = Fields::of_base(&self.base);
        match self.leak {
            Leak::Tau { tau, decay_input } => {
                f.tau = Some(tau);
                f.decay_input = Some(decay_input);
            }
            Leak::Beta { beta } => f.beta = Some(beta),
        }
        f.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LifConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = Fields::deserialize(d)?;
        f.only("lif", &["tau", "beta", "decay_input"])?;
        let leak = match (f.beta, f.tau, f.decay_input) {
            (Some(beta), None, None) => Leak::Beta { beta },
            (Some(_), _, _) => {
                return Err(de::Error::custom("the lif neuron leaks by `beta` (snnTorch's form) or by `tau` and `decay_input` (SpikingJelly's), not both"))
            }
            (None, tau, decay_input) => Leak::Tau { tau: tau.unwrap_or(2.0), decay_input: decay_input.unwrap_or(true) },
        };
        Ok(LifConfig { leak, base: f.base() })
    }
}

impl Serialize for PlifConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut f = Fields::of_base(&self.base);
        f.init_tau = Some(self.init_tau);
        f.decay_input = Some(self.decay_input);
        f.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PlifConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = Fields::deserialize(d)?;
        f.only("plif", &["init_tau", "decay_input"])?;
        let default = PlifConfig::new();
        Ok(PlifConfig { init_tau: f.init_tau.unwrap_or(default.init_tau), decay_input: f.decay_input.unwrap_or(default.decay_input), base: f.base() })
    }
}

impl Serialize for NeuronConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match self {
            NeuronConfig::If(c) => map.serialize_entry("if", c)?,
            NeuronConfig::Lif(c) => map.serialize_entry("lif", c)?,
            NeuronConfig::Plif(c) => map.serialize_entry("plif", c)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for NeuronConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TaggedVisitor::<NeuronConfig>::new())
    }
}

impl Tagged for NeuronConfig {
    const WHAT: &'static str = "neuron";
    const NAMES: &'static [&'static str] = &["if", "lif", "plif"];

    fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "if" => NeuronConfig::If(IfConfig::new()),
            "lif" => NeuronConfig::Lif(LifConfig::new()),
            "plif" => NeuronConfig::Plif(PlifConfig::new()),
            _ => return None,
        })
    }

    fn with_fields<'de, A: de::MapAccess<'de>>(name: &str, map: &mut A) -> Result<Self, A::Error> {
        Ok(match name {
            "if" => NeuronConfig::If(map.next_value()?),
            "lif" => NeuronConfig::Lif(map.next_value()?),
            _ => NeuronConfig::Plif(map.next_value()?),
        })
    }
}

impl burn::config::Config for IfConfig {}
impl burn::config::Config for LifConfig {}
impl burn::config::Config for PlifConfig {}
impl burn::config::Config for NeuronConfig {}
