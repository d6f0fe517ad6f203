//! What can fail on the GPU path, each naming the library, symbol, call or compile log.

/// A failure of the NVRTC or driver calls of the launch path.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No NVRTC library could be loaded (the CUDA toolkit's run-time compiler).
    #[error("NVRTC library could not be loaded (tried {tried}): {reason}")]
    NvrtcMissing {
        /// The names tried, comma-separated.
        tried: String,
        /// The loader's message for the last one.
        reason: String,
    },
    /// The driver library could not be loaded.
    #[error("CUDA driver library {library} could not be loaded: {reason}")]
    DriverMissing {
        /// The library.
        library: String,
        /// The loader's message.
        reason: String,
    },
    /// A library lacks an entry point.
    #[error("{library} has no symbol {symbol}: {reason}")]
    MissingSymbol {
        /// The library.
        library: String,
        /// The symbol.
        symbol: &'static str,
        /// The loader's message.
        reason: String,
    },
    /// NVRTC refused the kernel sources.
    #[error("NVRTC compile failed ({call}, nvrtcResult {code}):\n{log}")]
    Compile {
        /// The NVRTC call.
        call: &'static str,
        /// The nvrtcResult.
        code: i32,
        /// The compiler log.
        log: String,
    },
    /// A driver call failed.
    #[error("CUDA driver call {call} failed with CUresult {code}")]
    Driver {
        /// The driver function.
        call: &'static str,
        /// The CUresult.
        code: i32,
    },
    /// The module lacks a kernel the forward pass launches.
    #[error("the compiled module has no kernel {0}")]
    MissingKernel(String),
    /// A value does not fit the driver's types (a launch too large, a string with a NUL).
    #[error("cannot pass to the driver: {0}")]
    Unrepresentable(String),
    /// A setting the device or driver cannot run (what is missing is named).
    #[error("not supported here: {0}")]
    Unsupported(String),
}
