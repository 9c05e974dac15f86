// bf16 GEMM on 2 threads: our AVX512-BF16 kernel (split as CPUBackend.bf16GEMM splits it) against
// oneDNN's bf16 GEMM, oneDNN's matmul primitive on weights reordered once to its blocked layout,
// and OpenBLAS SGEMM on f32 (the f32 reference rate). out[M][N] = x[M][K] * w[N][K]^T, the weights
// bf16 [N][K] row-major as HF checkpoints store them, the activations f32 as the engine holds them.
// Every bf16 path's time includes rounding the f32 activations to bf16, as the engine pays it.
#include <ckernels.h>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// Exported by libdnnl but declared only in its tests' headers; row-major like dnnl_sgemm.
dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                    float alpha, const uint16_t *A, dnnl_dim_t lda, const uint16_t *B,
                                    dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc);
// libgomp, which Debian's libdnnl runs its threads on (DNNL_CPU_RUNTIME == OMP).
void omp_set_num_threads(int);
int omp_get_max_threads(void);

enum { THREADS = 2, CHUNKS_PER_THREAD = 4, PACK_ROW_LIMIT = 128, REPS = 5 };

typedef struct { const char *group; size_t m, n, k; } Shape;

static const Shape shapes[] = {
    {"prefill", 512, 1152, 896}, {"prefill", 512, 896, 896}, {"prefill", 512, 9728, 896}, {"prefill", 512, 896, 4864},
    {"decode-batch", 64, 1152, 896}, {"decode-batch", 64, 896, 896}, {"decode-batch", 64, 9728, 896},
    {"decode-batch", 64, 896, 4864},
    {"dit", 1152, 11520, 3840}, {"dit", 1152, 3840, 3840}, {"dit", 1152, 20480, 3840}, {"dit", 1152, 3840, 10240},
    {"square", 1024, 1024, 1024},
    {"few-rows", 1, 1152, 896}, {"few-rows", 1, 9728, 896}, {"few-rows", 1, 896, 4864}, {"few-rows", 8, 1152, 896},
    {"few-rows", 8, 9728, 896}, {"few-rows", 16, 9728, 896}, {"few-rows", 32, 9728, 896}, {"few-rows", 32, 896, 4864},
};

// ---- a 2-thread pool like the engine's ThreadPool.parallelFor: chunks claimed through a counter ----

typedef void (*RangeBody)(void *ctx, size_t lo, size_t hi);
typedef struct { RangeBody body; void *ctx; size_t count, chunk, parts; atomic_size_t next; } Loop;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_start = PTHREAD_COND_INITIALIZER, pool_done = PTHREAD_COND_INITIALIZER;
static Loop *pool_loop;
static unsigned long pool_generation;
static int pool_worker_busy;

static void run_chunks(Loop *loop) {
    for (size_t part; (part = atomic_fetch_add(&loop->next, 1)) < loop->parts;) {
        size_t lo = part * loop->chunk, hi = lo + loop->chunk < loop->count ? lo + loop->chunk : loop->count;
        if (lo < hi) loop->body(loop->ctx, lo, hi);
    }
}

static void *pool_worker(void *unused) {
    (void)unused;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool_lock);
        while (pool_generation == seen) pthread_cond_wait(&pool_start, &pool_lock);
        seen = pool_generation;
        Loop *loop = pool_loop;
        pthread_mutex_unlock(&pool_lock);
        run_chunks(loop);
        pthread_mutex_lock(&pool_lock);
        pool_worker_busy = 0;
        pthread_cond_signal(&pool_done);
        pthread_mutex_unlock(&pool_lock);
    }
    return NULL;
}

