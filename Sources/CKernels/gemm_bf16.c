// GEMM in bf16 precision for the CPU backend's opt-in bf16 matmul mode: activations rounded to
// bf16 (round to nearest even), bf16 weights read as stored, products summed in f32 by AVX512-BF16
// (`vdpbf16ps`, two multiply-adds per f32 lane). This is the precision torch's and ggml's bf16
// matmuls compute at, at twice the f32 FMA rate; the f32 path stays the default (DESIGN.md §8).
//
// Layouts: activations are packed once per call (`omni_pack_a_bf16`: rows of k values, k padded
// to even, rows padded to a multiple of 8 with zeros); weights [N][ldw] bf16 are packed per tile of
// 32 output columns into pairs along k ([k/2][32][2]), so one 512-bit load gives 16 columns' next
// two k values and a broadcast of one activation pair feeds them all.
#include "kernels.h"
#include <string.h>

void omni_pack_a_bf16(const float *x, size_t ldx, size_t rows, size_t k, uint16_t *packed, size_t kp) {
    for (size_t r = 0; r < rows; r++) {
        omni_f32_to_bf16(x + r * ldx, packed + r * kp, k);
        if (kp > k) memset(packed + r * kp + k, 0, (kp - k) * sizeof(uint16_t));
    }
}

/// Micro-tile 8 rows x 32 columns (16 accumulators). A weight tile is packed along the whole of k
/// (up to KC pairs: 256 KB, in L2) and then runs down every row of the activations, so each output
/// is written once. Blocking k in 256 pairs, with the tiles of a thread's range packed per block
/// and the outputs re-read and re-written after each, ran at 0.84-0.92x oneDNN's bf16 matmul on
/// the DiT's products (the outputs, 53 MB there, went through memory 15 times); whole-k tiles
/// run at 0.97-1.01x (Benchmarks/onednn, same minutes).
enum { MR = 8, NR = 32, KC = 4096 };

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"))), apply_to = function)


/// dst32[p * NR + c] = src[c][j + p] for 16 rows c and 16 pairs p: a 16x16 transpose of 32-bit
/// pairs in registers (32-bit, then 64-bit unpacks within 128-bit lanes, then two lane shuffles).
static inline void transpose_pairs_16x16(const uint32_t *const *src, size_t j, uint32_t *dst) {
    __m512i r[16], t[16], u[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512((const void *)(src[i] + j));
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int g = 0; g < 16; g += 4) { // u[g + c]: in 128-bit lane L, rows g..g+3 of pair 4L + c
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88), w0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
        __m512i v1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88), w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xDD);
        _mm512_storeu_si512((void *)(dst + (size_t)c * NR), _mm512_shuffle_i32x4(v0, v1, 0x88));
        _mm512_storeu_si512((void *)(dst + (size_t)(4 + c) * NR), _mm512_shuffle_i32x4(w0, w1, 0x88));
        _mm512_storeu_si512((void *)(dst + (size_t)(8 + c) * NR), _mm512_shuffle_i32x4(v0, v1, 0xDD));
        _mm512_storeu_si512((void *)(dst + (size_t)(12 + c) * NR), _mm512_shuffle_i32x4(w0, w1, 0xDD));
    }
}

/// Columns n0..<n0+cols (cols <= 32) of w, k pairs j0..<j1, as pairs along k:
/// dst[j - j0][c][e] = w[n0 + c][2j + e], zero past k and past cols. Whole tiles of whole pairs go
/// 16 x 16 pairs at a time through registers; the rest (a last narrow tile, an odd k's last
/// pair, pairs short of 16) element by element.
static void pack_b_tile(const uint16_t *w, size_t ldw, size_t n0, size_t cols, size_t k, size_t j0, size_t j1,
                        uint16_t *dst) {
    const size_t whole = k / 2 < j1 ? k / 2 : j1;
    size_t fast = j0;
    if (cols == NR && whole > j0) {
        fast = j0 + (whole - j0) / 16 * 16;
        const uint32_t *rows[NR];
        for (size_t c = 0; c < NR; c++) rows[c] = (const uint32_t *)(const void *)(w + (n0 + c) * ldw);
        uint32_t *d32 = (uint32_t *)(void *)dst;
        for (size_t j = j0; j < fast; j += 16) {
            transpose_pairs_16x16(rows, j, d32 + (j - j0) * NR);
            transpose_pairs_16x16(rows + 16, j, d32 + (j - j0) * NR + 16);
        }
    }
    if (fast == j1) return;
    memset(dst + (fast - j0) * NR * 2, 0, (j1 - fast) * NR * 2 * sizeof(uint16_t));
    for (size_t c = 0; c < cols; c++) {
        const uint16_t *row = w + (n0 + c) * ldw;
        uint16_t *d = dst + (fast - j0) * NR * 2 + 2 * c;
        for (size_t j = fast; j < j1; j++, d += NR * 2) {
            size_t kk = 2 * j;
            d[0] = row[kk];
            if (kk + 1 < k) d[1] = row[kk + 1];
        }
    }
}

