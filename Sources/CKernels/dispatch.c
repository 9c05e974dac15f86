// Run-time ISA selection and the public entry points of ckernels.h.
#include "kernels.h"
#include <stdlib.h>
#include <strings.h>
#include <math.h>
#if defined(__linux__)
#include <malloc.h>
#endif

static int detect(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return OMNI_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return OMNI_ISA_AVX2;
#endif
    return OMNI_ISA_PORTABLE;
}

static int g_detected = -1;
static int g_active = -1;
static const omni_kernel_table *g_table = 0;

static const omni_kernel_table *table_for(int level) {
#if defined(__x86_64__)
    if (level == OMNI_ISA_AVX512) return &omni_avx512_kernels;
    if (level == OMNI_ISA_AVX2) return &omni_avx2_kernels;
#endif
    (void)level;
    return &omni_portable_kernels;
}

static void init_once(void) {
    if (__atomic_load_n(&g_table, __ATOMIC_ACQUIRE)) return;
    int d = detect();
    int level = d;
    const char *env = getenv("OMNI_CPU_ISA");
    if (env) {
        if (!strcasecmp(env, "portable")) level = OMNI_ISA_PORTABLE;
        else if (!strcasecmp(env, "avx2")) level = OMNI_ISA_AVX2;
        else if (!strcasecmp(env, "avx512")) level = OMNI_ISA_AVX512;
        if (level > d) level = d;
    }
    __atomic_store_n(&g_detected, d, __ATOMIC_RELEASE);
    __atomic_store_n(&g_active, level, __ATOMIC_RELEASE);
    __atomic_store_n(&g_table, table_for(level), __ATOMIC_RELEASE);
}

/* The calling thread's own level, when set (omni_isa_set_thread). */
static __thread const omni_kernel_table *t_table = 0;
static __thread int t_level = -1;

static inline const omni_kernel_table *K(void) {
    if (__builtin_expect(t_table != 0, 0)) return t_table;
    const omni_kernel_table *t = __atomic_load_n(&g_table, __ATOMIC_ACQUIRE);
    if (__builtin_expect(t != 0, 1)) return t;
    init_once();
    return g_table;
}

int omni_isa_detected(void) { K(); return g_detected; }
int omni_isa_active(void) { K(); return t_table ? t_level : g_active; }
int omni_isa_set(int level) {
    K();
    if (level < 0) level = 0;
    if (level > g_detected) level = g_detected;
    __atomic_store_n(&g_active, level, __ATOMIC_RELEASE);
    __atomic_store_n(&g_table, table_for(level), __ATOMIC_RELEASE);
    return level;
}
int omni_isa_set_thread(int level) {
    K();
    if (level < 0) {
        t_table = 0;
        t_level = -1;
        return -1;
    }
    if (level > g_detected) level = g_detected;
    t_level = level;
    t_table = table_for(level);
    return level;
}
void omni_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int ab_variant = 0;
int omni_ab_variant(void) { return __atomic_load_n(&ab_variant, __ATOMIC_RELAXED); }
void omni_ab_set_variant(int variant) { __atomic_store_n(&ab_variant, variant, __ATOMIC_RELAXED); }

void omni_prefetch_read(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    for (size_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 2);
}

int omni_cpu_has_avx512bf16(void) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

void omni_bf16_to_f32(const uint16_t *s, float *d, size_t n) { K()->bf16_to_f32(s, d, n); }
void omni_f32_to_bf16(const float *s, uint16_t *d, size_t n) { K()->f32_to_bf16(s, d, n); }
void omni_f16_to_f32(const uint16_t *s, float *d, size_t n) { K()->f16_to_f32(s, d, n); }
void omni_f32_to_f16(const float *s, uint16_t *d, size_t n) { K()->f32_to_f16(s, d, n); }
void omni_to_f32(const void *src, int dtype, float *dst, size_t n) {
    switch (dtype) {
    case OMNI_DT_BF16: K()->bf16_to_f32((const uint16_t *)src, dst, n); return;
    case OMNI_DT_F16: K()->f16_to_f32((const uint16_t *)src, dst, n); return;
    default: if (dst != src) memmove(dst, src, n * sizeof(float)); return;
    }
}
float omni_dot_f32(const float *a, const float *b, size_t n) { return K()->dot_f32(a, b, n); }
void omni_gemv(const void *w, int dt, size_t ldw, const float *x, float *y, size_t rows, size_t k) {
    K()->gemv(w, dt, ldw, x, y, rows, k);
}
void omni_gemm_small(const void *w, int dt, size_t ldw, const float *x, size_t ldx, float *y, size_t ldy,
                     size_t m, size_t rows, size_t k) {
    K()->gemm_small(w, dt, ldw, x, ldx, y, ldy, m, rows, k);
}
double omni_sumsq_f32(const float *x, size_t n) { return K()->sumsq_f32(x, n); }
void omni_binary_f32(int op, const float *a, const float *b, size_t bs, float *o, size_t n) { K()->binary_f32(op, a, b, bs, o, n); }
void omni_unary_f32(int op, const float *x, float *o, size_t n) { K()->unary_f32(op, x, o, n); }
void omni_axpy_f32(float a, const float *x, float *y, size_t n) { K()->axpy_f32(a, x, y, n); }
void omni_silu_mul_f32(const float *g, const float *u, float *o, size_t n) { K()->silu_mul_f32(g, u, o, n); }
void omni_scale_f32(float *x, float s, size_t n) { K()->scale_f32(x, s, n); }
void omni_softmax_f32(float *x, size_t n) { K()->softmax_f32(x, n); }
void omni_paged_attention_f32(size_t rows, const float *const *q, float *const *out, const size_t *visible,
                              const float *keys, size_t kstride, const float *values, size_t vstride,
                              const int32_t *table, size_t block, size_t head_dim, size_t value_dim, float scale,
                              float *scratch) {
    K()->paged_attention_f32(rows, q, out, visible, keys, kstride, values, vstride, table, block, head_dim, value_dim,
                             scale, scratch);
}
void omni_paged_attention_bf16(size_t rows, const float *const *q, float *const *out, const size_t *visible,
                               const uint16_t *keys, size_t kstride, const uint16_t *values, size_t vstride,
                               const int32_t *table, size_t block, size_t head_dim, size_t value_dim, float scale,
                               float *scratch) {
    K()->paged_attention_bf16(rows, q, out, visible, keys, kstride, values, vstride, table, block, head_dim, value_dim,
                              scale, scratch);
}