/// body over 0..<count in min(THREADS * CHUNKS_PER_THREAD, count / grain) chunks, as parallelFor does.
static void parallel_for(size_t count, size_t grain, RangeBody body, void *ctx) {
    size_t parts = count / (grain ? grain : 1);
    if (parts < 1) parts = 1;
    if (parts > THREADS * CHUNKS_PER_THREAD) parts = THREADS * CHUNKS_PER_THREAD;
    if (parts == 1) { body(ctx, 0, count); return; }
    Loop loop = {body, ctx, count, (count + parts - 1) / parts, parts, 0};
    pthread_mutex_lock(&pool_lock);
    pool_loop = &loop;
    pool_worker_busy = 1;
    pool_generation++;
    pthread_cond_signal(&pool_start);
    pthread_mutex_unlock(&pool_lock);
    run_chunks(&loop);
    pthread_mutex_lock(&pool_lock);
    while (pool_worker_busy) pthread_cond_wait(&pool_done, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
}

// ---- the products ----

typedef struct {
    size_t m, n, k, kp;
    const float *x;      // [m][k] f32 activations
    const uint16_t *w;   // [n][k] bf16 weights
    const float *wf;     // [n][k] the same weights widened to f32, for SGEMM
    uint16_t *xb;        // [m][k] bf16 activations for oneDNN
    float *out;          // [m][n]
    uint16_t *a;         // our packed activations, during one call (AVX512-BF16)
    float *xs;           // our split activations, during one call (AVX2 and portable)
    uint16_t *packed;    // the weights packed once (omni_pack_b_bf16_rows), outside the timing
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t matmul;
    dnnl_memory_t src_mem, weights_mem, dst_mem;
} Problem;

static void pack_rows(void *ctx, size_t lo, size_t hi) {
    Problem *p = ctx;
    omni_pack_a_bf16(p->x + lo * p->k, p->k, hi - lo, p->k, p->a + lo * p->kp, p->kp);
}

static void split_rows(void *ctx, size_t lo, size_t hi) {
    Problem *p = ctx;
    omni_split_activations(p->x, p->k, p->m, p->k, 1, lo, hi, p->xs);
}

static void packed_tiles(void *ctx, size_t lo, size_t hi) {
    Problem *p = ctx;
    if (p->xs) omni_gemm_split_packed(p->xs, p->m, p->k, p->packed, p->n, lo, hi, p->out, p->n);
    else omni_gemm_bf16_packed(p->a, p->m, p->kp, p->packed, p->n, lo, hi, p->out, p->n);
}

static void gemm_tiles(void *ctx, size_t lo, size_t hi) {
    Problem *p = ctx;
    size_t n0 = lo * 32, n1 = hi * 32 < p->n ? hi * 32 : p->n;
    uint16_t *scratch = malloc(omni_gemm_bf16_scratch(p->k) * sizeof(uint16_t));
    if (p->xs) omni_gemm_split(p->xs, p->m, p->k, p->w, p->k, n0, n1, p->out, p->n, scratch);
    else omni_gemm_bf16(p->a, p->m, p->kp, p->k, p->w, p->k, n0, n1, p->out, p->n, scratch);
    free(scratch);
}

/// CPUBackend.bf16GEMM in bf16 mode: the activations rounded to bf16 once (rows split across
/// threads): packed as bf16 pairs for AVX512-BF16, else split into even and odd f32 elements for
/// the AVX2 / portable kernels; then for M <= 128 the weights packed once (outside the timing, as
/// the engine keeps them), else tiles of 32 weight rows packed per call by each thread; `tiled`
/// packs per call at any M.
static void ours(Problem *p, int tiled) {
    p->a = NULL;
    p->xs = NULL;
    if (omni_gemm_bf16_native() == 2) {
        size_t padded = (p->m + 7) / 8 * 8;
        p->a = malloc(padded * p->kp * sizeof(uint16_t));
        memset(p->a + p->m * p->kp, 0, (padded - p->m) * p->kp * sizeof(uint16_t));
        parallel_for(p->m, 8, pack_rows, p);
    } else {
        p->xs = malloc(omni_split_count(p->m, p->k) * sizeof(float));
        parallel_for((p->m + 3) / 4 * 4, 8, split_rows, p);
    }
    if (!tiled && p->m <= PACK_ROW_LIMIT)
        parallel_for((p->n + 31) / 32, 1, packed_tiles, p);
    else
        parallel_for((p->n + 31) / 32, 1, gemm_tiles, p);
    free(p->a);
    free(p->xs);
}
static void ours_engine(Problem *p) { ours(p, 0); }
static void ours_tiled(Problem *p) { ours(p, 1); }

static void round_rows(void *ctx, size_t lo, size_t hi) {
    Problem *p = ctx;
    omni_f32_to_bf16(p->x + lo * p->k, p->xb + lo * p->k, (hi - lo) * p->k);
}

static void check(dnnl_status_t status, const char *what) {
    if (status != dnnl_success) { fprintf(stderr, "%s failed: status %d\n", what, (int)status); exit(1); }
}

static void onednn_gemm(Problem *p) {
    parallel_for(p->m, 8, round_rows, p);
    check(dnnl_gemm_bf16bf16f32('N', 'T', p->m, p->n, p->k, 1, p->xb, p->k, p->w, p->k, 0, p->out, p->n),
          "dnnl_gemm_bf16bf16f32");
}

static void onednn_matmul(Problem *p) {
    parallel_for(p->m, 8, round_rows, p);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p->src_mem}, {DNNL_ARG_WEIGHTS, p->weights_mem}, {DNNL_ARG_DST, p->dst_mem}};
    check(dnnl_primitive_execute(p->matmul, p->stream, 3, args), "matmul execute");
    check(dnnl_stream_wait(p->stream), "stream wait");
}

