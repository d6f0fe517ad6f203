//! CUDA device discovery through the driver API, loaded at run time (`libcuda.so.1`), so that
//! nothing links against CUDA: a machine without the driver gets [`CudaError::DriverMissing`],
//! never a panic and never a silent fallback.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_uint};

use libloading::{Library, Symbol};

/// The driver library the backend loads.
pub const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// What is missing or failing when CUDA is requested.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// The driver library could not be loaded (no NVIDIA driver installed).
    #[error(
        "CUDA driver library {library} could not be loaded (is the NVIDIA driver installed?): {reason}"
    )]
    DriverMissing {
        /// The library that was looked for.
        library: String,
        /// The loader's message.
        reason: String,
    },
    /// The driver library lacks an entry point the backend needs.
    #[error("CUDA driver library {library} has no symbol {symbol}: {reason}")]
    MissingSymbol {
        /// The library.
        library: String,
        /// The symbol.
        symbol: &'static str,
        /// The loader's message.
        reason: String,
    },
    /// `cuInit` failed (driver present but unusable: e.g. no device node, version mismatch).
    #[error("CUDA driver initialisation (cuInit) failed with CUresult {code}")]
    InitFailed {
        /// The CUresult.
        code: i32,
    },
    /// Another driver call failed.
    #[error("CUDA driver call {call} failed with CUresult {code}")]
    CallFailed {
        /// The driver function.
        call: &'static str,
        /// The CUresult.
        code: i32,
    },
    /// The driver works but reports no device.
    #[error("the CUDA driver reports no GPU device")]
    NoDevice,
}

/// One GPU as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device ordinal.
    pub ordinal: u32,
    /// Model name (e.g. "NVIDIA H200").
    pub name: String,
    /// Total memory in bytes.
    pub total_memory: u64,
}

type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
type CuDeviceTotalMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;

/// The GPUs of this machine through [`DRIVER_LIBRARY`].
pub fn discover() -> Result<Vec<DeviceInfo>, CudaError> {
    discover_with(DRIVER_LIBRARY)
}

/// The GPUs through the driver library `library` (a name the dynamic loader resolves, or a
/// path). At least one device, or an error naming what is missing.
pub fn discover_with(library: &str) -> Result<Vec<DeviceInfo>, CudaError> {
    // SAFETY: loading the CUDA driver runs its initialisers, which have no preconditions.
    let lib = unsafe { Library::new(library) }.map_err(|e| CudaError::DriverMissing {
        library: library.to_owned(),
        reason: e.to_string(),
    })?;
    let init = symbol::<CuInit>(&lib, library, "cuInit")?;
    let count = symbol::<CuDeviceGetCount>(&lib, library, "cuDeviceGetCount")?;
    let get = symbol::<CuDeviceGet>(&lib, library, "cuDeviceGet")?;
    let name = symbol::<CuDeviceGetName>(&lib, library, "cuDeviceGetName")?;
    let mem = symbol::<CuDeviceTotalMem>(&lib, library, "cuDeviceTotalMem_v2")?;
    query(&init, &count, &get, &name, &mem)
}

/// Looks up `symbol`, whose C signature in every CUDA driver since 3.2 is `T`.
fn symbol<'l, T>(
    lib: &'l Library,
    library: &str,
    symbol: &'static str,
) -> Result<Symbol<'l, T>, CudaError> {
    // SAFETY: `T` is the driver API's declared signature of `symbol` (CUresult and CUdevice
    // are ints, size_t a usize); the symbol does not outlive `lib`.
    unsafe { lib.get::<T>(symbol.as_bytes()) }.map_err(|e| CudaError::MissingSymbol {
        library: library.to_owned(),
        symbol,
        reason: e.to_string(),
    })
}

fn check(call: &'static str, code: c_int) -> Result<(), CudaError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CudaError::CallFailed { call, code })
    }
}

fn query(
    init: &Symbol<'_, CuInit>,
    count: &Symbol<'_, CuDeviceGetCount>,
    get: &Symbol<'_, CuDeviceGet>,
    name: &Symbol<'_, CuDeviceGetName>,
    mem: &Symbol<'_, CuDeviceTotalMem>,
) -> Result<Vec<DeviceInfo>, CudaError> {
    // SAFETY: each call gets valid pointers to locals of the types the driver API declares.
    unsafe {
        let code = init(0);
        if code != 0 {
            return Err(CudaError::InitFailed { code });
        }
        let mut n: c_int = 0;
        check("cuDeviceGetCount", count(&raw mut n))?;
        if n <= 0 {
            return Err(CudaError::NoDevice);
        }
        let mut out = Vec::with_capacity(n as usize);
        for ordinal in 0..n {
            let mut dev: c_int = 0;
            check("cuDeviceGet", get(&raw mut dev, ordinal))?;
            let mut buf = [0 as c_char; 256];
            check("cuDeviceGetName", name(buf.as_mut_ptr(), 255, dev))?;
            let mut bytes: usize = 0;
            check("cuDeviceTotalMem_v2", mem(&raw mut bytes, dev))?;
            out.push(DeviceInfo {
                ordinal: ordinal as u32,
                name: CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
                total_memory: bytes as u64,
            });
        }
        Ok(out)
    }
}
