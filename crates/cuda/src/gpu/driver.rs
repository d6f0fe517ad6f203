//! The driver API entry points the launch path calls, loaded at run time from
//! `libcuda.so.1` (the `_v2` names are the 64-bit ones every driver since CUDA 4 exports).

use std::ffi::{c_char, c_int, c_uint, c_void};

use libloading::Library;

use super::GpuError;
use super::nvrtc::{load_first, sym};

/// `CUdeviceptr`.
pub(super) type DevPtr = u64;
type Handle = *mut c_void;

/// The driver's functions, and the library that keeps them valid.
#[derive(Debug)]
pub(super) struct Driver {
    _lib: Library,
    pub(super) init: unsafe extern "C" fn(c_uint) -> c_int,
    pub(super) device_get: unsafe extern "C" fn(*mut c_int, c_int) -> c_int,
    pub(super) attribute: unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int,
    pub(super) ctx_retain: unsafe extern "C" fn(*mut Handle, c_int) -> c_int,
    pub(super) ctx_release: unsafe extern "C" fn(c_int) -> c_int,
    pub(super) ctx_set: unsafe extern "C" fn(Handle) -> c_int,
    pub(super) module_load: unsafe extern "C" fn(*mut Handle, *const c_void) -> c_int,
    pub(super) module_unload: unsafe extern "C" fn(Handle) -> c_int,
    pub(super) get_function: unsafe extern "C" fn(*mut Handle, Handle, *const c_char) -> c_int,
    pub(super) alloc: unsafe extern "C" fn(*mut DevPtr, usize) -> c_int,
    pub(super) free: unsafe extern "C" fn(DevPtr) -> c_int,
    pub(super) htod: unsafe extern "C" fn(DevPtr, *const c_void, usize) -> c_int,
    pub(super) dtoh: unsafe extern "C" fn(*mut c_void, DevPtr, usize) -> c_int,
    pub(super) dtod: unsafe extern "C" fn(DevPtr, DevPtr, usize) -> c_int,
    pub(super) memset: unsafe extern "C" fn(DevPtr, u8, usize) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) launch: unsafe extern "C" fn(
        Handle,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        Handle,
        *mut *mut c_void,
        *mut *mut c_void,
    ) -> c_int,
    pub(super) sync: unsafe extern "C" fn() -> c_int,
}

/// A driver call's CUresult as a result.
pub(super) fn ck(call: &'static str, code: c_int) -> Result<(), GpuError> {
    if code == 0 {
        Ok(())
    } else {
        Err(GpuError::Driver { call, code })
    }
}

impl Driver {
    /// Loads `library` and every entry point; an error names the library or the symbol.
    pub(super) fn load(library: &str) -> Result<Driver, GpuError> {
        let (lib, name) = load_first(&[library]).map_err(|reason| GpuError::DriverMissing {
            library: library.to_owned(),
            reason,
        })?;
        let n = name.as_str();
        Ok(Driver {
            init: sym(&lib, n, "cuInit")?,
            device_get: sym(&lib, n, "cuDeviceGet")?,
            attribute: sym(&lib, n, "cuDeviceGetAttribute")?,
            ctx_retain: sym(&lib, n, "cuDevicePrimaryCtxRetain")?,
            ctx_release: sym(&lib, n, "cuDevicePrimaryCtxRelease_v2")?,
            ctx_set: sym(&lib, n, "cuCtxSetCurrent")?,
            module_load: sym(&lib, n, "cuModuleLoadData")?,
            module_unload: sym(&lib, n, "cuModuleUnload")?,
            get_function: sym(&lib, n, "cuModuleGetFunction")?,
            alloc: sym(&lib, n, "cuMemAlloc_v2")?,
            free: sym(&lib, n, "cuMemFree_v2")?,
            htod: sym(&lib, n, "cuMemcpyHtoD_v2")?,
            dtoh: sym(&lib, n, "cuMemcpyDtoH_v2")?,
            dtod: sym(&lib, n, "cuMemcpyDtoD_v2")?,
            memset: sym(&lib, n, "cuMemsetD8_v2")?,
            launch: sym(&lib, n, "cuLaunchKernel")?,
            sync: sym(&lib, n, "cuCtxSynchronize")?,
            _lib: lib,
        })
    }
}
