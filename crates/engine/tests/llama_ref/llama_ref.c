/* Reference runner for tests/llama_cpp_agreement.rs: feeds token ids to llama.cpp (linked
 * statically from the build of scripts/build-llama-cpp.sh) and prints, for each prompt, the
 * greedy continuation (argmax, ties to the lowest id) and the logits of the last prompt
 * position. Input (stdin): one prompt per line, space-separated token ids. Output (stdout):
 * one line per prompt: "<n_gen tokens...> | <n_vocab logits as %.9g...>".
 * Usage: llama_ref MODEL N_GEN THREADS MODE, MODE one of llama.cpp's own settings:
 * - `default`: its context defaults (f16 key/value cache, flash attention when supported,
 *   weights repacked for this CPU where it has a repacked layout);
 * - `f32`: f32 cache, no flash attention;
 * - `noflash`: f16 cache, no flash attention;
 * - `norepack`: the defaults, but weights used as stored (no repacked copy, so other
 *   matrix-multiplication kernels and summation orders). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * ud) {
    (void) level; (void) text; (void) ud;
}

static int argmax(const float * l, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (l[i] > l[best]) best = i;
    }
    return best;
}

int main(int argc, char ** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL N_GEN THREADS default|f32|noflash|norepack\n", argv[0]);
        return 2;
    }
    int n_gen = atoi(argv[2]);
    int threads = atoi(argv[3]);
    llama_log_set(quiet, NULL);
    llama_backend_init();
    const char * mode = argv[4];
    if (strcmp(mode, "default") != 0 && strcmp(mode, "f32") != 0 && strcmp(mode, "noflash") != 0
        && strcmp(mode, "norepack") != 0) {
        fprintf(stderr, "mode must be default, f32, noflash or norepack\n");
        return 2;
    }
    struct llama_model_params mp = llama_model_default_params();
    if (strcmp(mode, "norepack") == 0) mp.use_extra_bufts = false;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 2048; cp.n_batch = 2048; cp.n_ubatch = 2048;
    cp.n_threads = threads; cp.n_threads_batch = threads;
    if (strcmp(mode, "f32") == 0) {
        /* Keys and values in f32 and no flash attention (our engine's cache is f32). */
        cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    } else if (strcmp(mode, "noflash") == 0) {
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot create context\n"); return 1; }
    static char line[1 << 20];
    llama_token toks[4096];
    while (fgets(line, sizeof line, stdin)) {
        int n = 0;
        for (char * p = strtok(line, " \n"); p && n < 4096; p = strtok(NULL, " \n")) toks[n++] = atoi(p);
        if (n == 0) continue;
        llama_memory_clear(llama_get_memory(ctx), true);
        if (llama_decode(ctx, llama_batch_get_one(toks, n)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        float * first = malloc(sizeof(float) * n_vocab);
        memcpy(first, llama_get_logits_ith(ctx, -1), sizeof(float) * n_vocab);
        llama_token t = argmax(first, n_vocab);
        for (int i = 0; i < n_gen; i++) {
            printf("%d ", t);
            if (i + 1 == n_gen) break;
            if (llama_decode(ctx, llama_batch_get_one(&t, 1)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
            t = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
        }
        printf("|");
        for (int i = 0; i < n_vocab; i++) printf(" %.9g", first[i]);
        printf("\n");
        fflush(stdout);
        free(first);
    }
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
