//! The GPU's code without a GPU: the forward kernels as NVRTC compiles them for an H200
//! (`compute_90`, the options `GpuDevice` uses, the CUDA compilers setup installs), run by the
//! PTX interpreter (`aikernel_cuda::ptx::PtxDevice`) launch by launch, on the grid a GPU runs,
//! against the engine's own forward pass: every logit's bits, on the tiny synthetic models of
//! every architecture and every weight type, in the batched scenario of `tests/forward.rs`.
//! The interpreter checks every access against its buffer and that no thread reads or writes
//! what another thread of the same launch writes, whichever runs first. What remains for a
//! GPU: ptxas and the hardware (docs/engine.md, "CUDA backend").
// The CUDA compilers setup installs are NVIDIA's x86-64 Linux wheels.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
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

use aikernel_cuda::forward::{
    ATTENTION_SHARED, Arg, BufId, Device, Elem, Forward, ForwardError, Kernel, Launch, MatmulTile,
};
use aikernel_cuda::host::quantize;
use aikernel_cuda::ptx::{GpuModel, PtxDevice, PtxError};
use aikernel_engine::Model;
use aikernel_engine::f16::f32_to_f16;
use aikernel_engine::kernels::reference;
use aikernel_engine::quantize::QuantType;
use common::engine::{as_f16, compare_steps_on, load, quantized, spec};
use common::golden::{cases, replay_with};
use common::toolkit::ptx_sm90;
use common::{Rng, same};
use tiny_arch::Family;

/// The scenario of `tests/forward.rs`: two sequences of different lengths prefilled together,
/// two decode steps, a third sequence joining while the others decode.
fn scenario(vocab: usize) -> Vec<Vec<(usize, Vec<u32>)>> {
    let t = |seed: u32, n: usize| -> Vec<u32> {
        (0..n as u32)
            .map(|i| (seed * 31 + i * 17 + 3) % vocab as u32)
            .collect()
    };
    vec![
        vec![(0, t(1, 7)), (1, t(2, 3))],
        vec![(0, t(3, 1)), (1, t(4, 1))],
        vec![(1, t(5, 1)), (2, t(6, 9)), (0, t(7, 1))],
    ]
}

fn device(ptx: &str) -> PtxDevice {
    PtxDevice::new(ptx).expect("the PTX parses and holds every forward kernel")
}

/// [`device`] timed by the model of an H200.
fn timed(ptx: &str) -> PtxDevice {
    let mut d = device(ptx);
    d.set_model(Some(GpuModel::H200));
    d
}

/// Runs the scenario through the interpreted PTX and the engine; returns the instructions
/// executed.
fn check_with(m: &Model, name: &str, ptx: &str) -> u64 {
    check_tiled(m, name, ptx, MatmulTile::DEFAULT)
}

/// [`check_with`] with the matmul's tile set.
fn check_tiled(m: &Model, name: &str, ptx: &str, tile: MatmulTile) -> u64 {
    let mut fwd = Forward::new(device(ptx), spec(m), 3, 64).unwrap();
    fwd.set_matmul_tile(tile).unwrap();
    let steps = scenario(m.config().vocab_size);
    compare_steps_on(m, name, &steps, &mut fwd);
    fwd.device().executed()
}

fn check(m: &Model, name: &str) {
    let n = check_with(m, name, ptx_sm90());
    println!("{name}: bit-identical, {n} PTX instructions interpreted");
}

#[test]
fn every_architecture_matches_the_engine_in_ptx() {
    for f in Family::ALL {
        check(&load(&tiny_arch::tiny(f)), f.name());
    }
    check(&load(&tiny_arch::tiny_llama3_unscaled()), "llama3 unscaled");
    check(&load(&tiny::tiny_llama(2)), "llama f32");
    check(&load(&tiny_gemma::tiny_gemma3(3)), "gemma3 f32");
    check(
        &quantized(&tiny_gemma::tiny_gemma3(3), QuantType::Q8_0, false),
        "gemma3 q8_0",
    );
}

