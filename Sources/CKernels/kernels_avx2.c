// AVX2 + FMA + F16C kernels (x86-64 only). Compiled for that ISA with a target attribute, so
// the rest of the binary stays baseline x86-64.
#if defined(__x86_64__)
#include "kernels.h"
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define KSUFFIX(name) KSUFFIX_(name) // two steps: a name built by a macro expands first
#define KSUFFIX_(name) avx2_##name
#include "loops.inc"

static inline __m256 load_bf16x8(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static void avx2_bf16_to_f32(const uint16_t *s, float *d, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, load_bf16x8(s + i));
    for (; i < n; i++) d[i] = omni_bf16_bits_to_f32(s[i]);
}

static void avx2_f32_to_bf16(const float *s, uint16_t *d, size_t n) {
    size_t i = 0;
    const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1), qnan = _mm256_set1_epi32(0x7FC0);
    for (; i + 8 <= n; i += 8) {
        __m256 f = _mm256_loadu_ps(s + i);
        __m256i u = _mm256_castps_si256(f);
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_srli_epi32(r, 16);
        __m256i isnan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
        r = _mm256_blendv_epi8(r, qnan, isnan);
        __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(d + i), packed);
    }
    for (; i < n; i++) d[i] = omni_f32_to_bf16_bits(s[i]);
}

static void avx2_f16_to_f32(const uint16_t *s, float *d, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, load_f16x8(s + i));
    for (; i < n; i++) d[i] = omni_f16_bits_to_f32(s[i]);
}

static void avx2_f32_to_f16(const float *s, uint16_t *d, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) d[i] = omni_f32_to_f16_bits(s[i]);
}

static float avx2_dot_f32(const float *a, const float *b, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static float avx2_dot_half(const uint16_t *w, int dt, const float *x, size_t k) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    if (dt == OMNI_DT_BF16) {
        for (; i + 32 <= k; i += 32) {
            a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(load_bf16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(load_bf16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
        }
        for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
    } else {
        for (; i + 32 <= k; i += 32) {
            a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(load_f16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(load_f16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(load_f16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
        }
        for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
    }
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < k; i++)
        s += (dt == OMNI_DT_BF16 ? omni_bf16_bits_to_f32(w[i]) : omni_f16_bits_to_f32(w[i])) * x[i];
    return s;
}

static void avx2_gemv(const void *w, int dt, size_t ldw, const float *x, float *y, size_t rows, size_t k) {
    if (dt == OMNI_DT_F32) {
        for (size_t r = 0; r < rows; r++) y[r] = avx2_dot_f32((const float *)w + r * ldw, x, k);
    } else {
        for (size_t r = 0; r < rows; r++) y[r] = avx2_dot_half((const uint16_t *)w + r * ldw, dt, x, k);
    }
}

static void avx2_gemm_small(const void *w, int dt, size_t ldw, const float *x, size_t ldx, float *y, size_t ldy,
                            size_t m, size_t rows, size_t k) {
    const size_t es = dt == OMNI_DT_F32 ? 4 : 2;
    // Row by row of W so each weight row is read from memory once and from L1 for every x row.
    for (size_t r = 0; r < rows; r++) {
        const void *wr = (const char *)w + r * ldw * es;
        for (size_t i = 0; i < m; i++)
            y[i * ldy + r] = dt == OMNI_DT_F32 ? avx2_dot_f32((const float *)wr, x + i * ldx, k)
                                              : avx2_dot_half((const uint16_t *)wr, dt, x + i * ldx, k);
    }
}

static double avx2_sumsq_f32(const float *x, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(a0, a1));
    double s = 0;
    for (int j = 0; j < 8; j++) s += lanes[j];
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

const omni_kernel_table omni_avx2_kernels = {
    .bf16_to_f32 = avx2_bf16_to_f32,
    .f32_to_bf16 = avx2_f32_to_bf16,
    .f16_to_f32 = avx2_f16_to_f32,
    .f32_to_f16 = avx2_f32_to_f16,
    .dot_f32 = avx2_dot_f32,
    .gemv = avx2_gemv,
    .gemm_small = avx2_gemm_small,
    .sumsq_f32 = avx2_sumsq_f32,
    .binary_f32 = avx2_binary_f32,
    .unary_f32 = avx2_unary_f32,
    .axpy_f32 = avx2_axpy_f32,
    .silu_mul_f32 = avx2_silu_mul_f32,
    .scale_f32 = avx2_scale_f32,
    .softmax_f32 = avx2_softmax_f32,
    .paged_attention_bf16 = avx2_paged_attention_bf16,
    .paged_attention_f32 = avx2_paged_attention_f32,
};

#pragma clang attribute pop
#endif
