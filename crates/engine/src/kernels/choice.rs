//! The kernel choice: which implementation runs, what this CPU supports, and which weight
//! types each implementation has code of its own for.

use super::{CtxError, avx2, avx512, neon};
use crate::gguf::GgmlType;

/// Which kernel implementation to run. Every one gives bit-identical results; a kernel
/// this CPU lacks is refused by [`Ctx::new`] rather than silently replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
    /// Portable scalar code only: the reference.
    Scalar,
    /// AVX2 + F16C (x86-64).
    Avx2,
    /// AVX-512 (F, BW) with VNNI integer dot products, plus AVX2 + F16C (x86-64).
    Avx512,
    /// NEON (aarch64), with `sdot` integer dot products when the CPU has them.
    Neon,
    /// The fastest kernel this CPU supports.
    #[default]
    Auto,
}

impl Kernel {
    /// Every choice, for listings and tests.
    pub const ALL: [Kernel; 5] = [
        Kernel::Scalar,
        Kernel::Avx2,
        Kernel::Avx512,
        Kernel::Neon,
        Kernel::Auto,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Neon => "neon",
            Kernel::Auto => "auto",
        }
    }

    /// Whether this CPU can run the kernel (`Scalar` and `Auto` always can).
    pub fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar | Kernel::Auto => true,
            Kernel::Avx2 => avx2::available(),
            Kernel::Avx512 => avx512::available(),
            Kernel::Neon => neon::available(),
        }
    }

    /// Whether this kernel has code of its own for weights of `dtype` (every quantized type,
    /// for every SIMD kernel). F32/F16 weights are scalar under every kernel.
    pub fn native(self, dtype: GgmlType) -> bool {
        let base = matches!(dtype, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0);
        let extra = matches!(
            dtype,
            GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K
        );
        match self {
            Kernel::Scalar => true,
            Kernel::Avx2 | Kernel::Neon | Kernel::Avx512 => base || extra,
            Kernel::Auto => self
                .resolve()
                .is_ok_and(|k| k != Kernel::Auto && k.native(dtype)),
        }
    }

    /// The concrete kernel this choice runs on this CPU (`Auto` becomes the fastest one).
    pub fn resolve(self) -> Result<Kernel, CtxError> {
        match self {
            Kernel::Auto => Ok([Kernel::Avx512, Kernel::Avx2, Kernel::Neon]
                .into_iter()
                .find(|k| k.is_supported())
                .unwrap_or(Kernel::Scalar)),
            k if k.is_supported() => Ok(k),
            k => Err(CtxError::KernelUnsupported(k.name())),
        }
    }
}

impl std::str::FromStr for Kernel {
    type Err = CtxError;

    /// Parses a kernel name (`scalar`, `avx2`, …, `auto`).
    fn from_str(s: &str) -> Result<Kernel, CtxError> {
        Kernel::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| CtxError::UnknownKernel(s.to_owned()))
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
