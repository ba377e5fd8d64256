//! Choosing the compute device: flex (CPU), WGPU, or `auto` (a GPU through WGPU when one
//! answers, else flex).

use burn::tensor::{Device, DeviceKind, Tensor};

use crate::cli::experiment::{AutotuneChoice, DeviceChoice, RuntimeSettings};
use crate::cli::run_error::RunError;

/// Runs a tiny computation on a WGPU device of `kind`; a missing adapter panics inside the
/// WGPU runtime, and the probe turns that into a reason.
fn probe(kind: DeviceKind) -> Result<(), String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(|| {
        let d = Device::wgpu(kind);
        Tensor::<1>::from_floats([1.0, 2.0], &d).sum().into_scalar::<f32>() == 3.0
    });
    std::panic::set_hook(hook);
    match r {
        Ok(true) => Ok(()),
        Ok(false) => Err("the adapter computed a wrong sum".into()),
        Err(p) => Err(p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "no adapter".into())),
    }
}

/// The training device for `choice`, as an autodiff device, with its name. `auto` takes a
/// discrete or integrated GPU through WGPU when one answers, else flex (a CPU adapter such as
/// Mesa's lavapipe is slower than flex, so `auto` does not pick it).
pub fn pick_device(choice: DeviceChoice) -> Result<(Device, String), RunError> {
    Ok(match choice {
        DeviceChoice::Flex => (Device::flex().autodiff(), "flex (CPU)".into()),
        DeviceChoice::Wgpu => {
            if let Err(why) = probe(DeviceKind::DefaultDevice) {
                return Err(RunError::Device(format!(
                    "--device wgpu: no WGPU adapter answers ({why}). Install a Vulkan driver and loader (e.g. mesa-vulkan-drivers libvulkan1; NVIDIA's ICD also needs libglvnd/libegl1), or use --device flex"
                )));
            }
            (Device::wgpu(DeviceKind::DefaultDevice).autodiff(), "wgpu (default adapter)".into())
        }
        DeviceChoice::Auto => {
            let mut reasons = Vec::new();
            let mut found = None;
            for (k, name) in [(DeviceKind::DiscreteGpu(0), "wgpu (discrete GPU)"), (DeviceKind::IntegratedGpu(0), "wgpu (integrated GPU)")] {
                match probe(k.clone()) {
                    Ok(()) => {
                        found = Some((k, name));
                        break;
                    }
                    Err(why) => reasons.push(why),
                }
            }
            match found {
                Some((k, name)) => (Device::wgpu(k).autodiff(), name.into()),
                None => {
                    // WGPU's adapter search fails inside a worker thread when no adapter of the
                    // kind exists, and its panic says only "RecvError": name what was looked for.
                    let why = reasons.iter().find(|r| !r.contains("RecvError")).map_or(String::new(), |r| format!(": {r}"));
                    (Device::flex().autodiff(), format!("flex (CPU; no discrete or integrated GPU adapter answered{why})"))
                }
            }
        }
    })
}

/// Applies the run's WGPU runtime settings: CubeCL's autotune level, its cache and where the
/// cache lives, and Burn's fusion. Must run before the first WGPU device is used (the runtime
/// reads its configuration once); a field left unset keeps what `cubecl.toml` and the
/// `CUBECL_*` environment variables say. Returns a line describing what is in force.
pub fn apply_runtime(rt: &RuntimeSettings) -> Result<String, RunError> {
    use burn::cubecl::config::autotune::AutotuneLevel;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    if rt.fusion == Some(false) {
        // Burn reads this when its configuration is first loaded: every fused segment then
        // runs op by op (its beam search explores nothing).
        std::env::set_var("BURN_FUSION_MAX_EXPLORATIONS", "0");
    }
    let mut c = CubeClRuntimeConfig::from_current_dir().override_from_env();
    if let Some(level) = rt.autotune {
        c.autotune.level = match level {
            AutotuneChoice::Minimal => AutotuneLevel::Minimal,
            AutotuneChoice::Balanced => AutotuneLevel::Balanced,
            AutotuneChoice::Extensive => AutotuneLevel::Extensive,
            AutotuneChoice::Full => AutotuneLevel::Full,
        };
    }
    if let Some(keep) = rt.autotune_cache {
        c.autotune.disable_cache = !keep;
    }
    if let Some(dir) = &rt.cache {
        use burn::cubecl::config::cache::CacheConfig;
        c.environment.path = match dir.as_str() {
            "global" => CacheConfig::Global,
            "target" => CacheConfig::Target,
            "local" => CacheConfig::Local,
            path => CacheConfig::Directory(path.into()),
        };
    }
    let line = format!(
        "wgpu runtime: autotune {:?}, cache {} ({:?}), fusion {}",
        c.autotune.level,
        if c.autotune.disable_cache { "off" } else { "on" },
        c.environment.path,
        if rt.fusion == Some(false) || std::env::var("BURN_FUSION_MAX_EXPLORATIONS").is_ok_and(|v| v == "0") { "off" } else { "on" }
    );
    if !CubeClRuntimeConfig::try_set(c) {
        return Err(RunError::Device("the WGPU runtime was configured already (runtime settings must be applied before the first WGPU device)".into()));
    }
    Ok(line)
}
