// Portable C kernels: the reference level every other level must agree with.
#include "kernels.h"

#define KSUFFIX(name) KSUFFIX_(name) // two steps: a name built by a macro expands first
#define KSUFFIX_(name) portable_##name
#include "loops.inc"

static void portable_bf16_to_f32(const uint16_t *s, float *d, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = omni_bf16_bits_to_f32(s[i]);
}
static void portable_f32_to_bf16(const float *s, uint16_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = omni_f32_to_bf16_bits(s[i]);
}
static void portable_f16_to_f32(const uint16_t *s, float *d, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = omni_f16_bits_to_f32(s[i]);
}
static void portable_f32_to_f16(const float *s, uint16_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = omni_f32_to_f16_bits(s[i]);
}

static float portable_dot_f32(const float *a, const float *b, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static float portable_dot_row(const void *w, int dt, const float *x, size_t k) {
    if (dt == OMNI_DT_F32) return portable_dot_f32((const float *)w, x, k);
    const uint16_t *h = (const uint16_t *)w;
    float acc[8] = {0};
    size_t i = 0;
    if (dt == OMNI_DT_BF16) {
        for (; i + 8 <= k; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += omni_bf16_bits_to_f32(h[i + j]) * x[i + j];
    } else {
        for (; i + 8 <= k; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += omni_f16_bits_to_f32(h[i + j]) * x[i + j];
    }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < k; i++)
        s += (dt == OMNI_DT_BF16 ? omni_bf16_bits_to_f32(h[i]) : omni_f16_bits_to_f32(h[i])) * x[i];
    return s;
}

static void portable_gemv(const void *w, int dt, size_t ldw, const float *x, float *y, size_t rows, size_t k) {
    const size_t es = dt == OMNI_DT_F32 ? 4 : 2;
    for (size_t r = 0; r < rows; r++) y[r] = portable_dot_row((const char *)w + r * ldw * es, dt, x, k);
}

static void portable_gemm_small(const void *w, int dt, size_t ldw, const float *x, size_t ldx, float *y, size_t ldy,
                                size_t m, size_t rows, size_t k) {
    const size_t es = dt == OMNI_DT_F32 ? 4 : 2;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < m; i++)
            y[i * ldy + r] = portable_dot_row((const char *)w + r * ldw * es, dt, x + i * ldx, k);
}

static double portable_sumsq_f32(const float *x, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j] * x[i + j];
    double s = 0;
    for (int j = 0; j < 8; j++) s += acc[j];
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

const omni_kernel_table omni_portable_kernels = {
    .bf16_to_f32 = portable_bf16_to_f32,
    .f32_to_bf16 = portable_f32_to_bf16,
    .f16_to_f32 = portable_f16_to_f32,
    .f32_to_f16 = portable_f32_to_f16,
    .dot_f32 = portable_dot_f32,
    .gemv = portable_gemv,
    .gemm_small = portable_gemm_small,
    .sumsq_f32 = portable_sumsq_f32,
    .binary_f32 = portable_binary_f32,
    .unary_f32 = portable_unary_f32,
    .axpy_f32 = portable_axpy_f32,
    .silu_mul_f32 = portable_silu_mul_f32,
    .scale_f32 = portable_scale_f32,
    .softmax_f32 = portable_softmax_f32,
    .paged_attention_bf16 = portable_paged_attention_bf16,
    .paged_attention_f32 = portable_paged_attention_f32,
};