#[test]
fn every_weight_type_matches_the_engine_in_ptx() {
    // Each matmul warp takes up to 8 tokens (the scenario's steps of 10, 2 and 11 tokens give
    // tiles of 8, 3 and 2): a block of weights unpacked once, then dp4a per token. Then
    // tensor-core tiles: 16 rows by 8 tokens a block of 8 warps, each block's integer products
    // by mma (the tiny models' rows are not all multiples of 16, nor the steps of 8); then
    // the same tiles a warp each, the lanes summing their outputs over the whole row.
    let check = |m: &Model, name: &str| {
        let n = check_tiled(m, name, ptx_sm90(), MatmulTile::Fixed(8));
        println!("{name}, tiles of 8: bit-identical, {n} PTX instructions interpreted");
        let n = check_tiled(m, name, ptx_sm90(), MatmulTile::Mma);
        println!("{name}, tensor-core tiles: bit-identical, {n} PTX instructions interpreted");
        let n = check_tiled(m, name, ptx_sm90(), MatmulTile::MmaWarp);
        println!("{name}, a warp a tile: bit-identical, {n} PTX instructions interpreted");
    };
    let llama = tiny::tiny_llama(2);
    check(&as_f16(&llama), "llama f16");
    for t in [
        QuantType::Q8_0,
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
    ] {
        check(&quantized(&llama, t, false), t.name());
    }
    let wide = tiny_arch::tiny(Family::Llama3);
    for t in [
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
        QuantType::Q4_K_M,
    ] {
        check(&quantized(&wide, t, true), t.name());
    }
}

#[test]
fn compute_80_ptx_matches_too() {
    // An A100's architecture: other PTX from the same source, the same bits.
    let ptx = common::toolkit::compile("compute_80");
    let m = quantized(&tiny::tiny_llama(2), QuantType::Q4_1, false);
    check_with(&m, "llama q4_1 on compute_80", &ptx);
}

/// The cost of each kernel, most instructions first, with the timing model's estimate.
fn print_costs(name: &str, d: &PtxDevice) {
    let m = d.model().expect("a device timed by the model");
    let costs = d.costs();
    println!(
        "{name}: {} launches, {} instructions, serial depth {} (the longest thread of each \
         launch, summed); {:.1} us on an {} by the timing model (launch gaps not counted)",
        costs.iter().map(|c| c.1.launches).sum::<u64>(),
        costs.iter().map(|c| c.1.executed).sum::<u64>(),
        d.depth(),
        m.micros(d.cycles()),
        m.name
    );
    for (k, c) in costs {
        println!(
            "  {k:<22} {:>5} launches {:>12} instructions {:>9} depth {:>9.1} us \
             (bounds: latency {:.1}, issue {:.1}, memory {:.1})",
            c.launches,
            c.executed,
            c.depth,
            m.micros(c.cycles),
            m.micros(c.bounds.latency),
            m.micros(c.bounds.issue),
            m.micros(c.bounds.memory)
        );
    }
}

#[test]
fn a_long_context_matches_the_engine_in_ptx() {
    // 200 positions prefilled next to a sequence of 40, then decode steps of both: attention
    // over long spans, where one thread per (token, head) would run the whole softmax.
    let m = quantized(&tiny::tiny_llama(2), QuantType::Q4_1, false);
    let vocab = m.config().vocab_size as u32;
    let t = |seed: u32, n: u32| -> Vec<u32> { (0..n).map(|i| (seed + i * 7) % vocab).collect() };
    let steps = vec![
        vec![(0, t(1, 200)), (1, t(2, 40))],
        vec![(0, t(3, 1)), (1, t(4, 1))],
        vec![(1, t(5, 1)), (0, t(6, 1))],
    ];
    let mut fwd = Forward::new(timed(ptx_sm90()), spec(&m), 2, 256).unwrap();
    compare_steps_on(&m, "llama q4_1, 203 positions", &steps, &mut fwd);
    print_costs("llama q4_1, 203 positions", fwd.device());
}

