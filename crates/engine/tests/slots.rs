//! The sampling loop on `Slots`: `generate_on` and `generate_batch_on` over the engine's own
//! `CpuSlots` give `generate`'s and `generate_batch`'s `Generation`s (the contract another
//! backend, the CUDA forward pass in `aikernel-accel`, is held to), and `CpuSlots` refuses
//! steps it cannot run. Tiny synthetic model, no download.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/tiny.rs"]
mod tiny;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "common/tiny_gemma.rs"]
mod tiny_gemma;

use aikernel_engine::gguf::GgufFile;
use aikernel_engine::kernels::Ctx;
use aikernel_engine::{
    CpuSlots, GenerateOptions, Kernel, Model, Slots, generate, generate_batch, generate_batch_on,
    generate_on,
};

fn model() -> Model {
    Model::from_gguf(GgufFile::from_bytes(tiny::tiny_llama_bytes(2)).unwrap()).unwrap()
}

fn ctx() -> Ctx {
    Ctx::new(1, Kernel::Scalar).unwrap()
}

#[test]
fn the_loop_on_cpu_slots_is_generate() {
    let m = model();
    let requests: Vec<(Vec<u32>, GenerateOptions)> =
        [(0u32, 7usize, 0u32), (1, 3, 800), (2, 12, 0)]
            .iter()
            .map(|&(seed, len, temp)| {
                let prompt = (0..len as u32)
                    .map(|i| (i * 37 + seed * 11 + 1) % 200)
                    .collect();
                let opts = GenerateOptions {
                    max_tokens: 9,
                    temperature_milli: temp,
                    seed: u64::from(seed),
                    prefill_chunk: (seed == 2).then_some(5),
                    ..GenerateOptions::default()
                };
                (prompt, opts)
            })
            .collect();
    let mut one = CpuSlots::new(&m, ctx(), 1);
    for (prompt, opts) in &requests {
        let want = generate(&m, prompt, opts, None).unwrap();
        // The slot is reused: each generation starts from an emptied cache.
        assert_eq!(generate_on(&m, &mut one, prompt, opts, None).unwrap(), want);
    }
    let mut many = CpuSlots::new(&m, ctx(), 4);
    assert_eq!(
        generate_batch_on(&m, &mut many, &requests).unwrap(),
        generate_batch(&m, &requests).unwrap()
    );
    // More requests than slots is an error, not a panic.
    let mut two = CpuSlots::new(&m, ctx(), 2);
    assert!(generate_batch_on(&m, &mut two, &requests).is_err());
}

#[test]
fn cpu_slots_refuse_what_they_cannot_run() {
    let m = model();
    let mut s = CpuSlots::new(&m, ctx(), 2);
    assert_eq!(s.slots(), 2);
    assert!(s.step(&[(2, &[1])]).is_err(), "slot out of range");
    assert!(s.step(&[(0, &[1]), (0, &[2])]).is_err(), "slot twice");
    let out = s.step(&[(1, &[1, 2, 3]), (0, &[4])]).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!((s.len(0), s.len(1)), (1, 3));
    s.reset(1);
    assert_eq!(s.len(1), 0);
    assert_eq!(s.take(0).map(|c| c.len()), Some(1));
    assert_eq!(s.len(0), 0);
    assert!(s.take(5).is_none());
}

/// `CpuSlots` that count the rows each step hands out and the loop hands back.
struct Counting<'m> {
    inner: CpuSlots<'m>,
    /// Addresses of rows handed out and not yet back.
    out: Vec<usize>,
    handed_out: usize,
    back: usize,
}

impl Slots for Counting<'_> {
    type Error = aikernel_engine::EngineError;

    fn slots(&self) -> usize {
        self.inner.slots()
    }
    fn len(&self, slot: usize) -> usize {
        self.inner.len(slot)
    }
    fn reset(&mut self, slot: usize) {
        self.inner.reset(slot);
    }
    fn step(&mut self, seqs: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, Self::Error> {
        let rows = self.inner.step(seqs)?;
        self.handed_out += rows.len();
        self.out.extend(rows.iter().map(|r| r.as_ptr() as usize));
        Ok(rows)
    }
    fn recycle(&mut self, rows: Vec<Vec<f32>>) {
        for r in rows.iter().filter(|r| r.capacity() > 0) {
            let at = r.as_ptr() as usize;
            let i = self.out.iter().position(|&p| p == at);
            assert!(i.is_some(), "a row handed back that no step handed out");
            self.out.swap_remove(i.unwrap());
            self.back += 1;
        }
        self.inner.recycle(rows);
    }
}

