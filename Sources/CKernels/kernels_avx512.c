// AVX-512 (F, BW, VL) kernels (x86-64 only). bf16 weights are widened to f32 in registers and
// multiplied against f32 activations, so results match the f32 reference exactly as the
// portable level does; no f32 copy of a weight matrix is ever made.
#if defined(__x86_64__)
#include "kernels.h"
#include <immintrin.h>
#include <stdlib.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)

#define KSUFFIX(name) KSUFFIX_(name) // two steps: a name built by a macro expands first
#define KSUFFIX_(name) avx512_##name
#define PA_VALUE_DIMS 32 // attention outputs: 4 rows x 2 vectors of 16 in registers
#include "loops.inc"

static inline __m512 load_bf16x16(const uint16_t *p) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline __m512 load_bf16x16_mask(const uint16_t *p, __mmask16 m) {
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline __m512 load_f16x16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
static inline __m512 load_f16x16_mask(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
static inline __mmask16 tail_mask(size_t r) { return (__mmask16)((1u << r) - 1u); }

static void avx512_bf16_to_f32(const uint16_t *s, float *d, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, load_bf16x16(s + i));
    if (i < n) { __mmask16 m = tail_mask(n - i); _mm512_mask_storeu_ps(d + i, m, load_bf16x16_mask(s + i, m)); }
}

static void avx512_f32_to_bf16(const float *s, uint16_t *d, size_t n) {
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1), qnan = _mm512_set1_epi32(0x7FC0);
    size_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : tail_mask(n - i);
        __m512 f = _mm512_maskz_loadu_ps(m, s + i);
        __m512i u = _mm512_castps_si512(f);
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
        r = _mm512_srli_epi32(r, 16);
        __mmask16 isnan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
        r = _mm512_mask_mov_epi32(r, isnan, qnan);
        _mm256_mask_storeu_epi16(d + i, m, _mm512_cvtepi32_epi16(r));
    }
}

static void avx512_f16_to_f32(const uint16_t *s, float *d, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, load_f16x16(s + i));
    if (i < n) { __mmask16 m = tail_mask(n - i); _mm512_mask_storeu_ps(d + i, m, load_f16x16_mask(s + i, m)); }
}

static void avx512_f32_to_f16(const float *s, uint16_t *d, size_t n) {
    size_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : tail_mask(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(d + i, m, h);
    }
}

static float avx512_dot_f32(const float *a, const float *b, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), a0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

