//! Batched generation with one optional constraint per request: each sequence's
//! `Generation` (tokens, logits hash, stop reason) and its constraint's record are what it
//! gets alone, on `CpuSlots` and through the prefix cache, which is consulted and filled the
//! way single requests do. Tiny synthetic model, no download.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/tiny.rs"]
mod tiny;

use aikernel_engine::gguf::GgufFile;
use aikernel_engine::kernels::Ctx;
use aikernel_engine::{
    CpuSlots, GenerateOptions, Generation, Kernel, Model, PrefixCache, StopReason, TokenConstraint,
    generate, generate_batch_constrained_on, generate_batch_with_cache, generate_on,
    generate_with_cache,
};

fn model() -> Model {
    Model::from_gguf(GgufFile::from_bytes(tiny::tiny_llama_bytes(2)).unwrap()).unwrap()
}

/// Allows only tokens below `below`; finished after `n` tokens.
#[derive(Debug, Clone)]
struct Below {
    limit: u32,
    n: usize,
    taken: Vec<u32>,
}

impl TokenConstraint for Below {
    fn mask(&mut self, logits: &mut [f32]) {
        for l in logits.iter_mut().skip(self.limit as usize) {
            *l = f32::NEG_INFINITY;
        }
    }
    fn accept(&mut self, token: u32) {
        self.taken.push(token);
    }
    fn is_finished(&self) -> bool {
        self.taken.len() >= self.n
    }
}

/// Requests of different prompt lengths, max_tokens, temperatures and chunking, and
/// whether each is constrained (`Below` finishing after 3 tokens) or not.
fn requests() -> Vec<Request> {
    let spec: [(u32, usize, u32, u32, bool); 6] = [
        (0, 7, 9, 0, true),
        (1, 3, 12, 800, false),
        (2, 12, 5, 0, false),
        (3, 5, 0, 0, true),
        (4, 9, 14, 1200, true),
        (5, 1, 1, 0, false),
    ];
    spec.iter()
        .map(|&(seed, len, max_tokens, temp, constrained)| {
            let prompt = (0..len as u32)
                .map(|i| (i * 37 + seed * 11 + 1) % 200)
                .collect();
            let opts = GenerateOptions {
                max_tokens,
                temperature_milli: temp,
                seed: u64::from(seed),
                prompt_id: [seed as u8; 32],
                prefill_chunk: (seed == 2).then_some(5),
                ..GenerateOptions::default()
            };
            let c = constrained.then(|| Below {
                limit: 60,
                n: 3,
                taken: Vec::new(),
            });
            (prompt, opts, c)
        })
        .collect()
}

type Alone = Vec<(Generation, Option<Below>)>;
type Request = (Vec<u32>, GenerateOptions, Option<Below>);
type Batch = Vec<(Vec<u32>, GenerateOptions)>;

fn alone(m: &Model, reqs: &[Request]) -> Alone {
    reqs.iter()
        .map(|(p, o, c)| {
            let mut c = c.clone();
            let g = generate(m, p, o, c.as_mut().map(|c| c as &mut dyn TokenConstraint)).unwrap();
            (g, c)
        })
        .collect()
}

/// Each generation of a batch and its constraint's tokens are what the request got alone.
fn assert_alone(got: &[Generation], cs: &[Option<Below>], want: &Alone) {
    for (i, ((g, c), (wg, wc))) in got.iter().zip(cs).zip(want).enumerate() {
        assert_eq!(g, wg, "request {i}");
        assert_eq!(c.as_ref().map(|c| &c.taken), wc.as_ref().map(|c| &c.taken));
    }
}

fn split(reqs: &[Request]) -> (Batch, Vec<Option<Below>>) {
    reqs.iter()
        .map(|(p, o, c)| ((p.clone(), o.clone()), c.clone()))
        .unzip()
}

fn dyns(cs: &mut [Option<Below>]) -> Vec<Option<&mut dyn TokenConstraint>> {
    cs.iter_mut()
        .map(|c| c.as_mut().map(|c| c as &mut dyn TokenConstraint))
        .collect()
}

#[test]
fn each_sequence_of_a_constrained_batch_is_its_generation_alone() {
    let m = model();
    let reqs = requests();
    let want = alone(&m, &reqs);
    // The set covers every way to end: the constraint, the length, no tokens at all.
    let stops: Vec<StopReason> = want.iter().map(|(g, _)| g.stop_reason).collect();
    assert!(stops.contains(&StopReason::Constraint), "{stops:?}");
    assert!(stops.contains(&StopReason::Length), "{stops:?}");
    assert!(want.iter().any(|(g, _)| g.tokens.is_empty()));

    let (batch, mut cs) = split(&reqs);
    let mut slots = CpuSlots::new(&m, Ctx::new(1, Kernel::Scalar).unwrap(), 8);
    let got = generate_batch_constrained_on(&m, &mut slots, &batch, &mut dyns(&mut cs)).unwrap();
    assert_alone(&got, &cs, &want);
    // And one at a time on the same slots (the loop's other entry point).
    let mut one = CpuSlots::new(&m, Ctx::new(2, Kernel::Auto).unwrap(), 1);
    for ((p, o, c), (wg, _)) in reqs.iter().zip(&want) {
        let mut c = c.clone();
        let g = generate_on(&m, &mut one, p, o, c.as_mut().map(|c| c as _)).unwrap();
        assert_eq!(&g, wg);
    }
}

