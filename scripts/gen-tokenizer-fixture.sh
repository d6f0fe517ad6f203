#!/usr/bin/env bash
# Regenerates crates/engine/tests/fixtures/tokenizer_expected.json: the token ids that
# llama.cpp's llama-tokenize gives for every case of tokenizer_corpus.txt, with special-token
# parsing on and off. One-off; the test then runs without llama.cpp.
# scripts/gen-llama-cpp-fixtures.sh runs it with the other llama.cpp fixtures.
# With arguments MODEL OUT it writes fixtures/OUT for another model instead (Gemma 3 270M:
#   scripts/gen-tokenizer-fixture.sh ~/.cache/aikernel/models/gemma-3-270m-q4_k_m.gguf \
#     tokenizer_gemma3_expected.json).
# Needs: scripts/build-llama-cpp.sh llama-tokenize, and the default model. Paths follow the
# library's rule (aikernel_engine::paths): AIKERNEL_CACHE, AIKERNEL_LLAMA_CACHE, AIKERNEL_MODEL.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${AIKERNEL_CACHE:-$HOME/.cache/aikernel}"
BIN="${LLAMA_TOKENIZE:-${AIKERNEL_LLAMA_CACHE:-$CACHE/llama.cpp}/build/bin/llama-tokenize}"
MODEL="${1:-${AIKERNEL_MODEL:-$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf}}"
OUT="${2:-tokenizer_expected.json}"
FIX="$ROOT/crates/engine/tests/fixtures"
[ -x "$BIN" ] || "$ROOT/scripts/build-llama-cpp.sh" llama-tokenize

python3 - "$BIN" "$MODEL" "$FIX/tokenizer_corpus.txt" "$FIX/$OUT" <<'PY'
import hashlib, json, re, subprocess, sys

binary, model, corpus, out = sys.argv[1:]

def unescape(line):
    # Same rules as the Rust test: \n \r \t \\ \u{HEX}.
    def sub(m):
        s = m.group(0)
        return {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\"}.get(s) or chr(int(s[3:-1], 16))
    return re.sub(r"\\u\{[0-9a-fA-F]+\}|\\[nrt\\]", sub, line)

def tokenize(text, special):
    args = [binary, "-m", model, "--stdin", "--no-escape", "--ids", "--log-disable"]
    if not special:
        args.append("--no-parse-special")
    res = subprocess.run(args, input=text.encode(), capture_output=True, check=True)
    return json.loads(res.stdout.decode().strip().splitlines()[-1])

cases = []
for line in open(corpus, encoding="utf-8").read().split("\n"):
    if not line or line.startswith(";;"):
        continue
    text = unescape(line)
    cases.append({"text": text, "special": tokenize(text, True), "plain": tokenize(text, False)})

sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
version = subprocess.run([binary, "--version"], capture_output=True).stderr.decode().strip().splitlines()
with open(out, "w", encoding="utf-8") as f:
    head = {"model_sha256": sha, "llama_cpp": version[0] if version else ""}
    f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "cases": [\n')
    f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n]}\n")
print(f"{len(cases)} cases -> {out}")
PY
