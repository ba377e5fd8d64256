//! Choosing the compute device: flex (CPU), WGPU, or `auto` (a GPU through WGPU when one
//! answers, else flex).

use burn::tensor::{Device, DeviceKind, Tensor};

use crate::experiment::DeviceChoice;
use crate::run_error::RunError;

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
                None => (Device::flex().autodiff(), format!("flex (CPU; no GPU adapter: {})", reasons.first().map_or("none", |s| s.as_str()))),
            }
        }
    })
}
