//! What a run will allocate, checked against what the machine has before it starts.
//!
//! The KV cache grows with every position and the forward pass's scratch with every token
//! of a step; both are sized by header numbers (`context_length`, widths) and request
//! numbers (`max_tokens`, prompt length). A run that cannot fit is refused up front with
//! [`EngineError::OutOfMemory`] instead of being killed, or aborting, part way.

use super::{EngineError, Model};
use crate::kernels::attention::{CH, KB};

const F32: u64 = 4;
const F16: u64 = 2;

impl Model {
    /// Bytes of KV cache one sequence of `positions` positions holds (binary16 keys and
    /// values; keys are stored in blocks of eight positions).
    pub fn kv_cache_bytes(&self, positions: usize) -> Option<u64> {
        let c = self.config();
        let kv = (c.n_head_kv * c.head_dim) as u64;
        let layers = c.n_layers as u64;
        let keys = (positions as u64).checked_next_multiple_of(KB as u64)?;
        let per_layer = keys.checked_add(positions as u64)?.checked_mul(kv)?;
        per_layer.checked_mul(layers)?.checked_mul(F16)
    }

    /// An upper estimate of the forward pass's scratch for one step of `tokens` tokens over
    /// `sequences` sequences of up to `positions` positions on `threads` threads:
    /// activations, the quantized copies of them, the attention scores each thread holds
    /// (one token's heads over every position) and the logits.
    pub fn scratch_bytes(
        &self,
        tokens: usize,
        sequences: usize,
        positions: usize,
        threads: usize,
    ) -> Option<u64> {
        let c = self.config();
        let (d, kv, ff) = (
            c.n_embd.max(c.q_dim()) as u64,
            (c.n_head_kv * c.head_dim) as u64,
            c.n_ff as u64,
        );
        // x, xn, q, att, o, dn, h and trig: at most 8 rows of `d`; k, v: 2 of `kv`; gate,
        // up and the SiLU exponentials: 3 of `ff`; each quantized again (1 byte per element).
        let per_token = d
            .checked_mul(8)?
            .checked_add(kv.checked_mul(2)?)?
            .checked_add(ff.checked_mul(3)?)?
            .checked_mul(F32 + 1)?;
        let rows = per_token.checked_mul(tokens as u64)?;
        let scores = (c.n_head as u64)
            .checked_mul((positions as u64).checked_add(2 * CH as u64)?)?
            .checked_mul(F32)?
            .checked_mul(threads.clamp(1, tokens.max(1)) as u64)?;
        let logits = (c.vocab_size as u64)
            .checked_mul(sequences as u64)?
            .checked_mul(2 * F32)?;
        rows.checked_add(scores)?.checked_add(logits)
    }

    /// Refuses a run of `sequences` sequences of up to `positions` positions each, fed
    /// `step_tokens` tokens per forward step at most on `threads` threads, when its KV
    /// caches and scratch exceed the memory available now. Passes when that cannot be read
    /// (not Linux).
    pub fn check_memory(
        &self,
        sequences: usize,
        positions: usize,
        step_tokens: usize,
        threads: usize,
    ) -> Result<(), EngineError> {
        let what = format!(
            "KV cache and scratch for {sequences} sequence(s) of up to {positions} positions"
        );
        let needed = self
            .kv_cache_bytes(positions)
            .and_then(|kv| kv.checked_mul(sequences as u64))
            .and_then(|kv| {
                kv.checked_add(self.scratch_bytes(step_tokens, sequences, positions, threads)?)
            });
        let Some(needed) = needed else {
            return Err(EngineError::OutOfMemory {
                what,
                needed: u64::MAX,
                available: available_bytes().unwrap_or(0),
            });
        };
        fits(what, needed, available_bytes())
    }
}

/// Hands the heap memory freed so far back to the operating system. Loading a model parses
/// its vocabulary into hundreds of thousands of small allocations (a 262k-token SPM
/// vocabulary: about 60 MB at the peak) that are freed once the tokenizer holds it; glibc
/// keeps such freed chunks in its arenas, where they would stay resident for the life of
/// the process. Elsewhere (not glibc) this does nothing.
pub(crate) fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    {
        unsafe extern "C" {
            /// glibc's `int malloc_trim(size_t pad)`.
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: `malloc_trim` takes no pointers and only returns free pages of the
        // allocator's own arenas to the kernel; it is safe to call at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// `Ok` when `needed` bytes fit in `available` (or nothing is known about it).
fn fits(what: String, needed: u64, available: Option<u64>) -> Result<(), EngineError> {
    match available {
        Some(available) if needed > available => Err(EngineError::OutOfMemory {
            what,
            needed,
            available,
        }),
        _ => Ok(()),
    }
}

/// Memory this process may still allocate: the kernel's `MemAvailable`, lowered to the
/// room left under the cgroup's limit when there is one; `None` where neither is known.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_available(&s));
    let cgroup = cgroup_room();
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable:` of `/proc/meminfo`, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `memory.max - memory.current` of this process's cgroup (v2), when it has a limit.
fn cgroup_room() -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{name}")).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?; // "max": no limit
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let s = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(mem_available(s), Some(2048 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert!(fits("x".into(), 10, Some(10)).is_ok());
        assert!(fits("x".into(), 10, None).is_ok());
        let err = fits("KV cache".into(), 11, Some(10)).unwrap_err();
        assert!(
            matches!(
                err,
                EngineError::OutOfMemory {
                    needed: 11,
                    available: 10,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("KV cache"), "{err}");
    }
}
