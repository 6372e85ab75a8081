/*
 * The eval bench's scoring baseline: llama2.c's own forward pass and tokenizer, scoring a text with
 * the protocol of `headshare eval --documents-separator SEP --window W`, end to end in one process
 * (read the checkpoint and tokenizer, tokenize, score). bench/llama2c.ts compiles it against the
 * run.c of a llama2.c checkout (HEADSHARE_LLAMA2C_DIR), which it includes as is:
 *
 *   gcc -O3 -DHEADSHARE_L2C_API=1|2 -I $HEADSHARE_LLAMA2C_DIR -o score bench/llama2c-score.c -lm
 *
 * API 1: run.c with `transformer(token, pos, &config, &state, &weights)` and `bpe_encode` (mid-2023);
 * API 2: run.c with `build_transformer`, `forward` and `encode` (later versions). The bench picks one
 * from run.c's text and refuses a run.c that has neither.
 *
 * Protocol (src/core/eval/windows.ts, "documents"): the text split at SEP, each document trimmed
 * (ASCII whitespace), empty ones skipped, scored alone as [BOS = 1] + its tokens truncated to
 * min(W, seq_len); every token after BOS is predicted. NLL per position = logsumexp(logits) −
 * logits[target], summed in double.
 *
 * usage: llama2c-score MODEL.bin TOKENIZER.bin TEXT SEP W
 * prints one line of JSON: {"documents":D,"tokens":N,"nll":mean NLL,"seconds":wall seconds in main}
 */
#define main llama2c_run_main
#include "run.c"
#undef main

#include <stdint.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "llama2c-score: cannot open %s\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "llama2c-score: cannot read %s\n", path); exit(2); }
    buf[n] = '\0';
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* log p(target | logits) in double. */
static double nll_of(const float *logits, int vocab, int target) {
    double mx = logits[0];
    for (int i = 1; i < vocab; i++) if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) + mx - (double)logits[target];
}

#if HEADSHARE_L2C_API == 1
/* run.c of mid-2023: main() loads inline; the same steps here. */
typedef struct { Config config; TransformerWeights weights; RunState state; char **vocab; float *scores; unsigned int max_len; } Model;
static void load(Model *m, const char *checkpoint, const char *tokenizer) {
    FILE *file = fopen(checkpoint, "rb");
    if (!file) { fprintf(stderr, "llama2c-score: cannot open %s\n", checkpoint); exit(2); }
    if (fread(&m->config, sizeof(Config), 1, file) != 1) { fprintf(stderr, "llama2c-score: %s: no config header\n", checkpoint); exit(2); }
    int shared_weights = m->config.vocab_size > 0 ? 1 : 0;
    m->config.vocab_size = abs(m->config.vocab_size);
    fseek(file, 0, SEEK_END);
    ssize_t file_size = ftell(file);
    fclose(file);
    int fd = open(checkpoint, O_RDONLY);
    float *data = mmap(NULL, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (fd == -1 || data == MAP_FAILED) { fprintf(stderr, "llama2c-score: cannot map %s\n", checkpoint); exit(2); }
    checkpoint_init_weights(&m->weights, &m->config, data + sizeof(Config) / sizeof(float), shared_weights);
    int V = m->config.vocab_size;
    m->vocab = malloc(V * sizeof(char *));
    m->scores = malloc(V * sizeof(float));
    FILE *t = fopen(tokenizer, "rb");
    if (!t || fread(&m->max_len, sizeof(int), 1, t) != 1) { fprintf(stderr, "llama2c-score: cannot read %s\n", tokenizer); exit(2); }
    for (int i = 0; i < V; i++) {
        int len;
        if (fread(m->scores + i, sizeof(float), 1, t) != 1 || fread(&len, sizeof(int), 1, t) != 1) { fprintf(stderr, "llama2c-score: %s is short\n", tokenizer); exit(2); }
        m->vocab[i] = malloc(len + 1);
        if (fread(m->vocab[i], len, 1, t) != 1) { fprintf(stderr, "llama2c-score: %s is short\n", tokenizer); exit(2); }
        m->vocab[i][len] = '\0';
    }
    fclose(t);
    malloc_run_state(&m->state, &m->config);
}
static int vocab_size(Model *m) { return m->config.vocab_size; }
static int seq_len(Model *m) { return m->config.seq_len; }
/* tokens[0] = BOS, then the text's tokens (bpe_encode adds the dummy-prefix space itself). */
static void tokenize(Model *m, char *text, int *tokens, int *n) {
    bpe_encode(text, m->vocab, m->scores, m->config.vocab_size, m->max_len, tokens + 1, n);
    tokens[0] = 1;
    (*n)++;
}
static float *logits_at(Model *m, int token, int pos) {
    transformer(token, pos, &m->config, &m->state, &m->weights);
    return m->state.logits;
}
#elif HEADSHARE_L2C_API == 2
/* run.c with Transformer/Tokenizer objects. */
typedef struct { Transformer transformer; Tokenizer tokenizer; } Model;
static void load(Model *m, const char *checkpoint, const char *tokenizer) {
    build_transformer(&m->transformer, (char *)checkpoint);
    build_tokenizer(&m->tokenizer, (char *)tokenizer, m->transformer.config.vocab_size);
}
static int vocab_size(Model *m) { return m->transformer.config.vocab_size; }
static int seq_len(Model *m) { return m->transformer.config.seq_len; }
static void tokenize(Model *m, char *text, int *tokens, int *n) { encode(&m->tokenizer, text, 1, 0, tokens, n); }
static float *logits_at(Model *m, int token, int pos) { return forward(&m->transformer, token, pos); }
#else
#error "define HEADSHARE_L2C_API as 1 or 2 (bench/llama2c.ts picks it from run.c)"
#endif

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int main(int argc, char *argv[]) {
    if (argc != 6) { fprintf(stderr, "usage: llama2c-score MODEL.bin TOKENIZER.bin TEXT SEP W\n"); return 2; }
    double t0 = now_seconds();
    const char *sep = argv[4];
    int window = atoi(argv[5]);
    if (sep[0] == '\0' || window < 2) { fprintf(stderr, "llama2c-score: SEP must be non-empty and W >= 2\n"); return 2; }
    Model m;
    load(&m, argv[1], argv[2]);
    if (window > seq_len(&m)) window = seq_len(&m);
    size_t size;
    char *text = read_file(argv[3], &size);
    int *tokens = malloc((size + 3) * sizeof(int));
    size_t sep_len = strlen(sep);
    double nll = 0;
    long predicted = 0;
    int documents = 0;
    char *doc = text;
    while (doc) {
        char *end = strstr(doc, sep);
        char *next = end ? end + sep_len : NULL;
        if (!end) end = doc + strlen(doc);
        while (doc < end && is_space(*doc)) doc++;
        while (end > doc && is_space(end[-1])) end--;
        if (end > doc) {
            char saved = *end;
            *end = '\0';
            int n = 0;
            tokenize(&m, doc, tokens, &n);
            *end = saved;
            if (n > window) n = window;
            for (int pos = 0; pos + 1 < n; pos++) nll += nll_of(logits_at(&m, tokens[pos], pos), vocab_size(&m), tokens[pos + 1]);
            predicted += n - 1;
            documents++;
        }
        doc = next;
    }
    printf("{\"documents\":%d,\"tokens\":%ld,\"nll\":%.9f,\"seconds\":%.6f}\n", documents, predicted, predicted ? nll / predicted : 0.0, now_seconds() - t0);
    return 0;
}
