// Internal: the per-ISA kernel table and scalar conversions shared by all levels.
#ifndef OMNI_KERNELS_INTERNAL_H
#define OMNI_KERNELS_INTERNAL_H

#include "include/ckernels.h"
#include <string.h>

typedef struct {
    void (*bf16_to_f32)(const uint16_t *, float *, size_t);
    void (*f32_to_bf16)(const float *, uint16_t *, size_t);
    void (*f16_to_f32)(const uint16_t *, float *, size_t);
    void (*f32_to_f16)(const float *, uint16_t *, size_t);
    float (*dot_f32)(const float *, const float *, size_t);
    void (*gemv)(const void *, int, size_t, const float *, float *, size_t, size_t);
    void (*gemm_small)(const void *, int, size_t, const float *, size_t, float *, size_t, size_t, size_t, size_t);
    double (*sumsq_f32)(const float *, size_t);
    void (*binary_f32)(int, const float *, const float *, size_t, float *, size_t);
    void (*unary_f32)(int, const float *, float *, size_t);
    void (*axpy_f32)(float, const float *, float *, size_t);
    void (*silu_mul_f32)(const float *, const float *, float *, size_t);
    void (*scale_f32)(float *, float, size_t);
    void (*softmax_f32)(float *, size_t);
    /// Rows j < count of a paged cache (row j at src + slot(j) * stride, slot from the block table)
    /// widened to f32, `dim` values each, into dst[j * dim].
    void (*paged_rows_bf16_to_f32)(const uint16_t *, size_t, const int32_t *, size_t, size_t, size_t, float *);
    void (*paged_attention_f32)(size_t, const float *const *, float *const *, const size_t *, const float *, size_t,
                                const float *, size_t, const int32_t *, size_t, size_t, size_t, float, float *);
} omni_kernel_table;

extern const omni_kernel_table omni_portable_kernels;
#if defined(__x86_64__)
extern const omni_kernel_table omni_avx2_kernels;
extern const omni_kernel_table omni_avx512_kernels;
#endif

/// The cache slot of a sequence's j-th cached token, through its block table.
static inline size_t omni_paged_slot(const int32_t *table, size_t block, size_t j) {
    return (size_t)table[j / block] * block + j % block;
}
/// Prefetches the cache lines of `bytes` from `p` (`level`: __builtin_prefetch's locality, 3 = L1).
#define omni_prefetch_row(p, bytes, level)                                                          \
    do {                                                                                           \
        const char *row_ = (const char *)(p);                                                      \
        for (size_t b_ = 0; b_ < (bytes); b_ += 64) __builtin_prefetch(row_ + b_, 0, level);       \
    } while (0)
/// How many rows ahead the widening of a bf16 cache's rows asks for them (decode steps 1.7-2.7%
/// faster at 32 than at 8, 2.9-3.9% more at 96; Qwen2.5-0.5B on Zen 3, alternating every two steps).
enum { OMNI_PAGED_AHEAD = 96 };
/// How many of a sequence's cached rows (keys and values, `row_bytes` for both) attention asks for
/// before it starts on them: up to 192 KiB, well inside a 512 KiB L2 beside what the kernel works
/// on, and at least the OMNI_PAGED_AHEAD rows it starts on before it asks for rows ahead itself.
static inline size_t omni_paged_upfront_rows(size_t row_bytes) {
    const size_t cap = (192u << 10) / (row_bytes ? row_bytes : 1);
    return cap > OMNI_PAGED_AHEAD ? cap : OMNI_PAGED_AHEAD;
}

static inline float omni_bf16_bits_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// torch's c10::round_to_nearest_even: NaN becomes the canonical quiet NaN 0x7FC0.
static inline uint16_t omni_f32_to_bf16_bits(float f) {
    if (f != f) return 0x7FC0;
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float omni_f16_bits_to_f32(uint16_t h) {
    _Float16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}

static inline uint16_t omni_f32_to_f16_bits(float f) {
    _Float16 v = (_Float16)f;
    uint16_t h;
    memcpy(&h, &v, 2);
    return h;
}

#endif
