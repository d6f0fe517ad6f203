//! The driver API entry points the launch path calls, loaded at run time from
//! `libcuda.so.1` (the `_v2` names are the 64-bit ones every driver since CUDA 4 exports).
#![allow(unsafe_code)]

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
    /// `cuMemAllocHost_v2`: page-locked host memory, which the GPU copies into at the bus's
    /// speed (a pageable destination goes through the driver's own staging, and faults its
    /// pages in).
    pub(super) alloc_host: unsafe extern "C" fn(*mut *mut c_void, usize) -> c_int,
    pub(super) free_host: unsafe extern "C" fn(*mut c_void) -> c_int,
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
    /// `cuLaunchKernelEx` (CUDA 12.0 on; None where the driver lacks it): a launch with
    /// attributes, here the programmatic stream serialization that lets a kernel start while
    /// the one before it finishes ([`Driver::launch_kernel`]).
    pub(super) launch_ex: Option<LaunchEx>,
    pub(super) sync: unsafe extern "C" fn() -> c_int,
    pub(super) stream_create: unsafe extern "C" fn(*mut Handle, c_uint) -> c_int,
    pub(super) stream_destroy: unsafe extern "C" fn(Handle) -> c_int,
    pub(super) begin_capture: unsafe extern "C" fn(Handle, c_int) -> c_int,
    pub(super) end_capture: unsafe extern "C" fn(Handle, *mut Handle) -> c_int,
    pub(super) graph_destroy: unsafe extern "C" fn(Handle) -> c_int,
    pub(super) instantiate: unsafe extern "C" fn(*mut Handle, Handle, u64) -> c_int,
    pub(super) exec_update: unsafe extern "C" fn(Handle, Handle, *mut UpdateInfo) -> c_int,
    pub(super) exec_destroy: unsafe extern "C" fn(Handle) -> c_int,
    pub(super) graph_launch: unsafe extern "C" fn(Handle, Handle) -> c_int,
}

/// `cuLaunchKernelEx(config, f, kernelParams, extra)`.
pub(super) type LaunchEx =
    unsafe extern "C" fn(*const LaunchConfig, Handle, *mut *mut c_void, *mut *mut c_void) -> c_int;

/// `CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION`: the launch may start before the
/// kernel before it in the stream has finished; the kernel waits for it itself
/// (`griddepcontrol.wait`, `AK_GRID_WAIT` in the kernels).
pub(super) const ATTR_PROGRAMMATIC_SERIALIZATION: c_int = 6;

/// `CUlaunchAttribute`: an id, padding to 8 bytes, a 64-byte value (a union; here its first
/// `int`, `programmaticStreamSerializationAllowed`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct LaunchAttribute {
    pub(super) id: c_int,
    pad: [u8; 4],
    pub(super) value: [u8; 64],
}

impl LaunchAttribute {
    /// Attribute `id` with the `int` value `v`.
    pub(super) fn int(id: c_int, v: c_int) -> LaunchAttribute {
        let mut value = [0u8; 64];
        value[..4].copy_from_slice(&v.to_ne_bytes());
        LaunchAttribute {
            id,
            pad: [0; 4],
            value,
        }
    }
}

/// `CUlaunchConfig`: grid and block sizes, dynamic shared memory, stream, attributes.
#[repr(C)]
#[derive(Debug)]
pub(super) struct LaunchConfig {
    pub(super) grid: [c_uint; 3],
    pub(super) block: [c_uint; 3],
    pub(super) shared_bytes: c_uint,
    pub(super) stream: Handle,
    pub(super) attrs: *mut LaunchAttribute,
    pub(super) count: c_uint,
}

/// `CUgraphExecUpdateResultInfo`: why `cuGraphExecUpdate_v2` refused a graph.
#[repr(C)]
#[derive(Debug)]
pub(super) struct UpdateInfo {
    pub(super) result: c_int,
    pub(super) error_node: Handle,
    pub(super) error_from_node: Handle,
}

impl Default for UpdateInfo {
    fn default() -> UpdateInfo {
        UpdateInfo {
            result: 0,
            error_node: std::ptr::null_mut(),
            error_from_node: std::ptr::null_mut(),
        }
    }
}