/// out rows m..<m+rows (rows <= 8) of one 32-column tile, over k pairs 0..<pairs of the strip `a`
/// (8 rows, row stride `lda` pairs) and the packed tile `b`; adds to out when `accumulate`.
static void kernel_8x32(const uint32_t *a, size_t lda, size_t pairs, const uint16_t *b, float *out, size_t ldo,
                        size_t rows, __mmask16 m0, __mmask16 m1, int accumulate) {
    __m512 c[MR][2];
    for (size_t r = 0; r < MR; r++) {
        int live = accumulate && r < rows;
        c[r][0] = live ? _mm512_maskz_loadu_ps(m0, out + r * ldo) : _mm512_setzero_ps();
        c[r][1] = live ? _mm512_maskz_loadu_ps(m1, out + r * ldo + 16) : _mm512_setzero_ps();
    }
    __m512 c00 = c[0][0], c01 = c[0][1], c10 = c[1][0], c11 = c[1][1], c20 = c[2][0], c21 = c[2][1];
    __m512 c30 = c[3][0], c31 = c[3][1], c40 = c[4][0], c41 = c[4][1], c50 = c[5][0], c51 = c[5][1];
    __m512 c60 = c[6][0], c61 = c[6][1], c70 = c[7][0], c71 = c[7][1];
    const uint32_t *a0 = a, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    const uint32_t *a4 = a3 + lda, *a5 = a4 + lda, *a6 = a5 + lda, *a7 = a6 + lda;
    for (size_t j = 0; j < pairs; j++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + j * NR * 2));
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + j * NR * 2 + 32));
#define ROW(r)                                                                        \
        {                                                                             \
            __m512bh v = (__m512bh)_mm512_set1_epi32((int)a##r[j]);                   \
            c##r##0 = _mm512_dpbf16_ps(c##r##0, v, b0);                               \
            c##r##1 = _mm512_dpbf16_ps(c##r##1, v, b1);                               \
        }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
    }
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (size_t r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(out + r * ldo, m0, acc[r][0]);
        _mm512_mask_storeu_ps(out + r * ldo + 16, m1, acc[r][1]);
    }
}

/// For each weight tile of n0..<n1: pack it (KC pairs at a time; one block for k <= 8192), then
/// run the 8x32 micro-kernel down all rows, the activations streaming from L2/L3.
static void gemm_bf16_native(const uint16_t *a, size_t rows, size_t kp, size_t k, const uint16_t *w, size_t ldw,
                             size_t n0, size_t n1, float *out, size_t ldo, uint16_t *scratch) {
    const size_t pairs = kp / 2, tiles = (n1 - n0 + NR - 1) / NR;
    const uint32_t *a32 = (const uint32_t *)a;
    for (size_t t = 0; t < tiles; t++) {
        size_t n = n0 + t * NR, cols = n1 - n < NR ? n1 - n : NR;
        __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1u);
        __mmask16 m1 = cols <= 16 ? 0 : (cols >= 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - 16)) - 1u));
        for (size_t j0 = 0; j0 < pairs; j0 += KC) {
            size_t j1 = pairs - j0 < KC ? pairs : j0 + KC, width = j1 - j0;
            pack_b_tile(w, ldw, n, cols, k, j0, j1, scratch);
            for (size_t m = 0; m < rows; m += MR) {
                size_t r = rows - m < MR ? rows - m : MR;
                kernel_8x32(a32 + m * pairs + j0, pairs, width, scratch, out + m * ldo + n, ldo, r, m0, m1, j0 > 0);
            }
        }
    }
}

/// out[m][n] for tiles of MR_D x-rows by NR_D weight rows, straight from the weights' own rows (no
/// packing): each accumulator lane sums the pairs at its position along k, and the 16 lanes are
/// added at the end. For few rows of x (decode steps of a batch), where packing the weights would
/// cost as much as the products.
enum { MR_D = 4, NR_D = 4 };

/// The lane sums of four accumulators at once: [sum a, sum b, sum c, sum d].
static inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));   // per 128-bit lane: a, b, a, b
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));   // c, d, c, d
    __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE)); // a, b, c, d
    __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

#define DOT_TILE(XR, WR)                                                                               \
    static void dot_tile_##XR##x##WR(const uint16_t *a, size_t kp, const uint16_t *w, size_t ldw, float *out, \
                                     size_t ldo) {                                                    \
        __m512 acc[XR][WR];                                                                           \
        for (int i = 0; i < XR; i++)                                                                  \
            for (int j = 0; j < WR; j++) acc[i][j] = _mm512_setzero_ps();                             \
        size_t e = 0;                                                                                 \
        for (; e + 32 <= kp; e += 32) {                                                               \
            __m512bh xv[XR], wv[WR];                                                                  \
            for (int i = 0; i < XR; i++) xv[i] = (__m512bh)_mm512_loadu_si512((const void *)(a + i * kp + e)); \
            for (int j = 0; j < WR; j++) wv[j] = (__m512bh)_mm512_loadu_si512((const void *)(w + j * ldw + e)); \
            for (int i = 0; i < XR; i++)                                                              \
                for (int j = 0; j < WR; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv[i], wv[j]);   \
        }                                                                                             \
        if (e < kp) {                                                                                 \
            const __mmask32 m = (__mmask32)((1ull << (kp - e)) - 1ull);                               \
            __m512bh xv[XR], wv[WR];                                                                  \
            for (int i = 0; i < XR; i++) xv[i] = (__m512bh)_mm512_maskz_loadu_epi16(m, a + i * kp + e);  \
            for (int j = 0; j < WR; j++) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + j * ldw + e); \
            for (int i = 0; i < XR; i++)                                                              \
                for (int j = 0; j < WR; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv[i], wv[j]);   \
        }                                                                                             \
        for (int i = 0; i < XR; i++) {                                                                \
            if (WR == 4) _mm_storeu_ps(out + i * ldo, sum4(acc[i][0], acc[i][(WR > 1) * 1], acc[i][(WR > 2) * 2], acc[i][(WR > 3) * 3])); \
            else                                                                                      \
                for (int j = 0; j < WR; j++) out[i * ldo + j] = _mm512_reduce_add_ps(acc[i][j]);      \
        }                                                                                             \
    }