#[test]
#[should_panic(expected = "logits differ")]
fn a_changed_instruction_is_caught() {
    // One f32 addition of the PTX turned into a subtraction: the comparison must notice.
    let ptx = ptx_sm90();
    let at = ptx
        .match_indices("add.rn.f32")
        .map(|(i, _)| i)
        .find(|&i| ptx[..i].contains(".entry ak_fwd_norm_quant("))
        .expect("the norm adds in f32");
    let mut bad = ptx.to_owned();
    bad.replace_range(at..at + 3, "sub");
    check_with(&load(&tiny::tiny_llama(2)), "llama f32, mutated", &bad);
}

#[test]
fn a_missing_barrier_is_caught() {
    // A kernel's first barrier taken out: the matmul's adding lanes would read the terms, the
    // norm's lane 0 the squares, the attention's thread 0 the scores (all in shared memory),
    // before the other threads wrote them, which the interpreter must refuse.
    for (kernel, what) in [
        ("ak_fwd_matmul", "shared byte"),
        ("ak_fwd_norm_quant", "shared byte"),
        ("ak_fwd_attention", "shared byte"),
    ] {
        let ptx = ptx_sm90();
        let entry = ptx.find(&format!(".visible .entry {kernel}(")).unwrap();
        let at = entry
            + ptx[entry..]
                .find("bar.sync")
                .expect("the kernel has barriers");
        let end = at + ptx[at..].find('\n').unwrap();
        let mut bad = ptx.to_owned();
        bad.replace_range(at..end, "");
        let m = quantized(&tiny::tiny_llama(2), QuantType::Q4_1, false);
        let mut fwd = Forward::new(device(&bad), spec(&m), 1, 8).unwrap();
        let err = fwd.step(&[(0, &[1, 2, 3])]).unwrap_err().to_string();
        assert!(
            err.contains(kernel) && err.contains(what),
            "{kernel}: {err}"
        );
    }
}

fn upload_f32(d: &mut PtxDevice, id: usize, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    d.upload(BufId(id), Elem::F32, &bytes).unwrap();
}

