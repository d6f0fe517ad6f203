//! The GPU launches match the kernels they name, checked on the source NVRTC compiles: each
//! Rust kernel's name is the `__global__` function with its `AK_K_*` id (the host build
//! dispatches by id, the GPU by name, so a mismatch would pass every host test), and every
//! launch of a forward step passes one argument per parameter after `n`, a buffer where the
//! kernel takes a pointer (or a null one), an `int` or a `float` where it takes one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny_arch.rs"]
mod tiny_arch;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny_gemma.rs"]
mod tiny_gemma;

use std::collections::HashSet;

use aikernel_cuda::KERNEL_SOURCES;
use aikernel_cuda::forward::{ADD_NORM_MAX, ATTENTION_SHARED, Arg, Kernel, MatmulTile};
use common::engine::{host_forward, load};

fn forward_source() -> &'static str {
    KERNEL_SOURCES
        .iter()
        .find(|(n, _)| *n == "ak_forward.cuh")
        .unwrap()
        .1
}

/// The parameter types of `__global__ void name(...)`.
fn params(name: &str) -> Vec<String> {
    let src = forward_source();
    let at = src
        .find(&format!("AK_GLOBAL void {name}("))
        .unwrap_or_else(|| panic!("no __global__ {name}"));
    let rest = &src[at + name.len() + 16..];
    let list = &rest[..rest.find(')').unwrap()];
    list.split(',')
        .map(|p| {
            let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
            p[..=p.rfind([' ', '*']).unwrap()].trim().to_owned()
        })
        .collect()
}

#[test]
fn kernel_names_and_ids_agree_with_the_source() {
    let src = forward_source();
    for k in Kernel::ALL {
        let upper = k.name().trim_start_matches("ak_fwd_").to_uppercase();
        let define = format!("#define AK_K_{upper} {}\n", k.id());
        assert!(src.contains(&define), "{} is not {define:?}", k.name());
        assert_eq!(params(k.name())[0], "long long", "{}: n first", k.name());
    }
    assert!(src.contains(&format!("#define AK_K_COUNT {}\n", Kernel::ALL.len())));
    // The host takes the long attention past the positions the shared one holds (a head
    // that saw more would write past its shared scores, which nothing on a GPU catches).
    let shared = format!("#define AK_ATTN_SHARED {ATTENTION_SHARED}\n");
    assert!(src.contains(&shared), "ATTENTION_SHARED is not {shared:?}");
    // Likewise the two launches past the widest row the add with the next norm holds.
    let widest = format!("#define AK_ADD_NORM_MAX {ADD_NORM_MAX}\n");
    assert!(src.contains(&widest), "ADD_NORM_MAX is not {widest:?}");
}

#[test]
fn every_launch_matches_its_kernels_parameters() {
    let mut seen = HashSet::new();
    let mut launches = Vec::new();
    {
        // A query that sees more positions than the attention keeps in shared memory: the
        // long attention's launch (one layer: the host build's attention over 4097
        // positions).
        let m = load(&tiny::tiny_llama_shaped(1, 40, 72));
        let mut f = host_forward(&m, 1, ATTENTION_SHARED + 1);
        let vocab = m.config().vocab_size as u32;
        let prompt: Vec<u32> = (0..=ATTENTION_SHARED as u32).map(|i| i % vocab).collect();
        f.step(&[(0, &prompt)]).unwrap();
        launches.extend_from_slice(f.trace());
    }
    for m in [
        load(&tiny_gemma::tiny_gemma3(2)),
        load(&tiny_arch::tiny(tiny_arch::Family::Qwen2)),
        // Rows that are not whole blocks: the separate norm and gating launches.
        load(&tiny::tiny_llama_shaped(1, 40, 72)),
    ] {
        // The default tiling, then tensor-core tiles of a block and of a warp each (a kernel
        // each).
        let mut f = host_forward(&m, 2, 16);
        f.step(&[(0, &[1, 2, 3]), (1, &[4])]).unwrap();
        launches.extend_from_slice(f.trace());
        f.set_matmul_tile(MatmulTile::Mma).unwrap();
        f.step(&[(0, &[5]), (1, &[6])]).unwrap();
        launches.extend_from_slice(f.trace());
        f.set_matmul_tile(MatmulTile::MmaWarp).unwrap();
        f.step(&[(0, &[7]), (1, &[8])]).unwrap();
        launches.extend_from_slice(f.trace());
    }
    for l in &launches {
        let p = params(l.kernel.name());
        assert_eq!(
            p.len(),
            l.args.len() + 1,
            "{}: {p:?} vs {:?}",
            l.kernel.name(),
            l.args
        );
        for (ty, a) in p[1..].iter().zip(&l.args) {
            let ok = match a {
                Arg::Buf(_) | Arg::Null => ty.ends_with('*'),
                Arg::I32(_) => ty == "int",
                Arg::F32(_) => ty == "float",
            };
            assert!(ok, "{}: parameter {ty} given {a:?}", l.kernel.name());
        }
        seen.insert(l.kernel.id());
    }
    assert_eq!(
        seen.len(),
        Kernel::ALL.len(),
        "a step of these models launches every kernel"
    );
}