static void openblas_sgemm(Problem *p) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->m, (int)p->n, (int)p->k, 1, p->x, (int)p->k,
                p->wf, (int)p->k, 0, p->out, (int)p->n);
}

/// The matmul primitive with weights format `any`, and the [N][K] weights reordered into the layout
/// it chose, once, as torch's CPU bf16 linear does with prepacked weights. Returns its impl name, or
/// NULL where this oneDNN has no bf16 matmul for the CPU (2.6 without AVX-512: dnnl_unimplemented).
static const char *make_matmul(Problem *p) {
    dnnl_memory_desc_t src_md, any_md, plain_md, dst_md;
    dnnl_dims_t src_dims = {(dnnl_dim_t)p->m, (dnnl_dim_t)p->k}, w_dims = {(dnnl_dim_t)p->k, (dnnl_dim_t)p->n},
                dst_dims = {(dnnl_dim_t)p->m, (dnnl_dim_t)p->n};
    check(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_bf16, dnnl_ab), "src md");
    check(dnnl_memory_desc_init_by_tag(&any_md, 2, w_dims, dnnl_bf16, dnnl_format_tag_any), "weights md");
    check(dnnl_memory_desc_init_by_tag(&plain_md, 2, w_dims, dnnl_bf16, dnnl_ba), "plain weights md"); // [N][K]
    check(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab), "dst md");
    dnnl_matmul_desc_t desc;
    check(dnnl_matmul_desc_init(&desc, &src_md, &any_md, NULL, &dst_md), "matmul desc");
    dnnl_primitive_desc_t pd;
    const dnnl_status_t made = dnnl_primitive_desc_create(&pd, &desc, NULL, p->engine, NULL);
    if (made == dnnl_unimplemented) return NULL;
    check(made, "matmul pd");
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    check(dnnl_primitive_create(&p->matmul, pd), "matmul");

    dnnl_memory_t plain;
    check(dnnl_memory_create(&plain, &plain_md, p->engine, (void *)p->w), "plain weights");
    check(dnnl_memory_create(&p->weights_mem, chosen, p->engine, DNNL_MEMORY_ALLOCATE), "blocked weights");
    check(dnnl_memory_create(&p->src_mem, &src_md, p->engine, p->xb), "src");
    check(dnnl_memory_create(&p->dst_mem, &dst_md, p->engine, p->out), "dst");
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    check(dnnl_reorder_primitive_desc_create(&rpd, &plain_md, p->engine, chosen, p->engine, NULL), "reorder pd");
    check(dnnl_primitive_create(&reorder, rpd), "reorder");
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, p->weights_mem}};
    check(dnnl_primitive_execute(reorder, p->stream, 2, args), "reorder execute");
    check(dnnl_stream_wait(p->stream), "stream wait");
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(plain);

    const char *info = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info);
    static char name[64];
    snprintf(name, sizeof name, "%s", info ? info : "?");
    dnnl_primitive_desc_destroy(pd);
    return name;
}

static void free_matmul(Problem *p) {
    if (!p->matmul) return;
    dnnl_primitive_destroy(p->matmul);
    dnnl_memory_destroy(p->weights_mem);
    dnnl_memory_destroy(p->src_mem);
    dnnl_memory_destroy(p->dst_mem);
}

// ---- measuring ----

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { void (*product)(Problem *); float *out; double best, seconds[REPS]; } Method;

