//! NVRTC, the CUDA run-time compiler, loaded at run time: compiles [`crate::KERNEL_SOURCES`]
//! to PTX with the options that keep the engine's arithmetic ([`NVRTC_OPTIONS`]).
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::{Arc, Mutex, OnceLock};

use libloading::Library;

use super::GpuError;

/// Library names tried in order (the unversioned development link, then the run-time
/// sonames of CUDA 13, 12 and 11).
pub const NVRTC_LIBRARIES: &[&str] = &[
    "libnvrtc.so",
    "libnvrtc.so.13",
    "libnvrtc.so.12",
    "libnvrtc.so.11.2",
];

/// The compile options: no multiply-add contraction, IEEE division and square root, no
/// flush-to-zero (the determinism rules of docs/engine.md, "CUDA backend").
pub const NVRTC_OPTIONS: &[&str] = &[
    "--fmad=false",
    "-prec-div=true",
    "-prec-sqrt=true",
    "-ftz=false",
    "-std=c++17",
];

/// The main translation unit: every forward kernel (the headers come from `KERNEL_SOURCES`).
pub const MAIN_SOURCE: &str = "#include \"ak_forward.cuh\"\n";

/// PTX compiled so far in this process, by (NVRTC library, architecture).
type PtxMemo = HashMap<(String, String), Arc<Vec<u8>>>;