#[test]
fn the_loop_hands_every_row_of_logits_back_once_read() {
    // Slots that copy logits from a device refill the rows handed back: the loop must give
    // back each row it was handed (prefill chunks, every decode step, single and batched),
    // none twice, none it was not given, and generate as before.
    let m = model();
    let requests: Vec<(Vec<u32>, GenerateOptions)> = [
        (3usize, 4u32, None),
        (9, 6, Some(4)),
        (5, 0, None),
        (2, 1, None),
    ]
    .iter()
    .map(|&(len, max_tokens, prefill_chunk)| {
        let opts = GenerateOptions {
            max_tokens,
            prefill_chunk,
            ..GenerateOptions::default()
        };
        ((1..=len as u32).collect(), opts)
    })
    .collect();
    let mut slots = Counting {
        inner: CpuSlots::new(&m, ctx(), 4),
        out: Vec::new(),
        handed_out: 0,
        back: 0,
    };
    let batched = generate_batch_on(&m, &mut slots, &requests).unwrap();
    assert_eq!(batched, generate_batch(&m, &requests).unwrap());
    let (prompt, opts) = &requests[1];
    let single = generate_on(&m, &mut slots, prompt, opts, None).unwrap();
    assert_eq!(single, generate(&m, prompt, opts, None).unwrap());
    assert!(slots.handed_out > 10, "{} rows", slots.handed_out);
    assert_eq!(slots.back, slots.handed_out);
    assert!(slots.out.is_empty());
}

fn bits(rows: &[Vec<f32>]) -> Vec<Vec<u32>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn rows_handed_back_get_the_next_steps_logits_in_place() {
    // A step writes its logits into rows handed back (the same memory, no fresh megabyte a
    // row to map): the same bits as slots that are never given rows back, a row of another
    // length resized, rows without memory ignored, at most one kept a slot. Llama, and Gemma
    // 3 with its soft-capped logits.
    let gemma = Model::from_gguf(
        GgufFile::from_bytes(tiny_gemma::tiny_gemma3(2).to_bytes().unwrap()).unwrap(),
    )
    .unwrap();
    for m in [model(), gemma] {
        let vocab = m.config().vocab_size;
        let mut given = CpuSlots::new(&m, ctx(), 3);
        let mut fresh = CpuSlots::new(&m, ctx(), 3);
        let prompt: Vec<u32> = (1..8).collect();
        let first = [(0, &prompt[..5]), (1, &prompt[..2]), (2, &prompt[3..])];
        let rows = given.step(&first).unwrap();
        assert_eq!(bits(&rows), bits(&fresh.step(&first).unwrap()));
        let mut handed: Vec<usize> = rows.iter().map(|r| r.as_ptr() as usize).collect();
        given.recycle(rows);
        for t in 20..23u32 {
            let (a, b, c) = ([t], [t + 1], [t + 2]);
            let step = [(2, &a[..]), (0, &b[..]), (1, &c[..])];
            let rows = given.step(&step).unwrap();
            assert_eq!(bits(&rows), bits(&fresh.step(&step).unwrap()), "step {t}");
            assert!(rows.iter().all(|r| r.len() == vocab));
            let mut got: Vec<usize> = rows.iter().map(|r| r.as_ptr() as usize).collect();
            got.sort_unstable();
            handed.sort_unstable();
            assert_eq!(
                got, handed,
                "step {t}: the rows handed back were written in place"
            );
            handed = rows.iter().map(|r| r.as_ptr() as usize).collect();
            given.recycle(rows);
        }
        // Rows of other lengths (one too short, one too long), one without memory, and more
        // than the slots: the next step's rows still hold exactly its logits.
        given.recycle(vec![
            vec![7.0; 3],
            vec![9.0; vocab + 5],
            Vec::new(),
            vec![1.0; vocab],
        ]);
        let step = [(0, &[30u32][..]), (1, &[31][..]), (2, &[32][..])];
        let rows = given.step(&step).unwrap();
        assert_eq!(bits(&rows), bits(&fresh.step(&step).unwrap()));
    }
}
