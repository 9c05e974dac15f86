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
    /// omni_paged_attention_bf16: the f32 kernel's sums over a bf16 cache, read in place.
    void (*paged_attention_bf16)(size_t, const float *const *, float *const *, const size_t *, const uint16_t *, size_t,
                                 const uint16_t *, size_t, const int32_t *, size_t, size_t, size_t, float, float *);
    void (*paged_attention_f32)(size_t, const float *const *, float *const *, const size_t *, const float *, size_t,
                                const float *, size_t, const int32_t *, size_t, size_t, size_t, float, float *);
} omni_kernel_table;

extern const omni_kernel_table omni_portable_kernels;
#if defined(__x86_64__)
extern const omni_kernel_table omni_avx2_kernels;
extern const omni_kernel_table omni_avx512_kernels;
#endif

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