type Prog = *mut c_void;
type Create = unsafe extern "C" fn(
    *mut Prog,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type Compile = unsafe extern "C" fn(Prog, c_int, *const *const c_char) -> c_int;
type GetSize = unsafe extern "C" fn(Prog, *mut usize) -> c_int;
type GetBytes = unsafe extern "C" fn(Prog, *mut c_char) -> c_int;
type Destroy = unsafe extern "C" fn(*mut Prog) -> c_int;

/// A loaded NVRTC library.
#[derive(Debug)]
pub struct Nvrtc {
    lib: Library,
    name: String,
}

/// Loads the first of `names` the dynamic loader finds.
pub(super) fn load_first(names: &[&str]) -> Result<(Library, String), String> {
    let mut last = String::from("no library names given");
    for &n in names {
        // SAFETY: loading a shared library runs its initialisers, which for the CUDA libraries
        // have no preconditions.
        match unsafe { Library::new(n) } {
            Ok(lib) => return Ok((lib, n.to_owned())),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Looks up `symbol` of type `T` in `lib`, copied out (the library outlives every use: it
/// is held by the struct that holds the pointer).
pub(super) fn sym<T: Copy>(
    lib: &Library,
    library: &str,
    symbol: &'static str,
) -> Result<T, GpuError> {
    // SAFETY: `T` is the C signature the CUDA headers declare for `symbol`.
    unsafe { lib.get::<T>(symbol.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| GpuError::MissingSymbol {
            library: library.to_owned(),
            symbol,
            reason: e.to_string(),
        })
}

fn cstring(s: &str) -> Result<CString, GpuError> {
    CString::new(s).map_err(|_| GpuError::Unrepresentable(format!("{s:?} holds a NUL byte")))
}

impl Nvrtc {
    /// Loads NVRTC from [`NVRTC_LIBRARIES`].
    pub fn load() -> Result<Nvrtc, GpuError> {
        Nvrtc::load_from(NVRTC_LIBRARIES)
    }

    /// Loads NVRTC from the first of `names` found; an error names every name tried.
    pub fn load_from(names: &[&str]) -> Result<Nvrtc, GpuError> {
        let (lib, name) = load_first(names).map_err(|reason| GpuError::NvrtcMissing {
            tried: names.join(", "),
            reason,
        })?;
        let n = Nvrtc { lib, name };
        // Every entry point up front, so a wrong library is named before anything compiles.
        n.entry_points()?;
        Ok(n)
    }

    /// The library loaded.
    pub fn library(&self) -> &str {
        &self.name
    }

    #[allow(clippy::type_complexity)]
    fn entry_points(
        &self,
    ) -> Result<
        (
            Create,
            Compile,
            GetSize,
            GetBytes,
            GetSize,
            GetBytes,
            Destroy,
        ),
        GpuError,
    > {
        let l = (&self.lib, self.name.as_str());
        Ok((
            sym(l.0, l.1, "nvrtcCreateProgram")?,
            sym(l.0, l.1, "nvrtcCompileProgram")?,
            sym(l.0, l.1, "nvrtcGetProgramLogSize")?,
            sym(l.0, l.1, "nvrtcGetProgramLog")?,
            sym(l.0, l.1, "nvrtcGetPTXSize")?,
            sym(l.0, l.1, "nvrtcGetPTX")?,
            sym(l.0, l.1, "nvrtcDestroyProgram")?,
        ))
    }

    /// [`Nvrtc::compile`] once per process for each library and `arch`: the sources are
    /// constants of this build, so every later call (each `GpuDevice::open`: a node's slots,
    /// each benchmark row, each test) returns the first call's PTX instead of compiling
    /// again. A failed compile is not kept.
    pub fn compile_once(&self, arch: &str) -> Result<Arc<Vec<u8>>, GpuError> {
        static COMPILED: OnceLock<Mutex<PtxMemo>> = OnceLock::new();
        let key = (self.name.clone(), arch.to_owned());
        let memo = COMPILED.get_or_init(|| Mutex::new(HashMap::new()));
        // A poisoned lock (a thread panicked while holding it) only loses the memo.
        if let Some(ptx) = memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(ptx);
        }
        let ptx = Arc::new(self.compile(arch)?);
        if let Ok(mut m) = memo.lock() {
            m.entry(key).or_insert_with(|| Arc::clone(&ptx));
        }
        Ok(ptx)
    }

    /// Compiles [`MAIN_SOURCE`] with the kernel headers for `arch` (e.g. `compute_90`) and
    /// returns the PTX (NUL-terminated, as `cuModuleLoadData` takes it). A refusal carries
    /// the compiler log.
    pub fn compile(&self, arch: &str) -> Result<Vec<u8>, GpuError> {
        let (create, compile, log_size, log, ptx_size, ptx, destroy) = self.entry_points()?;
        let src = cstring(MAIN_SOURCE)?;
        let name = cstring("ak_forward.cu")?;
        let headers: Vec<CString> = crate::KERNEL_SOURCES
            .iter()
            .map(|(_, s)| cstring(s))
            .collect::<Result<_, _>>()?;
        let names: Vec<CString> = crate::KERNEL_SOURCES
            .iter()
            .map(|(n, _)| cstring(n))
            .collect::<Result<_, _>>()?;
        let hp: Vec<*const c_char> = headers.iter().map(|c| c.as_ptr()).collect();
        let np: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
        let mut opts: Vec<CString> = NVRTC_OPTIONS
            .iter()
            .map(|o| cstring(o))
            .collect::<Result<_, _>>()?;
        opts.push(cstring(&format!("--gpu-architecture={arch}"))?);
        let op: Vec<*const c_char> = opts.iter().map(|c| c.as_ptr()).collect();
        let fail = |call, code| GpuError::Compile {
            call,
            code,
            log: String::new(),
        };
        let mut prog: Prog = std::ptr::null_mut();
        // SAFETY: every pointer is a live NUL-terminated string (or an array of them, of the
        // length passed) that outlives the calls; `prog` is destroyed on every path below.
        unsafe {
            let rc = create(
                &raw mut prog,
                src.as_ptr(),
                name.as_ptr(),
                hp.len() as c_int,
                hp.as_ptr(),
                np.as_ptr(),
            );
            if rc != 0 {
                return Err(fail("nvrtcCreateProgram", rc));
            }
            let rc = compile(prog, op.len() as c_int, op.as_ptr());
            let result = if rc != 0 {
                let mut n = 0usize;
                let mut text = String::new();
                if log_size(prog, &raw mut n) == 0 && n > 0 {
                    let mut buf = vec![0u8; n];
                    if log(prog, buf.as_mut_ptr().cast()) == 0 {
                        String::from_utf8_lossy(&buf)
                            .trim_end_matches('\0')
                            .clone_into(&mut text);
                    }
                }
                Err(GpuError::Compile {
                    call: "nvrtcCompileProgram",
                    code: rc,
                    log: text,
                })
            } else {
                let mut n = 0usize;
                let rc = ptx_size(prog, &raw mut n);
                let mut buf = vec![0u8; n];
                if rc != 0 {
                    Err(fail("nvrtcGetPTXSize", rc))
                } else {
                    let rc = ptx(prog, buf.as_mut_ptr().cast());
                    if rc != 0 {
                        Err(fail("nvrtcGetPTX", rc))
                    } else {
                        Ok(buf)
                    }
                }
            };
            destroy(&raw mut prog);
            result
        }
    }
}
