//! The forward kernels one at a time on the host device: the embedding lookup of every weight
//! type against the engine's `dequant_row`, and every refusal of the launch checks and the
//! step planner (out-of-bounds launches, unknown buffers, bad slots, tokens and lengths).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;

use aikernel_cuda::forward::{
    Arg, BufId, Device, Elem, Forward, ForwardError, HostDevice, Kernel, Launch,
};
use aikernel_engine::gguf::GgmlType;
use aikernel_engine::kernels::{WEIGHT_TYPES, WeightView, dequant_row};
use aikernel_engine::quantize::{blocks, kblocks};
use common::engine::{load, spec};
use common::{Rng, same};

fn encode(t: GgmlType, x: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    match t {
        GgmlType::F32 => return x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => {
            return x
                .iter()
                .flat_map(|&v| aikernel_engine::f16::f32_to_f16(v).to_le_bytes())
                .collect();
        }
        GgmlType::Q8_0 => blocks::quantize_q8_0(x, &mut out),
        GgmlType::Q4_0 => blocks::quantize_q4_0(x, &mut out),
        GgmlType::Q4_1 => blocks::quantize_q4_1(x, &mut out),
        GgmlType::Q5_0 => kblocks::quantize_q5_0(x, &mut out),
        GgmlType::Q5_1 => kblocks::quantize_q5_1(x, &mut out),
        GgmlType::Q4_K => kblocks::quantize_q4_k(x, &mut out),
        GgmlType::Q5_K => kblocks::quantize_q5_k(x, &mut out),
        _ => kblocks::quantize_q6_k(x, &mut out),
    }
    out
}

/// Embeds `tokens` from `table` on the host device.
fn embed(t: GgmlType, table: &[u8], rows: usize, cols: usize, tokens: &[i32]) -> Vec<f32> {
    let mut dev = HostDevice::new();
    let (tb, tk, out) = (BufId(0), BufId(1), BufId(2));
    dev.upload(tb, Elem::U8, table).unwrap();
    let tok_bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
    dev.upload(tk, Elem::I32, &tok_bytes).unwrap();
    dev.alloc(out, Elem::F32, tokens.len() * cols).unwrap();
    // One output a chunk of each token's row (`ak_embed_chunks`).
    let chunks = aikernel_cuda::host::embed_chunks(t.id(), cols);
    let l = Launch {
        kernel: Kernel::Embed,
        n: tokens.len() * chunks,
        args: vec![
            Arg::I32(t.id() as i32),
            Arg::Buf(tb),
            Arg::I32(cols as i32),
            Arg::Buf(tk),
            Arg::Buf(out),
        ],
        needs: vec![
            (tb, table.len()),
            (tk, tokens.len()),
            (out, tokens.len() * cols),
        ],
    };
    assert_eq!(table.len() % rows, 0);
    dev.launch(&l).unwrap();
    dev.read_f32(out, tokens.len() * cols).unwrap()
}

#[test]
fn embedding_rows_of_every_type_match_the_engine() {
    let mut rng = Rng::new(5);
    let rows = 6;
    // Every type's rows of 512 (two K-quant super-blocks, 16 blocks); F32 and F16 rows also
    // of 48 and 7, whose last chunk is shorter than the 32 others take.
    let shapes = WEIGHT_TYPES.iter().map(|&t| (t, 512)).chain(
        [GgmlType::F32, GgmlType::F16]
            .into_iter()
            .flat_map(|t| [(t, 48), (t, 7)]),
    );
    for (t, cols) in shapes {
        for raw in [false, true] {
            let x: Vec<f32> = (0..rows * cols).map(|_| rng.wide(6)).collect();
            let mut table = encode(t, &x);
            if raw && t != GgmlType::F32 {
                // Random bytes: any f16 factor, NaN and infinity included.
                for b in &mut table {
                    *b = rng.byte();
                }
            }
            let view = WeightView {
                dtype: t,
                rows,
                cols,
                data: &table,
            };
            let tokens = [3, 0, 5, 3];
            let got = embed(t, &table, rows, cols, &tokens);
            for (i, &tok) in tokens.iter().enumerate() {
                let mut want = vec![0f32; cols];
                dequant_row(&view, tok as usize, &mut want);
                for (j, (&g, &w)) in got[i * cols..(i + 1) * cols].iter().zip(&want).enumerate() {
                    assert!(
                        same(g, w),
                        "{t} raw {raw} token {tok} [{j}]: {g:e} vs {w:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn launches_past_a_buffer_or_on_unknown_buffers_are_refused() {
    let mut dev = HostDevice::new();
    dev.alloc(BufId(0), Elem::F32, 8).unwrap();
    let scale = |n: usize, need: usize, bufs: Vec<(BufId, usize)>| Launch {
        kernel: Kernel::Scale,
        n,
        args: vec![Arg::Buf(BufId(0)), Arg::F32(2.0)],
        needs: if bufs.is_empty() {
            vec![(BufId(0), need)]
        } else {
            bufs
        },
    };
    dev.launch(&scale(8, 8, vec![])).unwrap();
    assert!(matches!(
        dev.launch(&scale(9, 9, vec![])),
        Err(ForwardError::Bounds {
            kernel: "ak_fwd_scale",
            need: 9,
            have: 8,
            ..
        })
    ));
    // A buffer argument the launch does not declare, and a declared buffer never allocated.
    assert!(matches!(
        dev.launch(&scale(1, 0, vec![(BufId(3), 0)])),
        Err(ForwardError::NoBuffer(0))
    ));
    let mut l = scale(1, 1, vec![]);
    l.args[0] = Arg::Buf(BufId(7));
    l.needs = vec![(BufId(7), 1)];
    assert!(matches!(dev.launch(&l), Err(ForwardError::NoBuffer(7))));
    assert!(matches!(
        dev.read_f32(BufId(0), 9),
        Err(ForwardError::NoBuffer(0))
    ));
    assert!(dev.read_f32(BufId(0), 8).unwrap().iter().all(|&v| v == 0.0));
}

#[test]
fn bad_steps_and_weights_are_refused_before_anything_runs() {
    let m = load(&tiny::tiny_llama(1));
    let mut f = Forward::new(HostDevice::new(), spec(&m), 2, 8).unwrap();
    let bad = |r: Result<Vec<Vec<f32>>, ForwardError>, what: &str| match r {
        Err(ForwardError::BadInput(msg)) => assert!(msg.contains(what), "{msg}"),
        other => panic!("expected BadInput({what}), got {other:?}"),
    };
    bad(f.step(&[(2, &[1])]), "slot 2 of 2");
    bad(f.step(&[(0, &[1]), (0, &[2])]), "twice");
    bad(f.step(&[(0, &[])]), "empty");
    bad(f.step(&[(0, &[257])]), "outside vocabulary");
    bad(f.step(&[(0, &[1; 9])]), "needs 9 positions");
    bad(f.step(&[]), "no sequences");
    assert_eq!(f.len(0), 0);
    f.step(&[(0, &[1; 8])]).unwrap();
    bad(f.step(&[(0, &[1])]), "needs 9 positions");
    f.reset(0);
    f.step(&[(0, &[1])]).unwrap();
    assert!(f.trace().iter().any(|l| l.kernel == Kernel::Attention));
    let mut s = spec(&m);
    s.layers[0].wq.rows += 1;
    assert!(matches!(
        Forward::new(HostDevice::new(), s, 1, 8),
        Err(ForwardError::BadInput(_))
    ));
}
