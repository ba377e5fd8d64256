//! Test helpers: backends and fixtures.
#![allow(dead_code)]

use std::sync::OnceLock;

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};

/// The flex (CPU) device.
pub fn flex() -> Device {
    Device::flex()
}

/// The wgpu device, if an adapter exists. Without one the caller skips, saying why — unless
/// `GSHN_REQUIRE_WGPU=1` (set by CI, which installs Mesa), where a missing adapter fails.
pub fn wgpu() -> Option<Device> {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    let ok = *AVAILABLE.get_or_init(|| {
        let probe = std::panic::catch_unwind(|| {
            let d = Device::wgpu(DeviceKind::DefaultDevice);
            let t = Tensor::<1>::from_floats([1.0, 2.0], &d);
            let s: f32 = t.sum().into_scalar();
            s == 3.0
        });
        matches!(probe, Ok(true))
    });
    if ok {
        return Some(Device::wgpu(DeviceKind::DefaultDevice));
    }
    if std::env::var("GSHN_REQUIRE_WGPU").is_ok_and(|v| v == "1") {
        panic!("GSHN_REQUIRE_WGPU=1 but no WGPU adapter works (install mesa-vulkan-drivers)");
    }
    eprintln!("SKIP wgpu: no WGPU adapter on this machine (install mesa-vulkan-drivers to run it)");
    None
}

/// Every backend this machine can run: flex always, wgpu when an adapter exists.
pub fn backends() -> Vec<(&'static str, Device)> {
    let mut v = vec![("flex", flex())];
    if let Some(d) = wgpu() {
        v.push(("wgpu", d));
    }
    v
}

/// A float tensor from a flat vector.
pub fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// A tensor's values as a flat vector.
pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Asserts `|a − b| ≤ tol · max(|b|, 1)` element-wise (relative, absolute near zero).
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0.0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / w.abs().max(1.0);
        if err > worst.1 || err.is_nan() {
            worst = (i, err);
        }
    }
    let (i, err) = worst;
    assert!(err <= tol, "{what}: element {i}: got {} want {} (rel err {err:e} > {tol:e})", got[i], want[i]);
}
