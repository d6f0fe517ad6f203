//! Loading a model allocates what the loaded model keeps and little more: the weights stay
//! in the memory map, and the vocabulary arrays are read in place from the file rather than
//! decoded into metadata values first (Gemma 3's 262,144 tokens, scores and types as values
//! took about 33 MB that were freed again right after the tokenizer was built).
//!
//! A counting allocator measures the heap during `Model::load` of Gemma 3 270M: the peak
//! above what the model keeps afterwards (the transient) and what it keeps. One test in
//! this binary, so nothing else allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use aikernel_engine::Model;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1 << 20;

#[test]
fn loading_gemma_allocates_little_beyond_what_it_keeps() {
    let path = common::gemma_path();
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let model = Model::load(&path).unwrap();
    let kept = LIVE.load(Ordering::Relaxed) - before;
    let transient = PEAK.load(Ordering::Relaxed) - before - kept;
    eprintln!(
        "Model::load(gemma 3 270M): keeps {:.1} MiB of heap, peak {:.1} MiB above that",
        kept as f64 / MIB as f64,
        transient as f64 / MIB as f64
    );
    assert_eq!(model.tokenizer().vocab_size(), 262_144);
    // What remains passing through (4.0 MiB; 30.2 MiB while the arrays were decoded into
    // values): the token texts as borrowed slices while the tokenizer copies them (4 MiB of
    // `&str`).
    assert!(
        transient < 8 * MIB,
        "Model::load peaked {transient} bytes above what it keeps"
    );
    // The tokenizer's tables and the weight descriptors (12.2 MiB); the weights stay in the
    // map.
    assert!(kept < 24 * MIB, "Model::load keeps {kept} bytes of heap");
    // The vocabulary can still be read as metadata, decoded only when asked for.
    let tokens = model
        .gguf()
        .meta_str_array("tokenizer.ggml.tokens")
        .unwrap();
    assert_eq!(tokens.len(), 262_144);
}