DOT_TILE(4, 4)
DOT_TILE(4, 1)
DOT_TILE(1, 4)
DOT_TILE(1, 1)
#undef DOT_TILE

/// The weights' k must be even here (kp == k): an odd k's last weight element would pair with
/// the next row's first; callers with odd k use omni_gemm_bf16.
static void gemm_bf16_dot_native(const uint16_t *a, size_t rows, size_t kp, const uint16_t *w, size_t ldw,
                                 size_t n0, size_t n1, float *out, size_t ldo) {
    size_t n = n0;
    for (; n + NR_D <= n1; n += NR_D) {
        size_t m = 0;
        for (; m + MR_D <= rows; m += MR_D) dot_tile_4x4(a + m * kp, kp, w + n * ldw, ldw, out + m * ldo + n, ldo);
        for (; m < rows; m++) dot_tile_1x4(a + m * kp, kp, w + n * ldw, ldw, out + m * ldo + n, ldo);
    }
    for (; n < n1; n++) {
        size_t m = 0;
        for (; m + MR_D <= rows; m += MR_D) dot_tile_4x1(a + m * kp, kp, w + n * ldw, ldw, out + m * ldo + n, ldo);
        for (; m < rows; m++) dot_tile_1x1(a + m * kp, kp, w + n * ldw, ldw, out + m * ldo + n, ldo);
    }
}

#pragma clang attribute pop
#endif

int omni_gemm_bf16_native(void) {
#if defined(__x86_64__) && defined(__clang__)
    return omni_cpu_has_avx512bf16() && omni_isa_active() >= OMNI_ISA_AVX512;
#else
    return 0;
#endif
}

/// The same sums without AVX512-BF16: every bf16 value widened to f32 (exact), products and sums in
/// f32 pair by pair, as vdpbf16ps orders them.
static void gemm_bf16_portable(const uint16_t *a, size_t rows, size_t kp, size_t k, const uint16_t *w, size_t ldw,
                               size_t n0, size_t n1, float *out, size_t ldo) {
    (void)kp;
    for (size_t m = 0; m < rows; m++) {
        for (size_t n = n0; n < n1; n++) {
            const uint16_t *x = a + m * kp, *y = w + n * ldw;
            float sum = 0;
            for (size_t kk = 0; kk < k; kk += 2) {
                float p = 0;
                for (size_t e = kk; e < kk + 2 && e < k; e++) {
                    uint32_t xb = (uint32_t)x[e] << 16, yb = (uint32_t)y[e] << 16;
                    float xf, yf;
                    memcpy(&xf, &xb, 4);
                    memcpy(&yf, &yb, 4);
                    p += xf * yf;
                }
                sum += p;
            }
            out[m * ldo + n] = sum;
        }
    }
}

size_t omni_gemm_bf16_scratch(size_t k) {
    const size_t pairs = (k + 1) / 2;
    return (size_t)NR * 2 * (pairs < KC ? pairs : KC);
}

void omni_gemm_bf16(const uint16_t *a, size_t rows, size_t kp, size_t k, const uint16_t *w, size_t ldw,
                    size_t n0, size_t n1, float *out, size_t ldo, uint16_t *scratch) {
#if defined(__x86_64__) && defined(__clang__)
    if (omni_gemm_bf16_native()) {
        gemm_bf16_native(a, rows, kp, k, w, ldw, n0, n1, out, ldo, scratch);
        return;
    }
#endif
    (void)scratch;
    gemm_bf16_portable(a, rows, kp, k, w, ldw, n0, n1, out, ldo);
}

void omni_gemm_bf16_dot(const uint16_t *a, size_t rows, size_t kp, size_t k, const uint16_t *w, size_t ldw,
                        size_t n0, size_t n1, float *out, size_t ldo) {
#if defined(__x86_64__) && defined(__clang__)
    if (omni_gemm_bf16_native() && kp == k) {
        gemm_bf16_dot_native(a, rows, kp, w, ldw, n0, n1, out, ldo);
        return;
    }
#endif
    gemm_bf16_portable(a, rows, kp, k, w, ldw, n0, n1, out, ldo);
}