size_t omni_paged_attention_scratch(size_t max_visible, size_t head_dim) { // groups of up to 64 rows share it
    const size_t jpad = (max_visible + 7) / 8 * 8; // scores in blocks of up to 8 keys
    return jpad * 64 + head_dim * 64 + 2 * max_visible * (sizeof(float *) / sizeof(float));
}

// The bandwidth probe uses 256-bit loads where available: on the CPUs measured here (Zen 4)
// they read faster than 512-bit ones, and the probe must find the roof, not one ISA's rate.
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static uint64_t read_checksum_avx2(const void *p, size_t bytes) {
    const __m256i *q = (const __m256i *)p;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t n = bytes / 32, i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(q + i));
        a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(q + i + 1));
        a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(q + i + 2));
        a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(q + i + 3));
    }
    for (; i < n; i++) a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(q + i));
    __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, a);
    return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}
#endif

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t read_streams_avx2(const void *p, size_t part, size_t streams) {
    __m256i a = _mm256_setzero_si256(), b = a;
    for (size_t i = 0; i + 64 <= part; i += 64)
        for (size_t s = 0; s < streams; s++) {
            const __m256i *q = (const __m256i *)((const char *)p + s * part + i);
            a = _mm256_xor_si256(a, _mm256_loadu_si256(q));
            b = _mm256_xor_si256(b, _mm256_loadu_si256(q + 1));
        }
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, _mm256_xor_si256(a, b));
    return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}
#endif

uint64_t omni_read_checksum_streams(const void *p, size_t bytes, size_t streams) {
    const size_t part = bytes / (streams ? streams : 1) / 64 * 64;
    if (streams <= 1 || part == 0) return omni_read_checksum(p, bytes);
#if defined(__x86_64__)
    if (omni_isa_active() >= OMNI_ISA_AVX2) return read_streams_avx2(p, part, streams);
#endif
    uint64_t a = 0, b = 0;
    for (size_t i = 0; i < part; i += 64)
        for (size_t s = 0; s < streams; s++) {
            const uint64_t *q = (const uint64_t *)((const char *)p + s * part + i);
            a ^= q[0] ^ q[2] ^ q[4] ^ q[6];
            b ^= q[1] ^ q[3] ^ q[5] ^ q[7];
        }
    return a ^ b;
}

uint64_t omni_read_checksum(const void *p, size_t bytes) {
#if defined(__x86_64__)
    if (omni_isa_active() >= OMNI_ISA_AVX2) return read_checksum_avx2(p, bytes);
#endif
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t n = bytes / 8, i = 0;
    for (; i + 4 <= n; i += 4) { a0 ^= q[i]; a1 ^= q[i + 1]; a2 ^= q[i + 2]; a3 ^= q[i + 3]; }
    for (; i < n; i++) a0 ^= q[i];
    return a0 ^ a1 ^ a2 ^ a3;
}

void omni_rmsnorm_f32(const float *x, const void *w, int wdtype, float *out, size_t n, float eps) {
    const omni_kernel_table *k = K();
    // torch: x * rsqrt(mean(x^2) + eps), all in f32
    const float inv = 1.0f / sqrtf((float)(k->sumsq_f32(x, n) / (double)n) + eps);
    if (!w) { for (size_t i = 0; i < n; i++) out[i] = x[i] * inv; return; }
    if (wdtype == OMNI_DT_F32) {
        const float *wf = (const float *)w;
        for (size_t i = 0; i < n; i++) out[i] = wf[i] * (x[i] * inv);
    } else {
        const uint16_t *h = (const uint16_t *)w;
        for (size_t i = 0; i < n; i++)
            out[i] = (wdtype == OMNI_DT_BF16 ? omni_bf16_bits_to_f32(h[i]) : omni_f16_bits_to_f32(h[i])) * (x[i] * inv);
    }
}

void omni_keep_freed_memory(size_t bytes) {
#if defined(__linux__)
    // glibc serves blocks above its mmap threshold (at most 32 MB, adjusted dynamically) with
    // fresh mappings and unmaps them on free, so every step's large activations (a prefill
    // chunk's FFN, a batch's logits) page-faulted and were zeroed by the kernel again.
    // One arena: a thread's own arena grows in heaps of at most 64 MB, so larger blocks asked for
    // on the engine's thread were mapped afresh whatever the threshold; the main arena has no
    // such limit. (Most small allocations never reach an arena: glibc's per-thread cache.)
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, (int)bytes);
    mallopt(M_TRIM_THRESHOLD, (int)(2 * bytes));
#else
    (void)bytes;
#endif
}