/// `CU_STREAM_NON_BLOCKING`: a stream that does not synchronise with the legacy stream.
pub(super) const STREAM_NON_BLOCKING: c_uint = 1;
/// `CU_STREAM_CAPTURE_MODE_THREAD_LOCAL`: a capture that only this thread's unsafe calls
/// (allocations, synchronous copies) interrupt.
pub(super) const CAPTURE_THREAD_LOCAL: c_int = 1;
/// `CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE`: the graph cannot update the executable one in place.
pub(super) const GRAPH_EXEC_UPDATE_FAILURE: c_int = 910;

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
            alloc_host: sym(&lib, n, "cuMemAllocHost_v2")?,
            free_host: sym(&lib, n, "cuMemFreeHost")?,
            dtod: sym(&lib, n, "cuMemcpyDtoD_v2")?,
            memset: sym(&lib, n, "cuMemsetD8_v2")?,
            launch: sym(&lib, n, "cuLaunchKernel")?,
            launch_ex: sym(&lib, n, "cuLaunchKernelEx").ok(),
            sync: sym(&lib, n, "cuCtxSynchronize")?,
            stream_create: sym(&lib, n, "cuStreamCreate")?,
            stream_destroy: sym(&lib, n, "cuStreamDestroy_v2")?,
            begin_capture: sym(&lib, n, "cuStreamBeginCapture_v2")?,
            end_capture: sym(&lib, n, "cuStreamEndCapture")?,
            graph_destroy: sym(&lib, n, "cuGraphDestroy")?,
            instantiate: sym(&lib, n, "cuGraphInstantiateWithFlags")?,
            exec_update: sym(&lib, n, "cuGraphExecUpdate_v2")?,
            exec_destroy: sym(&lib, n, "cuGraphExecDestroy")?,
            graph_launch: sym(&lib, n, "cuGraphLaunch")?,
            _lib: lib,
        })
    }

    /// `cuLaunchKernel` of `f` over `grid` blocks of `block` threads on `stream` (null: the
    /// legacy stream), each parameter's value in one 8-byte slot of `slots` (the driver copies
    /// them before it returns). With `overlap` (and `cuLaunchKernelEx`), a programmatic
    /// dependent launch: the kernel may start while the one before it in the stream finishes,
    /// and waits for it before it touches memory (every forward kernel does: `AK_GRID_WAIT`),
    /// so the results are those of the plain launch.
    pub(super) fn launch_kernel(
        &self,
        f: Handle,
        (grid, block): (c_uint, c_uint),
        stream: Handle,
        slots: &[u64],
        overlap: bool,
    ) -> Result<(), GpuError> {
        // `kernelParams` is `void**` but the driver only reads through it.
        let mut params: Vec<*mut c_void> = slots
            .iter()
            .map(|s| std::ptr::from_ref::<u64>(s).cast_mut().cast())
            .collect();
        if let (true, Some(launch_ex)) = (overlap, self.launch_ex) {
            let mut attr = LaunchAttribute::int(ATTR_PROGRAMMATIC_SERIALIZATION, 1);
            let config = LaunchConfig {
                grid: [grid, 1, 1],
                block: [block, 1, 1],
                shared_bytes: 0,
                stream,
                attrs: &raw mut attr,
                count: 1,
            };
            // SAFETY: as below; `config` and the one attribute it points to are live `CUlaunchConfig`
            // and `CUlaunchAttribute` values the driver reads during the call.
            let rc = unsafe {
                launch_ex(
                    &raw const config,
                    f,
                    params.as_mut_ptr(),
                    std::ptr::null_mut(),
                )
            };
            return ck("cuLaunchKernelEx", rc);
        }
        // SAFETY: `params` holds one pointer per kernel parameter, each to a live 8-byte slot
        // whose low bytes hold the value (little-endian: `int`/`float` in the first four), as
        // the caller built them for `f`'s signature; the driver reads them (copying them into
        // the launch or the captured graph) and writes nothing; no shared memory, no extra
        // options.
        let rc = unsafe {
            (self.launch)(
                f,
                grid,
                1,
                1,
                block,
                1,
                1,
                0,
                stream,
                params.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        ck("cuLaunchKernel", rc)
    }
}