/// Times every method once per round, the methods one after another within a round, so that load
/// from other work on the shared host falls on all of them rather than on whichever ran then.
/// One warm-up round first; keeps each method's best time and each round's times.
static void measure(Problem *p, Method *methods, int count) {
    for (int i = 0; i < count; i++) {
        methods[i].best = INFINITY;
        if (methods[i].product) { p->out = methods[i].out; methods[i].product(p); }
    }
    for (int r = 0; r < REPS; r++) {
        for (int i = 0; i < count; i++) {
            if (!methods[i].product) { methods[i].seconds[r] = NAN; continue; } // not available here
            // libgomp's idle threads spin for a few ms after oneDNN returns (OpenBLAS's are told not
            // to by run.sh): let them sleep so they do not take a core from the next method.
            usleep(5000);
            p->out = methods[i].out;
            double t0 = now();
            methods[i].product(p);
            double t = now() - t0;
            methods[i].seconds[r] = t;
            if (t < methods[i].best) methods[i].best = t;
        }
    }
}

static double gflops(const Problem *p, double seconds) { return 2.0 * p->m * p->n * p->k / seconds * 1e-9; }

/// Median over rounds of a's time over b's: b's speed relative to a's, measured side by side.
static double median_ratio(const Method *a, const Method *b) {
    double r[REPS];
    for (int i = 0; i < REPS; i++) r[i] = a->seconds[i] / b->seconds[i];
    for (int i = 1; i < REPS; i++)
        for (int j = i; j > 0 && r[j] < r[j - 1]; j--) { double t = r[j]; r[j] = r[j - 1]; r[j - 1] = t; }
    return r[REPS / 2];
}