/// Records the threads that sample under it.
struct Threads(std::collections::BTreeSet<String>);

impl TokenConstraint for Threads {
    fn mask(&mut self, _logits: &mut [f32]) {}
    fn accept(&mut self, _token: u32) {
        self.0.insert(format!("{:?}", std::thread::current().id()));
    }
    fn is_finished(&self) -> bool {
        false
    }
}

#[test]
fn sequences_sampled_on_several_threads_are_their_generations_alone() {
    let m = model();
    let mut reqs = requests();
    // Eight sequences of up to 12 tokens, 3 threads: three or four sequences a thread.
    for (i, seed) in (6u32..8).enumerate() {
        let mut r = reqs[i + 1].clone();
        r.1.seed = u64::from(seed);
        r.1.prompt_id = [seed as u8; 32];
        reqs.push(r);
    }
    for r in &mut reqs {
        r.1.threads = 3;
    }
    let want = alone(&m, &reqs);
    let (batch, mut cs) = split(&reqs);
    let mut slots = CpuSlots::new(&m, Ctx::new(1, Kernel::Scalar).unwrap(), 8);
    let got = generate_batch_constrained_on(&m, &mut slots, &batch, &mut dyns(&mut cs)).unwrap();
    assert_alone(&got, &cs, &want);
    // The same batch with every sequence recording its sampling thread: more than one.
    let mut rec: Vec<Threads> = reqs
        .iter()
        .map(|_| Threads(std::collections::BTreeSet::new()))
        .collect();
    let mut dyn_rec: Vec<Option<&mut dyn TokenConstraint>> = rec
        .iter_mut()
        .map(|c| Some(c as &mut dyn TokenConstraint))
        .collect();
    let mut slots = CpuSlots::new(&m, Ctx::new(1, Kernel::Scalar).unwrap(), 8);
    generate_batch_constrained_on(&m, &mut slots, &batch, &mut dyn_rec).unwrap();
    let threads: std::collections::BTreeSet<&String> = rec.iter().flat_map(|r| &r.0).collect();
    assert!(threads.len() > 1, "one sampling thread: {threads:?}");
}

#[test]
fn a_batch_through_the_prefix_cache_gives_the_same_and_fills_it() {
    let m = model();
    let reqs = requests();
    let want = alone(&m, &reqs);
    let (batch, mut cs) = split(&reqs);
    let cache = PrefixCache::new(64 << 20);
    let got = generate_batch_with_cache(&m, &batch, &mut dyns(&mut cs), &cache).unwrap();
    assert!(got.iter().all(|(_, r)| r.reused == 0), "a cold cache");
    let gens: Vec<&Generation> = got.iter().map(|(g, _)| g).collect();
    assert_eq!(gens, want.iter().map(|(g, _)| g).collect::<Vec<_>>());
    // Every request that generated was stored (max_tokens 0 computes nothing).
    assert_eq!(cache.stats().entries, 5);

    // The next turn of each conversation (the prompt, its answer and more) reuses it, and
    // gives what the single path with its own cache gives.
    let next: Vec<Request> = reqs
        .iter()
        .zip(&want)
        .map(|((p, o, c), (g, _))| {
            let mut p = p.clone();
            p.extend(&g.tokens);
            p.extend([3, 4, 5]);
            (p, o.clone(), c.clone())
        })
        .collect();
    let single = PrefixCache::new(64 << 20);
    let mut want_next = Vec::new();
    for ((p, o, c), (wp, wo, wc)) in reqs.iter().zip(&next) {
        let mut c = c.clone();
        generate_with_cache(&m, p, o, c.as_mut().map(|c| c as _), &single).unwrap();
        let mut c = wc.clone();
        let got = generate_with_cache(&m, wp, wo, c.as_mut().map(|c| c as _), &single).unwrap();
        want_next.push(got);
    }
    let (batch, mut cs) = split(&next);
    let got = generate_batch_with_cache(&m, &batch, &mut dyns(&mut cs), &cache).unwrap();
    assert_eq!(got, want_next);
    assert!(got.iter().filter(|(_, r)| r.reused > 0).count() >= 4);
    assert_eq!(got, {
        let fresh = alone(&m, &next);
        fresh
            .into_iter()
            .zip(&want_next)
            .map(|((g, _), (_, r))| (g, *r))
            .collect::<Vec<_>>()
    });
}

#[test]
fn a_batch_refuses_constraints_that_do_not_pair_up() {
    let m = model();
    let (batch, mut cs) = split(&requests());
    let mut short = dyns(&mut cs);
    short.pop();
    let cache = PrefixCache::new(0);
    assert!(generate_batch_with_cache(&m, &batch, &mut short, &cache).is_err());
    let mut slots = CpuSlots::new(&m, Ctx::new(1, Kernel::Scalar).unwrap(), 8);
    assert!(generate_batch_constrained_on(&m, &mut slots, &batch, &mut short).is_err());
    // Fewer slots than requests is an error, not a panic.
    let mut two = CpuSlots::new(&m, Ctx::new(1, Kernel::Scalar).unwrap(), 2);
    let mut all = dyns(&mut cs);
    assert!(generate_batch_constrained_on(&m, &mut two, &batch, &mut all).is_err());
}