#define DOT_HALF(LOAD, LOADM)                                                                    \
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                 \
    size_t i = 0;                                                                                \
    for (; i + 64 <= k; i += 64) {                                                               \
        a0 = _mm512_fmadd_ps(LOAD(w + i), _mm512_loadu_ps(x + i), a0);                           \
        a1 = _mm512_fmadd_ps(LOAD(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);                 \
        a2 = _mm512_fmadd_ps(LOAD(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);                 \
        a3 = _mm512_fmadd_ps(LOAD(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);                 \
    }                                                                                            \
    for (; i + 16 <= k; i += 16) a0 = _mm512_fmadd_ps(LOAD(w + i), _mm512_loadu_ps(x + i), a0); \
    if (i < k) {                                                                                 \
        __mmask16 m = tail_mask(k - i);                                                          \
        a1 = _mm512_fmadd_ps(LOADM(w + i, m), _mm512_maskz_loadu_ps(m, x + i), a1);              \
    }                                                                                            \
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));

static float avx512_dot_f16(const uint16_t *w, const float *x, size_t k) { DOT_HALF(load_f16x16, load_f16x16_mask) }

/// x split into its even and odd elements (xe[j] = x[2j], xo[j] = x[2j + 1], j < k / 2), so that
/// a bf16 weight vector of 32 values (16 pairs) becomes two f32 vectors by one shift and one
/// mask, no lane-crossing widening: the batch-1 GEMV's weight stream then costs fewer vector
/// instructions per byte (measured on Zen 4: 1 thread 18 -> 21 GB/s, 2 threads 27.5 -> 29 GB/s,
/// against a 25.5 / 31.3 GB/s read probe in the same run).
static void split_even_odd(const float *x, size_t k, float *xe, float *xo) {
    for (size_t j = 0; j < k / 2; j++) { xe[j] = x[2 * j]; xo[j] = x[2 * j + 1]; }
}

static float dot_bf16_split(const uint16_t *w, const float *x, const float *xe, const float *xo, size_t k) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= k; i += 64) {
        __m512i v0 = _mm512_loadu_si512((const void *)(w + i)), v1 = _mm512_loadu_si512((const void *)(w + i + 32));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_loadu_ps(xe + i / 2), a0);
        a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v0, high)), _mm512_loadu_ps(xo + i / 2), a1);
        a2 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), _mm512_loadu_ps(xe + i / 2 + 16), a2);
        a3 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v1, high)), _mm512_loadu_ps(xo + i / 2 + 16), a3);
    }
    for (; i + 16 <= k; i += 16) a0 = _mm512_fmadd_ps(load_bf16x16(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < k) {
        __mmask16 m = tail_mask(k - i);
        a1 = _mm512_fmadd_ps(load_bf16x16_mask(w + i, m), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/// y[i][r] = w[r] . x[i] for m rows of x (m < 4) against bf16 weight rows, each row of x split
/// into even and odd elements once; weight rows in blocks of 64 so that, for m > 1, a block is
/// still in cache for the next row of x.
static void gemv_bf16_split(const uint16_t *w, size_t ldw, const float *x, size_t ldx, float *y, size_t ldy, size_t m,
                            size_t rows, size_t k) {
    float stack[3 * 2048], *split = m * k <= 3 * 2048 ? stack : (float *)malloc(m * k * sizeof(float));
    for (size_t i = 0; i < m; i++) split_even_odd(x + i * ldx, k, split + i * k, split + i * k + k / 2);
    for (size_t r0 = 0; r0 < rows; r0 += 64) {
        size_t n = rows - r0 < 64 ? rows - r0 : 64;
        for (size_t i = 0; i < m; i++)
            for (size_t r = r0; r < r0 + n; r++)
                y[i * ldy + r] = dot_bf16_split(w + r * ldw, x + i * ldx, split + i * k, split + i * k + k / 2, k);
    }
    if (split != stack) free(split);
}

static void avx512_gemv(const void *w, int dt, size_t ldw, const float *x, float *y, size_t rows, size_t k) {
    if (dt == OMNI_DT_F32) {
        for (size_t r = 0; r < rows; r++) y[r] = avx512_dot_f32((const float *)w + r * ldw, x, k);
    } else if (dt == OMNI_DT_BF16) {
        gemv_bf16_split((const uint16_t *)w, ldw, x, k, y, rows, 1, rows, k);
    } else {
        for (size_t r = 0; r < rows; r++) y[r] = avx512_dot_f16((const uint16_t *)w + r * ldw, x, k);
    }
}

static inline __m512 load_f32x16(const float *p) { return _mm512_loadu_ps(p); }
static inline __m512 load_f32x16_mask(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

// One register tile: MR weight rows x NR rows of x, accumulated over k in 16-wide lanes. The
// weight dtype is part of the name (T), so the inner loop has no branch on it.
#define GEMM_TILE(T, WT, LOAD, LOADM, MR, NR)                                                       \
    static void tile_##T##_##MR##x##NR(const WT *w, size_t ldw, const float *x, size_t ldx,         \
                                       float *y, size_t ldy, size_t k) {                            \
        __m512 acc[MR][NR];                                                                         \
        for (int a = 0; a < MR; a++)                                                                \
            for (int b = 0; b < NR; b++) acc[a][b] = _mm512_setzero_ps();                           \
        size_t i = 0;                                                                               \
        for (; i + 16 <= k; i += 16) {                                                              \
            __m512 xv[NR], wv[MR];                                                                  \
            for (int b = 0; b < NR; b++) xv[b] = _mm512_loadu_ps(x + b * ldx + i);                  \
            for (int a = 0; a < MR; a++) wv[a] = LOAD(w + a * ldw + i);                             \
            for (int a = 0; a < MR; a++)                                                            \
                for (int b = 0; b < NR; b++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv[b], acc[a][b]);  \
        }                                                                                           \
        if (i < k) {                                                                                \
            __mmask16 msk = tail_mask(k - i);                                                       \
            __m512 xv[NR], wv[MR];                                                                  \
            for (int b = 0; b < NR; b++) xv[b] = _mm512_maskz_loadu_ps(msk, x + b * ldx + i);       \
            for (int a = 0; a < MR; a++) wv[a] = LOADM(w + a * ldw + i, msk);                       \
            for (int a = 0; a < MR; a++)                                                            \
                for (int b = 0; b < NR; b++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv[b], acc[a][b]);  \
        }                                                                                           \
        for (int a = 0; a < MR; a++)                                                                \
            for (int b = 0; b < NR; b++) y[b * ldy + a] = _mm512_reduce_add_ps(acc[a][b]);          \
    }

#define GEMM_SMALL(T, WT, LOAD, LOADM)                                                              \
    GEMM_TILE(T, WT, LOAD, LOADM, 4, 4)                                                             \
    GEMM_TILE(T, WT, LOAD, LOADM, 4, 1)                                                             \
    GEMM_TILE(T, WT, LOAD, LOADM, 1, 4)                                                             \
    GEMM_TILE(T, WT, LOAD, LOADM, 1, 1)                                                             \
    static void gemm_small_##T(const WT *w, size_t ldw, const float *x, size_t ldx, float *y,       \
                               size_t ldy, size_t m, size_t rows, size_t k) {                       \
        size_t r = 0;                                                                               \
        for (; r + 4 <= rows; r += 4) {                                                             \
            size_t i = 0;                                                                           \
            for (; i + 4 <= m; i += 4) tile_##T##_4x4(w + r * ldw, ldw, x + i * ldx, ldx, y + i * ldy + r, ldy, k); \
            for (; i < m; i++) tile_##T##_4x1(w + r * ldw, ldw, x + i * ldx, ldx, y + i * ldy + r, ldy, k);        \
        }                                                                                           \
        for (; r < rows; r++) {                                                                     \
            size_t i = 0;                                                                           \
            for (; i + 4 <= m; i += 4) tile_##T##_1x4(w + r * ldw, ldw, x + i * ldx, ldx, y + i * ldy + r, ldy, k); \
            for (; i < m; i++) tile_##T##_1x1(w + r * ldw, ldw, x + i * ldx, ldx, y + i * ldy + r, ldy, k);        \
        }                                                                                           \
    }

GEMM_SMALL(bf16, uint16_t, load_bf16x16, load_bf16x16_mask)
GEMM_SMALL(f16, uint16_t, load_f16x16, load_f16x16_mask)
GEMM_SMALL(f32, float, load_f32x16, load_f32x16_mask)

static void avx512_gemv(const void *w, int dt, size_t ldw, const float *x, float *y, size_t rows, size_t k);

static void avx512_gemm_small(const void *w, int dt, size_t ldw, const float *x, size_t ldx, float *y, size_t ldy,
                              size_t m, size_t rows, size_t k) {
    if (m < 4 && dt == OMNI_DT_BF16) {
        gemv_bf16_split((const uint16_t *)w, ldw, x, ldx, y, ldy, m, rows, k);
        return;
    }
    if (m < 4) {
        // One x row at a time: a single weight row streamed with four accumulators reads memory
        // faster than four rows side by side (measured on Zen 4), and m < 4 gains nothing from tiles.
        const size_t es = dt == OMNI_DT_F32 ? 4 : 2;
        for (size_t r0 = 0; r0 < rows; r0 += 64) {
            size_t n = rows - r0 < 64 ? rows - r0 : 64;
            for (size_t i = 0; i < m; i++) {
                float tmp[64];
                avx512_gemv((const char *)w + r0 * ldw * es, dt, ldw, x + i * ldx, tmp, n, k);
                for (size_t r = 0; r < n; r++) y[i * ldy + r0 + r] = tmp[r];
            }
        }
        return;
    }
    if (dt == OMNI_DT_BF16) gemm_small_bf16((const uint16_t *)w, ldw, x, ldx, y, ldy, m, rows, k);
    else if (dt == OMNI_DT_F16) gemm_small_f16((const uint16_t *)w, ldw, x, ldx, y, ldy, m, rows, k);
    else gemm_small_f32((const float *)w, ldw, x, ldx, y, ldy, m, rows, k);
}

static double avx512_sumsq_f32(const float *x, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, _mm512_add_ps(a0, a1));
    double s = 0;
    for (int j = 0; j < 16; j++) s += lanes[j];
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

const omni_kernel_table omni_avx512_kernels = {
    .bf16_to_f32 = avx512_bf16_to_f32,
    .f32_to_bf16 = avx512_f32_to_bf16,
    .f16_to_f32 = avx512_f16_to_f32,
    .f32_to_f16 = avx512_f32_to_f16,
    .dot_f32 = avx512_dot_f32,
    .gemv = avx512_gemv,
    .gemm_small = avx512_gemm_small,
    .sumsq_f32 = avx512_sumsq_f32,
    .binary_f32 = avx512_binary_f32,
    .unary_f32 = avx512_unary_f32,
    .axpy_f32 = avx512_axpy_f32,
    .silu_mul_f32 = avx512_silu_mul_f32,
    .scale_f32 = avx512_scale_f32,
    .softmax_f32 = avx512_softmax_f32,
    .paged_attention_bf16 = avx512_paged_attention_bf16,
    .paged_attention_f32 = avx512_paged_attention_f32,
};

#pragma clang attribute pop
#endif