fn upload_i32(d: &mut PtxDevice, id: usize, v: &[i32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    d.upload(BufId(id), Elem::I32, &bytes).unwrap();
}

/// Uploads `v` as buffer `id` of binary16 values.
fn upload_u16(d: &mut PtxDevice, id: usize, v: &[u16]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    d.upload(BufId(id), Elem::U16, &bytes).unwrap();
}

#[test]
fn attention_up_to_shared_memory_and_past_it_matches_the_engine_in_ptx() {
    // ak_fwd_attention keeps a head's scores in shared memory (up to ATTENTION_SHARED
    // positions) and its outputs in registers up to 256 wide (one per thread), else reads them
    // back; ak_fwd_attention_long keeps the scores in global memory. Hand-built launches over
    // one cache of 4100 rows, two query heads on one key/value head, head widths 64 and 320:
    // the shared kernel with query tokens that see 4096 positions (the most it takes) and 37,
    // the long one with 4100 and 37. Each (token, head) against the engine's scalar attention,
    // and the scales of its quantized outputs against the host build's quantization.
    let (ntok, nh, rows) = (2usize, 2usize, 4100usize);
    let mut rng = Rng::new(44);
    for (kernel, first) in [
        (Kernel::Attention, ATTENTION_SHARED),
        (Kernel::AttentionLong, rows),
    ] {
        // (first cache row seen, positions seen) per query token.
        let spans = [(0usize, first), (100usize, 37usize)];
        let meta: Vec<i32> = spans
            .iter()
            .flat_map(|&(from, n)| [0, from as i32, (from + n - 1) as i32])
            .collect();
        let maxn = first.next_power_of_two();
        for hd in [64usize, 320] {
            let q: Vec<f32> = (0..ntok * nh * hd).map(|_| rng.wide(3)).collect();
            let cache = |rng: &mut Rng| -> Vec<u16> {
                (0..rows * hd).map(|_| f32_to_f16(rng.wide(3))).collect()
            };
            let (k, v) = (cache(&mut rng), cache(&mut rng));
            let mut d = device(ptx_sm90());
            upload_f32(&mut d, 0, &q);
            upload_u16(&mut d, 1, &k);
            upload_u16(&mut d, 2, &v);
            upload_i32(&mut d, 3, &meta);
            let th = ntok * nh;
            let elems = [
                (4, Elem::F32, th * maxn),
                (5, Elem::F32, th * hd),
                (6, Elem::I8, th * hd),
                (7, Elem::F32, th * hd / 32),
                (8, Elem::I32, th * hd / 32),
            ];
            for (id, elem, len) in elems {
                d.alloc(BufId(id), elem, len).unwrap();
            }
            let int = |x: usize| Arg::I32(x as i32);
            let buf = |i: usize| Arg::Buf(BufId(i));
            let mut args = vec![buf(0), buf(1), buf(2), buf(3)];
            args.extend([int(nh), int(nh), int(hd), int(hd), int(maxn)]);
            args.extend((4..9).map(buf));
            let mut needs = vec![
                (BufId(0), th * hd),
                (BufId(1), rows * hd),
                (BufId(2), rows * hd),
                (BufId(3), 3 * ntok),
            ];
            needs.extend(elems.iter().map(|&(id, _, len)| (BufId(id), len)));
            d.launch(&Launch {
                kernel,
                n: th,
                args,
                needs,
            })
            .unwrap();
            let out = d.read_f32(BufId(5), th * hd).unwrap();
            let scales = d.read_f32(BufId(7), th * hd / 32).unwrap();
            for (t, &(from, n)) in spans.iter().enumerate() {
                let seen = from * hd..(from + n) * hd;
                for h in 0..nh {
                    let i = t * nh + h;
                    let want = reference::attention(
                        &q[i * hd..(i + 1) * hd],
                        &k[seen.clone()],
                        &v[seen.clone()],
                    )
                    .unwrap();
                    let at = |what: &str| {
                        format!("{kernel:?}, hd {hd}, token {t} ({n} positions), head {h}, {what}")
                    };
                    for (e, (&got, &want)) in
                        out[i * hd..(i + 1) * hd].iter().zip(&want).enumerate()
                    {
                        assert!(
                            same(got, want),
                            "{}: {got:e} vs {want:e}",
                            at(&format!("output {e}"))
                        );
                    }
                    let blocks = quantize(&want).unwrap();
                    for (b, &want_d) in blocks.d.iter().enumerate() {
                        let got_d = scales[i * hd / 32 + b];
                        assert!(same(got_d, want_d), "{}", at(&format!("block {b}'s scale")));
                    }
                }
            }
        }
    }
}

#[test]
fn rmsnorm_a_warp_a_row_matches_the_engine_in_ptx() {
    // ak_fwd_rmsnorm runs a warp per row: lane 0 sums the squares in order in rounds of
    // AK_NORM_ROUND (1024) values that the warp loads, then each lane normalizes every 32nd
    // value. Widths below a warp, not a multiple of 32, of exactly one round, and past one and
    // two rounds; 9 rows (two blocks of 8 warps, the second mostly idle); into another buffer,
    // in place (Gemma's norms write where they read), and added to what the output holds
    // (ak_fwd_rmsnorm_add: the post-norm and the residual add). Each row against the engine's
    // norm, then its add.
    let mut rng = Rng::new(45);
    let nrows = 9usize;
    for width in [1usize, 20, 40, 256, 1024, 1030, 2100] {
        let x: Vec<f32> = (0..nrows * width).map(|_| rng.wide(4)).collect();
        let w: Vec<f32> = (0..width).map(|_| rng.wide(2)).collect();
        let stream: Vec<f32> = (0..nrows * width).map(|_| rng.wide(3)).collect();
        let eps = 1e-6f32;
        for (mode, kernel, out) in [
            ("apart", Kernel::RmsNorm, 2),
            ("in place", Kernel::RmsNorm, 0),
            ("added", Kernel::RmsNormAdd, 2),
        ] {
            let mut d = device(ptx_sm90());
            upload_f32(&mut d, 0, &x);
            upload_f32(&mut d, 1, &w);
            let adds = kernel == Kernel::RmsNormAdd;
            if adds {
                upload_f32(&mut d, 2, &stream);
            } else if out == 2 {
                d.alloc(BufId(2), Elem::F32, nrows * width).unwrap();
            }
            let buf = |i: usize| Arg::Buf(BufId(i));
            d.launch(&Launch {
                kernel,
                n: nrows,
                args: vec![
                    buf(0),
                    buf(1),
                    Arg::F32(eps),
                    Arg::I32(width as i32),
                    buf(out),
                ],
                needs: vec![
                    (BufId(0), nrows * width),
                    (BufId(1), width),
                    (BufId(out), nrows * width),
                ],
            })
            .unwrap_or_else(|e| panic!("width {width}, {mode}: {e}"));
            let got = d.read_f32(BufId(out), nrows * width).unwrap();
            for r in 0..nrows {
                let mut want = vec![0.0f32; width];
                reference::rmsnorm(&x[r * width..(r + 1) * width], &w, eps, &mut want);
                if adds {
                    // The stream's value plus the norm's (one IEEE addition, either order).
                    for (v, &s) in want.iter_mut().zip(&stream[r * width..]) {
                        *v += s;
                    }
                }
                for (c, (&g, &e)) in got[r * width..(r + 1) * width]
                    .iter()
                    .zip(&want)
                    .enumerate()
                {
                    assert!(
                        same(g, e),
                        "width {width}, {mode}, row {r}, value {c}: {g:e} vs {e:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_add_with_the_next_norm_a_block_a_row_matches_the_engine_in_ptx() {
    // ak_fwd_add_norm_quant: a block per row squares y's row into shared memory, thread 0 sums
    // the squares in order, every thread adds its values' norm into the stream, thread 0 sums
    // the new row's squares, then each warp normalizes and quantizes every 8th block of 32.
    // Widths of one block, two, Gemma 3 270M's 640 and the widest the kernel takes; 9 rows
    // (the last block past a round of 8 warps idle in its rounds). The stream against the
    // engine's norm then add, the next norm against the engine's norm of the new row, the
    // block scales against the host's quantization of it (the quantized values reach the
    // logits in the forward tests).
    let mut rng = Rng::new(46);
    let nrows = 9usize;
    let eps = 1e-6f32;
    for width in [32usize, 64, 640, aikernel_cuda::forward::ADD_NORM_MAX] {
        let len = nrows * width;
        let y: Vec<f32> = (0..len).map(|_| rng.wide(4)).collect();
        let post: Vec<f32> = (0..width).map(|_| rng.wide(2)).collect();
        let pre: Vec<f32> = (0..width).map(|_| rng.wide(2)).collect();
        let stream: Vec<f32> = (0..len).map(|_| rng.wide(3)).collect();
        let mut d = device(ptx_sm90());
        for (id, v) in [(0, &y), (1, &post), (2, &pre), (3, &stream)] {
            upload_f32(&mut d, id, v);
        }
        d.alloc(BufId(4), Elem::F32, len).unwrap();
        d.alloc(BufId(5), Elem::I8, len).unwrap();
        d.alloc(BufId(6), Elem::F32, len / 32).unwrap();
        d.alloc(BufId(7), Elem::I32, len / 32).unwrap();
        let buf = |i: usize| Arg::Buf(BufId(i));
        d.launch(&Launch {
            kernel: Kernel::AddNormQuant,
            n: nrows,
            args: vec![
                buf(0),
                buf(1),
                buf(2),
                Arg::F32(eps),
                Arg::I32(width as i32),
                buf(3),
                buf(4),
                buf(5),
                buf(6),
                buf(7),
            ],
            needs: vec![
                (BufId(0), len),
                (BufId(1), width),
                (BufId(2), width),
                (BufId(3), len),
                (BufId(4), len),
                (BufId(5), len),
                (BufId(6), len / 32),
                (BufId(7), len / 32),
            ],
        })
        .unwrap_or_else(|e| panic!("width {width}: {e}"));
        let (x, out, scales) = (
            d.read_f32(BufId(3), len).unwrap(),
            d.read_f32(BufId(4), len).unwrap(),
            d.read_f32(BufId(6), len / 32).unwrap(),
        );
        for r in 0..nrows {
            let row = r * width..(r + 1) * width;
            let mut want = vec![0.0f32; width];
            reference::rmsnorm(&y[row.clone()], &post, eps, &mut want);
            for (v, &s) in want.iter_mut().zip(&stream[row.clone()]) {
                *v += s;
            }
            let mut normed = vec![0.0f32; width];
            reference::rmsnorm(&want, &pre, eps, &mut normed);
            for c in 0..width {
                let (g, e) = (x[r * width + c], want[c]);
                assert!(
                    same(g, e),
                    "width {width}, row {r}, stream {c}: {g:e} vs {e:e}"
                );
                let (g, e) = (out[r * width + c], normed[c]);
                assert!(
                    same(g, e),
                    "width {width}, row {r}, norm {c}: {g:e} vs {e:e}"
                );
            }
            let blocks = quantize(&normed).unwrap();
            for (b, (&g, &e)) in scales[r * width / 32..(r + 1) * width / 32]
                .iter()
                .zip(&blocks.d)
                .enumerate()
            {
                assert!(
                    same(g, e),
                    "width {width}, row {r}, block {b}: {g:e} vs {e:e}"
                );
            }
        }
    }
}

/// Gathers `n / width` rows of `x` (`x_len` elements) by the indices in `idx` into `out`.
fn gather(x: usize, idx: usize, out: usize, n: usize, width: i32, x_len: usize) -> Launch {
    Launch {
        kernel: Kernel::Gather,
        n,
        args: vec![
            Arg::Buf(BufId(x)),
            Arg::Buf(BufId(idx)),
            Arg::I32(width),
            Arg::Buf(BufId(out)),
        ],
        needs: vec![
            (BufId(x), x_len),
            (BufId(idx), n / width as usize),
            (BufId(out), n),
        ],
    }
}

#[test]
fn gather_runs_and_a_row_past_the_table_is_a_fault() {
    let mut d = device(ptx_sm90());
    upload_f32(&mut d, 0, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    upload_i32(&mut d, 1, &[2, 0]);
    d.alloc(BufId(2), Elem::F32, 4).unwrap();
    d.launch(&gather(0, 1, 2, 4, 2, 6)).unwrap();
    assert_eq!(d.read_f32(BufId(2), 4).unwrap(), vec![5.0, 6.0, 1.0, 2.0]);
    // Row 3 of a 3-row table: the GPU would read past the buffer; here it is an error.
    upload_i32(&mut d, 1, &[3, 0]);
    let e = d.launch(&gather(0, 1, 2, 4, 2, 6)).unwrap_err();
    match &e {
        ForwardError::Ptx(PtxError::Fault {
            kernel,
            thread,
            what,
            ..
        }) => {
            // Threads 0 and 1 read row 3; whichever runs first faults.
            assert_eq!(*kernel, "ak_fwd_gather");
            assert!(*thread < 2, "{thread}");
            assert!(what.contains("of buffer 0, which holds 24 bytes"), "{what}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn threads_that_touch_each_others_writes_are_a_race() {
    // Gathering a buffer into itself: thread 0 writes x[0], which thread 2 reads; thread 3
    // writes x[3], which thread 1 reads. Threads run last first, so thread 1 meets thread 3's
    // write.
    let mut d = device(ptx_sm90());
    upload_f32(&mut d, 0, &[1.0, 2.0, 3.0, 4.0]);
    upload_i32(&mut d, 1, &[1, 0]);
    let e = d.launch(&gather(0, 1, 0, 4, 2, 4)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("thread 1") && msg.contains("which thread 3 of the same launch wrote"),
        "{msg}"
    );
}

/// Two blocks gathering 512 values of a buffer into itself, rows of 256 by `idx`, on `workers`
/// workers: the launch's error, the buffer checked unchanged (a launch that fails writes
/// nothing).
fn two_block_gather_in_place_error(idx: [i32; 2], workers: usize) -> String {
    let x: Vec<f32> = (0..512).map(|i| i as f32).collect();
    let mut d = device(ptx_sm90());
    d.set_workers(workers);
    upload_f32(&mut d, 0, &x);
    upload_i32(&mut d, 1, &idx);
    let e = d.launch(&gather(0, 1, 0, 512, 256, 512)).unwrap_err();
    assert_eq!(d.read_f32(BufId(0), 512).unwrap(), x);
    e.to_string()
}

#[test]
fn a_read_before_another_threads_write_is_a_race_in_the_mirrored_order() {
    // Gathering row 0 of a buffer into itself: threads 2 and 3 read x[0] and x[1], which
    // threads 0 and 1 write. The usual order runs threads 3 and 2 first, so they read the old
    // values and no store checks readers: only the mirrored run sees the race.
    let launch = gather(0, 1, 0, 4, 2, 4);
    let x = [1.0, 2.0, 3.0, 4.0];
    let run = |both: bool| {
        let mut d = device(ptx_sm90());
        d.set_both_orders(both);
        upload_f32(&mut d, 0, &x);
        upload_i32(&mut d, 1, &[0, 0]);
        let r = d.launch(&launch);
        (r, d.read_f32(BufId(0), 4).unwrap())
    };
    let (r, after) = run(true);
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("thread 2") && msg.contains("which thread 0 of the same launch wrote"),
        "{msg}"
    );
    assert!(msg.contains("mirrored order"), "{msg}");
    // A launch that fails writes nothing.
    assert_eq!(after, x);
    // With one order the race goes unseen and the usual order's result stands.
    let (r, after) = run(false);
    r.unwrap();
    assert_eq!(after, vec![1.0, 2.0, 1.0, 2.0]);

    // Across blocks: block 0 reads the half of x that block 1 writes. The usual order runs
    // block 0 first; the mirrored one runs block 1 first, on one worker or two.
    let one = two_block_gather_in_place_error([1, 1], 1);
    assert!(
        one.contains("thread 0,") && one.contains("which thread 256 of the same launch wrote"),
        "{one}"
    );
    assert_eq!(two_block_gather_in_place_error([1, 1], 2), one);
}

#[test]
fn several_workers_give_one_workers_logits_costs_and_errors() {
    // The blocks of each launch shared among workers: the same bits, instruction counts and
    // timing model's cycles and bytes as one worker (the scenario compares each step's logits
    // with the engine's).
    let m = quantized(&tiny::tiny_llama(2), QuantType::Q4_1, false);
    let costs = |workers: usize| {
        let mut d = timed(ptx_sm90());
        d.set_workers(workers);
        let mut fwd = Forward::new(d, spec(&m), 3, 64).unwrap();
        compare_steps_on(&m, "llama q4_1", &scenario(m.config().vocab_size), &mut fwd);
        (fwd.device().costs(), fwd.device().depth())
    };
    let one = costs(1);
    assert!(
        one.0
            .iter()
            .all(|(_, c)| c.cycles > 0 && c.bounds.memory > 0)
    );
    assert_eq!(costs(3), one);

    // Two blocks gathering a buffer into itself: each block reads the half the other writes.
    // One worker meets block 0's writes in block 1; two workers each read the old half, and
    // the launch runs again on one thread, which reports the same race.
    let one = two_block_gather_in_place_error([1, 0], 1);
    assert!(one.contains("of the same launch wrote"), "{one}");
    assert_eq!(two_block_gather_in_place_error([1, 0], 2), one);

    // A row past the table in the second block only: block 0 alone would have succeeded.
    let x: Vec<f32> = (0..512).map(|i| i as f32).collect();
    let fault = |workers: usize| {
        let mut d = device(ptx_sm90());
        d.set_workers(workers);
        upload_f32(&mut d, 0, &x);
        upload_i32(&mut d, 1, &[0, 5]);
        upload_f32(&mut d, 2, &[-1.0; 512]);
        let e = d.launch(&gather(0, 1, 2, 512, 256, 512)).unwrap_err();
        assert_eq!(d.read_f32(BufId(2), 512).unwrap(), vec![-1.0; 512]);
        e.to_string()
    };
    let one = fault(1);
    assert!(one.contains("which holds 2048 bytes"), "{one}");
    assert_eq!(fault(2), one);
}

#[test]
fn a_launch_that_does_not_fit_the_entry_is_refused() {
    let mut d = device(ptx_sm90());
    upload_f32(&mut d, 0, &[1.0; 4]);
    let l = Launch {
        kernel: Kernel::Scale,
        n: 4,
        args: vec![Arg::Buf(BufId(0)), Arg::I32(2)],
        needs: vec![(BufId(0), 4)],
    };
    let e = d.launch(&l).unwrap_err();
    assert!(
        matches!(
            &e,
            ForwardError::Ptx(PtxError::Signature {
                kernel: "ak_fwd_scale",
                ..
            })
        ),
        "{e}"
    );
    let l = Launch {
        args: vec![Arg::Buf(BufId(0)), Arg::F32(2.0)],
        ..l
    };
    d.launch(&l).unwrap();
    assert_eq!(d.read_f32(BufId(0), 4).unwrap(), vec![2.0; 4]);
}

#[test]
fn a_module_without_the_forward_kernels_is_refused() {
    let only_scale: String = {
        let ptx = ptx_sm90();
        let start = ptx.find(".visible .entry ak_fwd_scale(").unwrap();
        let end = start + ptx[start..].find("\n}\n").unwrap() + 3;
        format!(
            ".version 9.5\n.target sm_90\n.address_size 64\n{}",
            &ptx[start..end]
        )
    };
    let e = PtxDevice::new(&only_scale).unwrap_err();
    assert!(
        matches!(&e, PtxError::MissingEntry(k) if k == "ak_fwd_embed"),
        "{e}"
    );
}

#[test]
fn smollm2_golden_hash_in_ptx() {
    let path = aikernel_engine::paths::model();
    assert!(
        path.exists(),
        "SmolLM2-135M-Instruct not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
        path.display()
    );
    let m = Model::load(&path).unwrap();
    // The shortest committed golden request (5 prompt tokens, 10 generated): prefilled, the
    // engine's tokens fed back, every step's logits hashed, against the committed SHA-256.
    let cs = cases("golden_smollm2_q4_1.json");
    let c = cs
        .iter()
        .min_by_key(|c| c.prompt.len() + c.tokens.len())
        .unwrap()
        .clone();
    let cap = c.prompt.len() + c.tokens.len() + 1;
    let mut fwd = Forward::new(timed(ptx_sm90()), spec(&m), 1, cap).unwrap();
    let t = std::time::Instant::now();
    // The prefill and the first decode step also run in the mirrored order (every launch at
    // this model's sizes, checked for reads of what another thread writes); the other decode
    // steps repeat those launches at longer positions, in the usual order only (half the time).
    let got = replay_with(
        &mut fwd,
        std::slice::from_ref(&c),
        1,
        0,
        m.config().vocab_size as u32,
        |step, f| {
            f.device().set_both_orders(step < 2);
            if step == 1 {
                print_costs("SmolLM2-135M Q4_1 golden, the prefill", f.device());
                f.device().clear_costs();
            }
        },
    );
    println!(
        "SmolLM2-135M Q4_1, golden {:?}: {} PTX instructions interpreted in {:.1} s",
        c.text,
        fwd.device().executed(),
        t.elapsed().as_secs_f64()
    );
    print_costs(
        &format!(
            "SmolLM2-135M Q4_1 golden, the {} decode steps",
            c.tokens.len() - 1
        ),
        fwd.device(),
    );
    assert_eq!(got, vec![c.sha.clone()], "the committed golden hash");
}
