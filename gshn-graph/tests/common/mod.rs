//! Helpers shared by gshn-graph's integration tests.

use burn::tensor::{Device, Tensor};

/// The wgpu device when an adapter works; otherwise skip (or fail under `GSHN_REQUIRE_WGPU=1`).
pub fn wgpu() -> Option<Device> {
    use burn::tensor::DeviceKind;
    let ok = std::panic::catch_unwind(|| {
        let d = Device::wgpu(DeviceKind::DefaultDevice);
        Tensor::<1>::from_floats([1.0, 2.0], &d).sum().into_scalar::<f32>() == 3.0
    })
    .unwrap_or(false);
    if ok {
        return Some(Device::wgpu(DeviceKind::DefaultDevice));
    }
    assert!(std::env::var("GSHN_REQUIRE_WGPU").map_or(true, |v| v != "1"), "GSHN_REQUIRE_WGPU=1 but no WGPU adapter works");
    eprintln!("SKIP wgpu: no WGPU adapter on this machine");
    None
}
