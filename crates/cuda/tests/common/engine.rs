//! The engine's model as the CUDA forward pass's spec (`aikernel_accel::model_spec`), the engine's own logits for
//! the same steps, and the tiny synthetic models of the engine's tests, quantized to any type.
#![allow(dead_code)]

use aikernel_cuda::forward::{ATTENTION_SHARED, Device, Forward, HostDevice};
use aikernel_engine::gguf::{GgmlType, GgufFile, GgufWriter, MetaValue};
use aikernel_engine::model::forward_logits;
use aikernel_engine::quantize::{QuantType, quantize_gguf, requantize_gguf};
use aikernel_engine::{Kernel, Model, model::KvCache};

/// `m` as the CUDA forward pass sees it: the conversion the front ends use (`aikernel-accel`).
pub(crate) use aikernel_accel::model_spec as spec;

/// The host build of the CUDA forward pass over `m` with `slots` caches of `capacity`.
pub(crate) fn host_forward(m: &Model, slots: usize, capacity: usize) -> Forward<'_, HostDevice> {
    Forward::new(HostDevice::new(), spec(m), slots, capacity).unwrap()
}

/// Bit patterns of a logits row.
pub(crate) fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Runs the same steps (each a list of `(sequence, tokens)`) through the engine (scalar
/// kernel, one thread) and the host build of the CUDA forward pass, asserting every
/// sequence's logits bit-identical at every step. Returns the CUDA logits of every step.
pub(crate) fn compare_steps(
    m: &Model,
    name: &str,
    nseq: usize,
    steps: &[Vec<(usize, Vec<u32>)>],
) -> Vec<Vec<Vec<f32>>> {
    compare_steps_on(m, name, steps, &mut host_forward(m, nseq, 64))
}

/// [`compare_steps`] on any device: `fwd` holds a slot for every sequence the steps name.
pub(crate) fn compare_steps_on<D: Device>(
    m: &Model,
    name: &str,
    steps: &[Vec<(usize, Vec<u32>)>],
    fwd: &mut Forward<'_, D>,
) -> Vec<Vec<Vec<f32>>> {
    let nseq = steps
        .iter()
        .flat_map(|s| s.iter().map(|(q, _)| q + 1))
        .max()
        .unwrap_or(0);
    let mut caches: Vec<KvCache> = (0..nseq).map(|_| KvCache::new(m)).collect();
    let mut out = Vec::new();
    for (si, step) in steps.iter().enumerate() {
        let mut refs: Vec<Option<&mut KvCache>> = caches.iter_mut().map(Some).collect();
        let mut seqs: Vec<(&mut KvCache, &[u32])> = step
            .iter()
            .map(|(s, t)| (refs[*s].take().unwrap(), t.as_slice()))
            .collect();
        let want = forward_logits(m, Kernel::Scalar, 1, &mut seqs).unwrap();
        let batch: Vec<(usize, &[u32])> = step.iter().map(|(s, t)| (*s, t.as_slice())).collect();
        let got = fwd.step(&batch).unwrap();
        assert_eq!(got.len(), want.len());
        for g in &got {
            assert!(
                g.iter().all(|x| x.is_finite()),
                "{name}: step {si}: logits not finite"
            );
            assert!(
                g.iter().any(|x| x.to_bits() != g[0].to_bits()),
                "{name}: step {si}: logits all equal"
            );
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let diff = g
                .iter()
                .zip(w)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(
                diff,
                0,
                "{name}: step {si}, sequence {}: {diff} of {} logits differ (first {:?} vs {:?})",
                step[i].0,
                g.len(),
                &g[..4],
                &w[..4]
            );
        }
        out.push(got);
    }
    out
}

/// A GGUF model from a writer.
pub(crate) fn load(w: &GgufWriter<'_>) -> Model {
    Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap()
}

/// `w`'s file quantized (or requantized) to `t` by the engine's quantizer.
pub(crate) fn quantized(w: &GgufWriter<'_>, t: QuantType, requantize: bool) -> Model {
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let mut out = Vec::new();
    if requantize {
        requantize_gguf(&f, t, &mut out).unwrap();
    } else {
        quantize_gguf(&f, t, &mut out).unwrap();
    }
    Model::from_gguf(GgufFile::from_bytes(out).unwrap()).unwrap()
}

/// `w`'s file with every 2-D F32 tensor (matrices and embeddings) in F16.
pub(crate) fn as_f16(w: &GgufWriter<'_>) -> Model {
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let mut o = GgufWriter::new();
    for (k, v) in f.metadata() {
        o.add_metadata(k.clone(), v.clone());
    }
    for info in f.tensors() {
        let t = f.view(info);
        if t.dims.len() == 2 && t.dtype == GgmlType::F32 {
            let bytes: Vec<u8> = t
                .data
                .chunks_exact(4)
                .flat_map(|c| {
                    aikernel_engine::f16::f32_to_f16(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .to_le_bytes()
                })
                .collect();
            o.add_tensor(t.name, t.dims, GgmlType::F16, bytes).unwrap();
        } else {
            o.add_tensor(t.name, t.dims, t.dtype, t.data.to_vec())
                .unwrap();
        }
    }
    load(&o)
}

/// Batch steps, each a list of `(sequence, tokens)`.
pub(crate) type Steps = Vec<Vec<(usize, Vec<u32>)>>;

/// Steps where one sequence sees more positions than the attention keeps in shared memory
/// (`ATTENTION_SHARED`), so that its launches take the long attention: the Llama model `w`
/// given the context for them and quantized to Q4_1, a prefill of `ATTENTION_SHARED + 4`
/// tokens next to one of 40, two decode steps of both; and the positions a slot needs.
pub(crate) fn past_shared_attention(mut w: GgufWriter<'_>) -> (Model, Steps, usize) {
    let long = ATTENTION_SHARED + 4;
    w.add_metadata("llama.context_length", MetaValue::U32(2 * long as u32));
    let m = quantized(&w, QuantType::Q4_1, false);
    let vocab = m.config().vocab_size as u32;
    let t = |seed: u32, n: usize| -> Vec<u32> {
        (0..n as u32).map(|i| (seed + i * 7) % vocab).collect()
    };
    let steps = vec![
        vec![(0, t(1, long)), (1, t(2, 40))],
        vec![(0, t(3, 1)), (1, t(4, 1))],
        vec![(1, t(5, 1)), (0, t(6, 1))],
    ];
    (m, steps, long + 2)
}