static double max_abs(const float *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d / max_abs(b, n);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform(void) { // in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (2.0 / (1ull << 24)) - 1.0);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL; // a group name: run only its shapes
    pthread_t worker;
    pthread_create(&worker, NULL, pool_worker, NULL);
    omp_set_num_threads(THREADS);
    openblas_set_num_threads(THREADS);
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d (cpu runtime %s, %d OpenMP threads); OpenBLAS %s (%d threads); "
           "our kernels: %s\n",
           v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other",
           omp_get_max_threads(), openblas_get_config(), openblas_get_num_threads(),
           (const char *[]){"portable C", "AVX2 + FMA", "AVX512-BF16"}[omni_gemm_bf16_native()]);
    printf("GFLOP/s, best of %d rounds after a warm-up round; 2 threads each.\n"
           "ours = engine path (weights packed once for M <= %d), tiled = weights packed per call at any M;\n"
           "dnnl-gemm = dnnl_gemm_bf16bf16f32 on [N][K] weights as stored; dnnl-matmul = matmul "
           "primitive, weights reordered once; sgemm = OpenBLAS f32.\n"
           "Methods run in turn within each round; ratios of best rates, and medians over rounds of the per-round ratio\n"
           "(med); > 1: ours faster. err = max|ours - dnnl| / max|dnnl| (gemm, matmul).\n"
           "OpenBLAS cblas_sbgemm: not measured, this libopenblas does not export it (built without BUILD_BFLOAT16).\n\n",
           REPS, PACK_ROW_LIMIT);
    printf("%-12s %5s %6s %6s | %7s %7s %9s %11s %7s | %9s %11s %7s | %10s %7s | %8s %8s | %s\n", "group", "M", "N",
           "K", "ours", "tiled", "dnnl-gemm", "dnnl-matmul", "sgemm", "ours/gemm", "ours/matmul", "ours/sg",
           "med o/gemm", "med o/mm", "err-gemm", "err-mm", "matmul impl");

    // oneDNN 2.6 has no bf16 GEMM or matmul without AVX-512 (dnnl_unimplemented): those columns
    // are then nan, and ours is compared with OpenBLAS's f32 SGEMM alone.
    uint16_t one_a[2] = {0x3F80, 0}, one_b[2] = {0x3F80, 0};
    float one_c = 0;
    const int has_gemm = dnnl_gemm_bf16bf16f32('N', 'T', 1, 1, 2, 1, one_a, 2, one_b, 2, 0, &one_c, 1) == dnnl_success;
    if (!has_gemm) printf("dnnl_gemm_bf16bf16f32: unimplemented on this CPU\n");
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine");
    check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream");

    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const Shape sh = shapes[s];
        if (only && strcmp(only, sh.group) != 0) continue;
        Problem p = {.m = sh.m, .n = sh.n, .k = sh.k, .kp = (sh.k + 1) & ~(size_t)1, .engine = engine, .stream = stream};
        float *x = malloc(sh.m * sh.k * sizeof(float)), *wf = malloc(sh.n * sh.k * sizeof(float));
        uint16_t *w = malloc(sh.n * sh.k * sizeof(uint16_t)), *xb = malloc(sh.m * sh.k * sizeof(uint16_t));
        float *out_ours = malloc(sh.m * sh.n * sizeof(float)), *out_gemm = malloc(sh.m * sh.n * sizeof(float));
        float *out_mm = malloc(sh.m * sh.n * sizeof(float)), *out_other = malloc(sh.m * sh.n * sizeof(float));
        float *out_tiled = malloc(sh.m * sh.n * sizeof(float));
        for (size_t i = 0; i < sh.m * sh.k; i++) x[i] = uniform();
        for (size_t i = 0; i < sh.n * sh.k; i++) wf[i] = uniform();
        omni_f32_to_bf16(wf, w, sh.n * sh.k);
        omni_bf16_to_f32(w, wf, sh.n * sh.k); // SGEMM multiplies the same weight values
        p.x = x; p.w = w; p.wf = wf; p.xb = xb;
        p.packed = malloc(omni_gemm_bf16_packed_count(sh.n, sh.k) * sizeof(uint16_t));
        const uint16_t **wrows = malloc(sh.n * sizeof *wrows);
        for (size_t i = 0; i < sh.n; i++) wrows[i] = w + i * sh.k;
        omni_pack_b_bf16_rows(wrows, sh.n, sh.k, 0, (sh.n + 31) / 32, p.packed);
        free(wrows);

        p.out = out_mm; // the matmul's dst memory is bound to it
        const char *impl = make_matmul(&p);
        enum { OURS, GEMM, MATMUL, SGEMM, TILED };
        Method methods[] = {
            {.product = ours_engine, .out = out_ours}, {.product = has_gemm ? onednn_gemm : NULL, .out = out_gemm},
            {.product = impl ? onednn_matmul : NULL, .out = out_mm}, {.product = openblas_sgemm, .out = out_other},
            {.product = ours_tiled, .out = out_tiled},
        };
        if (!impl) impl = "none: this oneDNN has no bf16 matmul for this CPU";
        measure(&p, methods, 5);
        free_matmul(&p);
        double r_ours = gflops(&p, methods[OURS].best), r_gemm = has_gemm ? gflops(&p, methods[GEMM].best) : NAN;
        const int has_mm = methods[MATMUL].product != NULL; // nan in its columns where it is missing
        double r_mm = has_mm ? gflops(&p, methods[MATMUL].best) : NAN, r_sg = gflops(&p, methods[SGEMM].best);
        double r_tiled = gflops(&p, methods[TILED].best);

        size_t count = sh.m * sh.n;
        char tiled[16] = "-";
        if (!isnan(r_tiled)) snprintf(tiled, sizeof tiled, "%.1f", r_tiled);
        printf("%-12s %5zu %6zu %6zu | %7.1f %7s %9.1f %11.1f %7.1f | %9.2f %11.2f %7.2f | %10.2f %7.2f | %8.1e %8.1e "
               "| %s\n",
               sh.group, sh.m, sh.n, sh.k, r_ours, tiled, r_gemm, r_mm, r_sg, r_ours / r_gemm, r_ours / r_mm,
               r_ours / r_sg, has_gemm ? median_ratio(&methods[GEMM], &methods[OURS]) : NAN, has_mm ? median_ratio(&methods[MATMUL], &methods[OURS]) : NAN,
               has_gemm ? rel_diff(out_ours, out_gemm, count) : NAN, has_mm ? rel_diff(out_ours, out_mm, count) : NAN, impl);
        fflush(stdout);
        free(x); free(wf); free(w); free(xb); free(out_ours); free(out_gemm); free(out_mm); free(out_other); free(out_tiled); free(p.packed);
    }
    return 0;
}
