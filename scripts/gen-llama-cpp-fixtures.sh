#!/usr/bin/env bash
# Regenerates llama.cpp's reference outputs, which are committed so that every test run checks
# agreement with llama.cpp without building it (docs/testing.md), in
# crates/engine/tests/fixtures/:
#   tokenizer_expected.json         ids of the tokenizer corpus (scripts/gen-tokenizer-fixture.sh)
#   llama_cpp_tokenize_random.json  ids of 30 random strings under 4 pre-tokenizers
#   llama_cpp_quantize.json         sha256 of every tensor llama-quantize writes (Q8_0/Q4_0/Q4_1)
#   llama_cpp_agreement.json        greedy tokens and first-step logit summaries of 20 prompts
#   tokenizer_gemma3_expected.json  the tokenizer corpus on Gemma 3 270M's SentencePiece vocabulary
#   llama_cpp_agreement_gemma3.json the same summaries for Gemma 3 270M (21 raw prompts)
#   llama_cpp_tiny_gemma3.json      first-step logits of a tiny synthetic Gemma 3 (3 prompts)
#   llama_cpp_tiny_{llama3,qwen2,qwen3}.json  first-step logits (default settings and f32
#                                   cache) and greedy tokens of tiny K-quant Llama 3 (RoPE
#                                   factors), Qwen 2 and Qwen 3 models (3 prompts each), and
#                                   llama-tokenize's ids of 3 texts on their vocabularies
# Builds llama.cpp first (scripts/build-llama-cpp.sh, idempotent), then runs the engine's live
# llama.cpp tests with AIKERNEL_LLAMA_CPP_FIXTURES=write: they write what llama.cpp printed,
# then still compare the engine with it (a failure there is a real disagreement).
# Needs the default model (scripts/setup.sh) or AIKERNEL_MODEL, and Gemma 3 270M (setup.sh). Review the diff, then commit.
# Run it when llama.cpp's version, the model, or a test's prompts or corpus change.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

./scripts/build-llama-cpp.sh
./scripts/gen-tokenizer-fixture.sh
./scripts/gen-tokenizer-fixture.sh "${AIKERNEL_CACHE:-$HOME/.cache/aikernel}/models/gemma-3-270m-q4_k_m.gguf" \
  tokenizer_gemma3_expected.json
AIKERNEL_LLAMA_CPP=1 AIKERNEL_LLAMA_CPP_FIXTURES=write cargo test -p aikernel-engine --locked \
  --test tokenizer_differential --test quantize_llama_cpp --test llama_cpp_agreement --test gemma3_llama_cpp --test gemma3_synthetic --test arch_synthetic \
  -- live --nocapture
ls -l crates/engine/tests/fixtures/tokenizer_expected.json crates/engine/tests/fixtures/llama_cpp_*.json
