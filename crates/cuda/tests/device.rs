//! Device discovery: a missing driver is a typed error that names the library.

use aikernel_cuda::{CudaError, device::DRIVER_LIBRARY, discover, discover_with};

#[test]
fn missing_driver_library_is_named() {
    let lib = "libcuda-aikernel-test-missing.so.1";
    match discover_with(lib) {
        Err(e @ CudaError::DriverMissing { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(lib), "{msg}");
            assert!(msg.contains("NVIDIA driver"), "{msg}");
        }
        other => panic!("expected DriverMissing, got {other:?}"),
    }
}

/// Here (no NVIDIA driver) the error names libcuda.so.1; on a GPU machine discovery finds at
/// least one named device with memory. Either way, no panic inside `discover`.
#[test]
fn discover_reports_devices_or_names_what_is_missing() {
    match discover() {
        Ok(devices) => {
            assert!(!devices.is_empty());
            for d in devices {
                assert!(!d.name.is_empty() && d.total_memory > 0, "{d:?}");
            }
        }
        Err(e @ CudaError::DriverMissing { .. }) => {
            assert!(e.to_string().contains(DRIVER_LIBRARY), "{e}");
        }
        Err(e) => {
            // A driver without a usable device (container without the device node, etc.).
            let msg = e.to_string();
            assert!(msg.contains("CUDA") || msg.contains("cu"), "{msg}");
        }
    }
}

#[test]
fn a_library_without_the_driver_api_names_the_symbol() {
    // libm is present everywhere glibc is, and has no cuInit.
    match discover_with("libm.so.6") {
        Err(CudaError::MissingSymbol { symbol, .. }) => assert_eq!(symbol, "cuInit"),
        Err(CudaError::DriverMissing { .. }) => {} // not a glibc system
        other => panic!("expected MissingSymbol, got {other:?}"),
    }
}
