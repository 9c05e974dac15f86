// GEMM in bf16 precision for the CPU backend's opt-in bf16 matmul mode: activations rounded to
// bf16 (round to nearest even), bf16 weights read as stored, products summed in f32: by
// AVX512-BF16 where the CPU has it (`vdpbf16ps`, two multiply-adds per f32 lane, twice the f32 FMA
// rate), else by AVX2 FMAs on values widened to f32 (exact), half the weight bytes of the f32 path.
// This is the precision torch's and ggml's bf16 matmuls compute at; the f32 path stays the
// default (DESIGN.md §8). Each level sums every output in one order whatever the number of rows;
// the AVX2 kernels and the portable C give the same bits, AVX512-BF16 its own.
//
// Layouts: activations are packed once per call (`omni_pack_a_bf16`: rows of k values, k padded
// to even, rows padded to a multiple of 8 with zeros); weights [N][ldw] bf16 are packed per tile of
// 32 output columns into pairs along k ([k/2][32][2]), so one 512-bit load gives 16 columns' next
// two k values and a broadcast of one activation pair feeds them all. A weight multiplied by few
// rows (decode steps) is packed once and kept (`omni_pack_b_bf16_rows`, `omni_gemm_bf16_packed`); one
// multiplied by many rows can be packed a tile at a time per call (`omni_gemm_bf16`). Both sum
// each output in the same order, for any number of rows.
#include "kernels.h"
#include <math.h>
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

/// Pairs fast..<j1 of a tile being packed from pair j0 (dst: pair j0's row), element by element:
/// what the ISA's register transposes leave (a narrow last tile, an odd k's last pair, a last
/// group of pairs), zero past k and past cols.
static void pack_b_rest(const uint16_t *const *w, size_t cols, size_t k, size_t j0, size_t fast, size_t j1,
                        uint16_t *dst) {
    if (fast == j1) return;
    memset(dst + (fast - j0) * NR * 2, 0, (j1 - fast) * NR * 2 * sizeof(uint16_t));
    for (size_t c = 0; c < cols; c++) {
        const uint16_t *row = w[c];
        uint16_t *d = dst + (fast - j0) * NR * 2 + 2 * c;
        for (size_t j = fast; j < j1; j++, d += NR * 2) {
            size_t kk = 2 * j;
            d[0] = row[kk];
            if (kk + 1 < k) d[1] = row[kk + 1];
        }
    }
}

/// Split activations (omni_split_activations): row r's even elements at xs + r * 2 * half, its odd
/// ones `half` further, half = pairs + 16. The 16 floats keep the strip's rows and their halves off
/// multiples of 4 KiB from each other: with K = 10240 (5,120 pairs, rows 40 KiB apart) all eight
/// streams of a 4-row strip fell in one L1 set.
static inline size_t split_half(size_t pairs) { return pairs + 16; }

/// The batch-1 kernels' prefetches (avx2_row_tiles, native_row_tiles): ROW_PREFETCH_BYTES ahead of
/// the pair being read, and over each tile's last NEXT_GROUP_BYTES the start of the thread's next
/// group instead (measured on Zen 3 with avx2_row_tiles; see there).
enum { ROW_PREFETCH_BYTES = 256, NEXT_GROUP_BYTES = 1024 };

/// How many tiles on from t0 the calling thread's next group starts, after the group of T there:
/// right after it within t0..<t1, else at `after` if that is a tile further on; 0 if unknown.
static inline size_t next_tiles(size_t t0, size_t T, size_t t1, size_t after, size_t tiles) {
    if (t0 + T < t1) return T;
    return after < tiles && after > t0 ? after - t0 : 0;
}

/// How many whole tiles (of those below `whole`) the batch-1 group at t0 takes: three, but four
/// left go as two and two (a lone tile would run with a third of the sums in flight); 0 once fewer
/// than two are left (those run through the general kernels).
static inline size_t row_group(size_t t0, size_t whole) {
    const size_t left = whole > t0 ? whole - t0 : 0;
    return left >= 3 && left != 4 ? 3 : left >= 2 ? 2 : 0;
}

/// Where a batch-1 kernel's prefetches go: ROW_PREFETCH_BYTES ahead of pair j before `tail`, then
/// `redirect` bytes on, which is pair j - tail of the same tile of the thread's next group (`next`
/// tiles on from this one, `stride` uint16 apart; with next 0, unknown, every pair is before tail).
typedef struct { size_t tail, redirect; } row_prefetch;

static inline row_prefetch row_prefetch_plan(size_t pairs, size_t stride, size_t next) {
    const size_t ahead = NEXT_GROUP_BYTES / (NR * 4), tail = next && pairs > ahead ? pairs - ahead : pairs;
    return (row_prefetch){tail, next ? next * stride * 2 - tail * NR * 4 : 0};
}

static inline size_t row_prefetch_distance(row_prefetch plan, size_t j) {
    return j >= plan.tail ? plan.redirect : ROW_PREFETCH_BYTES;
}

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

/// Weight rows w[0..<cols] (cols <= 32, each k values), k pairs j0..<j1, as pairs along k:
/// dst[j - j0][c][e] = w[c][2j + e], zero past k and past cols. Whole tiles of whole pairs go
/// 16 x 16 pairs at a time through registers; the rest (a last narrow tile, an odd k's last
/// pair, pairs short of 16) element by element.
static void pack_b_tile_rows(const uint16_t *const *w, size_t cols, size_t k, size_t j0, size_t j1, uint16_t *dst) {
    const size_t whole = k / 2 < j1 ? k / 2 : j1;
    size_t fast = j0;
    if (cols == NR && whole > j0) {
        fast = j0 + (whole - j0) / 16 * 16;
        const uint32_t *rows[NR];
        for (size_t c = 0; c < NR; c++) rows[c] = (const uint32_t *)(const void *)w[c];
        uint32_t *d32 = (uint32_t *)(void *)dst;
        for (size_t j = j0; j < fast; j += 16) {
            transpose_pairs_16x16(rows, j, d32 + (j - j0) * NR);
            transpose_pairs_16x16(rows + 16, j, d32 + (j - j0) * NR + 16);
        }
    }
    pack_b_rest(w, cols, k, j0, fast, j1, dst);
}

/// pack_b_tile_rows for columns n0..<n0+cols of w [N][ldw].
static void pack_b_tile(const uint16_t *w, size_t ldw, size_t n0, size_t cols, size_t k, size_t j0, size_t j1,
                        uint16_t *dst) {
    const uint16_t *rows[NR];
    for (size_t c = 0; c < cols; c++) rows[c] = w + (n0 + c) * ldw;
    pack_b_tile_rows(rows, cols, k, j0, j1, dst);
}

/// out rows 0..<rows (rows <= R) of one 32-column tile, over k pairs 0..<pairs of the strip `a`
/// (R rows, row stride `lda` pairs, zero rows past `rows`) and the packed tile `b`; adds to out
/// when `accumulate`. Every output lane sums its pairs in k order with one vdpbf16ps each, whatever
/// R is, so a row's results do not depend on how many rows ran beside it.
#define KERNEL_RX32(R)                                                                                 \
    static void kernel_##R##x32(const uint32_t *a, size_t lda, size_t pairs, const uint16_t *b, float *out, \
                                size_t ldo, size_t rows, __mmask16 m0, __mmask16 m1, int accumulate) {  \
        __m512 c0[R], c1[R];                                                                           \
        for (size_t r = 0; r < R; r++) {                                                               \
            int live = accumulate && r < rows;                                                         \
            c0[r] = live ? _mm512_maskz_loadu_ps(m0, out + r * ldo) : _mm512_setzero_ps();             \
            c1[r] = live ? _mm512_maskz_loadu_ps(m1, out + r * ldo + 16) : _mm512_setzero_ps();        \
        }                                                                                              \
        for (size_t j = 0; j < pairs; j++) {                                                           \
            __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + j * NR * 2));                \
            __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + j * NR * 2 + 32));           \
            for (size_t r = 0; r < R; r++) {                                                           \
                __m512bh v = (__m512bh)_mm512_set1_epi32((int)a[r * lda + j]);                         \
                c0[r] = _mm512_dpbf16_ps(c0[r], v, b0);                                                \
                c1[r] = _mm512_dpbf16_ps(c1[r], v, b1);                                                \
            }                                                                                          \
        }                                                                                              \
        for (size_t r = 0; r < rows; r++) {                                                            \
            _mm512_mask_storeu_ps(out + r * ldo, m0, c0[r]);                                           \
            _mm512_mask_storeu_ps(out + r * ldo + 16, m1, c1[r]);                                      \
        }                                                                                              \
    }
KERNEL_RX32(8)
KERNEL_RX32(4)
KERNEL_RX32(2)
KERNEL_RX32(1)
#undef KERNEL_RX32

/// One KC-pair block (j0..<j1) of one 32-column tile, packed along k ([j1 - j0][32][2]), run down
/// every row of `a` 8 at a time; a last group of fewer rows goes through the narrowest kernel that
/// holds it (the packed activations are zero past `rows` up to a multiple of 8).
static inline void run_block(const uint32_t *a32, size_t rows, size_t pairs, size_t j0, size_t j1,
                             const uint16_t *block, float *out, size_t ldo, size_t cols) {
    const size_t width = j1 - j0, lo = cols > 16 ? 16 : cols, hi = cols > 16 ? cols - 16 : 0;
    const __mmask16 m0 = lo >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << lo) - 1u);
    const __mmask16 m1 = hi >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << hi) - 1u);
    for (size_t m = 0; m < rows; m += MR) {
        const size_t r = rows - m < MR ? rows - m : MR;
        const uint32_t *strip = a32 + m * pairs + j0;
        float *o = out + m * ldo;
        if (r > 4) kernel_8x32(strip, pairs, width, block, o, ldo, r, m0, m1, j0 > 0);
        else if (r > 2) kernel_4x32(strip, pairs, width, block, o, ldo, r, m0, m1, j0 > 0);
        else if (r > 1) kernel_2x32(strip, pairs, width, block, o, ldo, r, m0, m1, j0 > 0);
        else kernel_1x32(strip, pairs, width, block, o, ldo, r, m0, m1, j0 > 0);
    }
}

/// For each weight tile of n0..<n1: pack it (KC pairs at a time; one block for k <= 8192), then
/// run it down all rows, the activations streaming from L2/L3.
static void gemm_bf16_native(const uint16_t *a, size_t rows, size_t kp, size_t k, const uint16_t *w, size_t ldw,
                             size_t n0, size_t n1, float *out, size_t ldo, uint16_t *scratch) {
    const size_t pairs = kp / 2;
    const uint32_t *a32 = (const uint32_t *)a;
    for (size_t n = n0; n < n1; n += NR) {
        const size_t cols = n1 - n < NR ? n1 - n : NR;
        for (size_t j0 = 0; j0 < pairs; j0 += KC) {
            const size_t j1 = pairs - j0 < KC ? pairs : j0 + KC;
            pack_b_tile(w, ldw, n, cols, k, j0, j1, scratch);
            run_block(a32, rows, pairs, j0, j1, scratch, out + n, ldo, cols);
        }
    }
}

/// One row against T (2 or 3) whole tiles side by side, `stride` uint16 apart: each output lane
/// sums its pairs in k order with one vdpbf16ps each, as kernel_1x32 does (which passes its sums
/// between KC blocks through `out`, exactly), so the bits are those of the tiles one at a time and
/// of any number of rows. One tile at a time reads one stream per thread; on a Xeon with
/// AVX512-BF16 (2 threads, Qwen2.5-0.5B decode) that ran at 14 - 18 tok/s where the AVX2 path,
/// three tiles at once with these prefetches, ran at 20 - 21; three tiles here, on a fresh machine
/// of that kind: 25.0 - 28.9 against the AVX2 path's 22.2 - 25.8, 97.7% of the mean probe pass
/// around each run (docs/benchmarks.md, seventh round).
/// Prefetches as avx2_row_tiles: ROW_PREFETCH_BYTES ahead, and over the last NEXT_GROUP_BYTES of
/// each tile the start of the next group's (`next` tiles on; 0: unknown).
static inline __attribute__((always_inline)) void native_row_tiles(int T, const uint32_t *a, size_t pairs,
                                                                   const uint16_t *b, size_t stride, size_t next,
                                                                   float *out) {
    __m512 c[3][2];
    for (int t = 0; t < T; t++) c[t][0] = c[t][1] = _mm512_setzero_ps();
    const row_prefetch plan = row_prefetch_plan(pairs, stride, next);
    for (size_t j = 0; j < pairs; j++) {
        const size_t distance = row_prefetch_distance(plan, j);
        const __m512bh v = (__m512bh)_mm512_set1_epi32((int)a[j]);
        for (int t = 0; t < T; t++) {
            const char *p = (const char *)(b + t * stride + j * NR * 2);
            _mm_prefetch(p + distance, _MM_HINT_T0);
            _mm_prefetch(p + 64 + distance, _MM_HINT_T0);
            c[t][0] = _mm512_dpbf16_ps(c[t][0], v, (__m512bh)_mm512_loadu_si512((const void *)p));
            c[t][1] = _mm512_dpbf16_ps(c[t][1], v, (__m512bh)_mm512_loadu_si512((const void *)(p + 64)));
        }
    }
    for (int t = 0; t < T; t++) {
        _mm512_storeu_ps(out + t * NR, c[t][0]);
        _mm512_storeu_ps(out + t * NR + 16, c[t][1]);
    }
}

/// The same products, in the same order, from weights packed once (omni_pack_b_bf16_rows): tile t is
/// packed + t * pairs * 64, its KC-pair blocks read in place. One row runs whole tiles three at a
/// time, then two (native_row_tiles; `after` as in omni_gemm_split_packed).
static void gemm_bf16_packed_native(const uint16_t *a, size_t rows, size_t kp, const uint16_t *packed, size_t n,
                                    size_t t0, size_t t1, float *out, size_t ldo, size_t after) {
    const size_t pairs = kp / 2, stride = pairs * NR * 2;
    const uint32_t *a32 = (const uint32_t *)a;
    if (rows == 1) {
        const size_t whole = t1 < n / NR ? t1 : n / NR, tiles = (n + NR - 1) / NR;
        for (size_t T; (T = row_group(t0, whole)) != 0; t0 += T) {
            const size_t next = next_tiles(t0, T, t1, after, tiles);
            if (T == 3) native_row_tiles(3, a32, pairs, packed + t0 * stride, stride, next, out + t0 * NR);
            else native_row_tiles(2, a32, pairs, packed + t0 * stride, stride, next, out + t0 * NR);
        }
    }
    for (size_t t = t0; t < t1; t++) {
        const size_t c = t * NR, cols = n - c < NR ? n - c : NR;
        const uint16_t *tile = packed + t * pairs * NR * 2;
        for (size_t j0 = 0; j0 < pairs; j0 += KC) {
            const size_t j1 = pairs - j0 < KC ? pairs : j0 + KC;
            run_block(a32, rows, pairs, j0, j1, tile + j0 * NR * 2, out + c, ldo, cols);
        }
    }
}

#pragma clang attribute pop
#endif

/* AVX2 + FMA (no bf16 dot product instruction): the same packed tiles, each bf16 value widened to
 * f32 exactly (the even element of a 32-bit pair by a shift, the odd one by a mask), and every
 * output lane summed in k order with one FMA per element. The inner loop broadcasts the activations
 * from two f32 arrays (even and odd elements): split once per product by the caller
 * (omni_split_activations; what the engine runs), or, for bf16 pairs from omni_pack_a_bf16, widened
 * KA pairs of a strip of rows at a time on the stack. Chunk boundaries (multiples of KA from
 * each KC block's start) do not depend on the number of rows, and the partial sums between chunks
 * go through the output exactly, so a row's result is the same whatever rows ran beside it. */
#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

enum { KA = 512, MR2 = 4 };

/// dst[p * NR + c] = src[c][j + p] for 8 rows c and 8 pairs p (32-bit): unpacks of 32 then 64 bits
/// within 128-bit lanes, then the lanes exchanged.
static inline void transpose_pairs_8x8(const uint32_t *const *src, size_t j, uint32_t *dst) {
    __m256i r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_si256((const __m256i *)(const void *)(src[i] + j));
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int g = 0; g < 8; g += 4) { // u[g + p]: rows g..g+3 of pairs p (low lane) and 4 + p (high lane)
        u[g] = _mm256_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm256_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm256_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm256_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    for (int p = 0; p < 4; p++) {
        _mm256_storeu_si256((__m256i *)(void *)(dst + (size_t)p * NR), _mm256_permute2x128_si256(u[p], u[4 + p], 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(dst + (size_t)(4 + p) * NR), _mm256_permute2x128_si256(u[p], u[4 + p], 0x31));
    }
}

/// pack_b_tile_rows with AVX2: whole tiles of whole pairs 8 x 8 at a time through registers.
static void pack_b_tile_avx2(const uint16_t *const *w, size_t cols, size_t k, size_t j0, size_t j1, uint16_t *dst) {
    const size_t whole = k / 2 < j1 ? k / 2 : j1;
    size_t fast = j0;
    if (cols == NR && whole > j0) {
        fast = j0 + (whole - j0) / 8 * 8;
        const uint32_t *rows[NR];
        for (size_t c = 0; c < NR; c++) rows[c] = (const uint32_t *)(const void *)w[c];
        uint32_t *d32 = (uint32_t *)(void *)dst;
        for (size_t j = j0; j < fast; j += 8)
            for (size_t g = 0; g < NR; g += 8) transpose_pairs_8x8(rows + g, j, d32 + (j - j0) * NR + g);
    }
    pack_b_rest(w, cols, k, j0, fast, j1, dst);
}

/// The activations of a product: bf16 pairs packed by omni_pack_a_bf16 (`a32`, `lda` pairs a row,
/// zero rows up to a multiple of 8), widened per tile; or split once for the whole product into f32
/// even and odd elements (`xs`, omni_split_activations: row r's even elements at xs + r * 2 * half,
/// its odd ones `half` further, see split_half; rows padded to a multiple of 4 with zeros), read in
/// place.
typedef struct {
    const uint32_t *a32;
    size_t lda;
    const float *xs;
    size_t pairs, rows;
} act_src;

/// xe[j], xo[j]: the even and odd element of pair j of `a` (n pairs), widened to f32.
static inline void widen_pairs_avx2(const uint32_t *a, size_t n, float *xe, float *xo) {
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(a + j));
        _mm256_storeu_ps(xe + j, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
        _mm256_storeu_ps(xo + j, _mm256_castsi256_ps(_mm256_and_si256(v, hi)));
    }
    for (; j < n; j++) {
        const uint32_t e = a[j] << 16, o = a[j] & 0xFFFF0000u;
        memcpy(xe + j, &e, 4);
        memcpy(xo + j, &o, 4);
    }
}

/// How far ahead of the pair being read the kernels ask for the weights: the hardware's stream
/// prefetch alone left a batch-1 pass at 0.80 - 0.89x the read probe on Zen 3; 1 KiB ahead (8
/// pairs of a tile, running on into the next tile, which follows in memory) gave 0.92 - 1.00x
/// (256 B - 2 KiB tried; the hint level made no difference).
enum { PREFETCH_BYTES = 1024 };

/// out[r][0..<8V] (+)= sum over pairs j of xe[r][j] * w_even[j] + xo[r][j] * w_odd[j], for R rows
/// (widened rows ldx apart) and V vectors of 8 columns of a packed tile (`b`: this column group's
/// first pair; pairs NR * 2 values apart). Full width only; the caller stages a narrow tile.
#define AVX2_KERNEL(R, V)                                                                              \
    static void avx2_kernel_##R##x##V(const float *xe, const float *xo, size_t ldx, size_t pairs,       \
                                      const uint16_t *b, float *out, size_t ldo, size_t rows,          \
                                      int accumulate) {                                                \
        const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);                                        \
        __m256 c[R][V];                                                                                \
        for (size_t r = 0; r < R; r++)                                                                 \
            for (size_t v = 0; v < V; v++)                                                             \
                c[r][v] = accumulate && r < rows ? _mm256_loadu_ps(out + r * ldo + 8 * v) : _mm256_setzero_ps(); \
        for (size_t j = 0; j < pairs; j++) {                                                           \
            const __m256i *bj = (const __m256i *)(const void *)(b + j * NR * 2);                       \
            for (size_t v = 0; v < V; v += 2) _mm_prefetch((const char *)(bj + v) + PREFETCH_BYTES, _MM_HINT_T0); \
            __m256 w[V];                                                                               \
            for (size_t v = 0; v < V; v++) w[v] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(bj + v), 16)); \
            for (size_t r = 0; r < R; r++) {                                                           \
                const __m256 x = _mm256_broadcast_ss(xe + r * ldx + j);                                \
                for (size_t v = 0; v < V; v++) c[r][v] = _mm256_fmadd_ps(x, w[v], c[r][v]);            \
            }                                                                                          \
            for (size_t v = 0; v < V; v++) w[v] = _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256(bj + v), hi)); \
            for (size_t r = 0; r < R; r++) {                                                           \
                const __m256 x = _mm256_broadcast_ss(xo + r * ldx + j);                                \
                for (size_t v = 0; v < V; v++) c[r][v] = _mm256_fmadd_ps(x, w[v], c[r][v]);            \
            }                                                                                          \
        }                                                                                              \
        for (size_t r = 0; r < rows; r++)                                                              \
            for (size_t v = 0; v < V; v++) _mm256_storeu_ps(out + r * ldo + 8 * v, c[r][v]);           \
    }
AVX2_KERNEL(4, 2)
AVX2_KERNEL(2, 4)
AVX2_KERNEL(1, 4)
#undef AVX2_KERNEL

/// One row of split activations against T whole tiles side by side (T = 2 or 3; `stride` values
/// from one tile to the next), over every pair, into T * 32 outputs. Each lane sums as
/// avx2_kernel_1x4 does (the even product, then the odd one, pair after pair), so the bits are those
/// of the tiles one at a time: the blocks and chunks there pass their partial sums through `out`,
/// which is exact. One tile at a time, each of the four sums waits on its two dependent FMAs per
/// pair, and a batch-1 product did not keep up with the weights arriving; three tiles give the FMA
/// units twelve independent sums (measured in a decode of Qwen2.5-0.5B, 2 threads, on Zen 3, with the
/// paths alternating every two steps of one run: two tiles 8.5-9.5% faster steps than one, three
/// 3.4-4.9% faster than two; that harness, run in one phase, favoured "on" by about 2.5%, and
/// separate binaries run in turn gave 14.2 / 16.7, 17.0 / 20.5, 16.4 / 19.0 tok/s, old / new).
///
/// The batch-1 kernel reads its tiles ROW_PREFETCH_BYTES ahead of the pair being read. Over the
/// last NEXT_GROUP_BYTES of each tile, with `next` (tiles on from `b` where the calling thread's
/// next group starts; 0: unknown), it asks for the start of that group's tiles instead, so its
/// streams start warm: a C microbenchmark's GEMV (2 threads, 1 GiB, chunks of three groups) read
/// 0-8% faster with the next group in its chunk; decode steps with one group per chunk, the next
/// guessed as the chunk `threads` on, 0.9 and 1.3% faster (two pairs of runs of the alternating
/// harness, one run in each phase, so its bias cancels). Without `next`, the prefetches run on into
/// the next tile in memory as everywhere else.
///
/// How far ahead, measured with ROW_CHUNK below in decode steps (alternating harness, both phases):
/// 256 B ahead 3.0 and 3.0% faster than no prefetch but the next group's; 512 B against 256 B
/// -0.4 and +1.9%, so the nearer. (With the compiler's own code, 1 KiB was best: 256 B - 2 KiB
/// tried.) The next group's share, re-checked with ROW_CHUNK: 2 KiB against 1 KiB +0.26, +0.17%;
/// 512 B against 2 KiB -1.06%. A second prefetch per line, 2 KiB ahead toward L2 (prefetcht1), over
/// the 256 B one: -15.2 to -18.5% in four rounds (software prefetches hold the L1 miss buffers the
/// near ones need).

/// acc += x * even(w) + y * odd(w) for the 16 bf16 weights at `addr` (8 pairs): the even products
/// first, then the odd ones, as avx2_kernel_1x4 sums. Written in assembly because the compiler, given
/// intrinsics, loads each 32 bytes once and schedules every tile's even products ahead of the odd
/// ones, which keeps the loaded weights live across the twelve sums: with three tiles it spilled 34
/// registers a pair (105 instructions where 60 do). Here each 32 bytes is read twice, a load for
/// the shift (AVX2's shift by an immediate takes no memory operand) and the mask's own operand (a
/// hit in L1), and one temporary is live at a time, so twelve sums, x, y and the mask fit the 16
/// registers. C microbenchmark (2 threads, 64 MiB of tiles a pass, each pass against one reading
/// the same tiles with loads alone just before it, 300 rounds, twice): the compiler's kernel read
/// at 0.83 - 0.89 of the loads alone, this one 0.91 - 1.07. In decode steps (alternating harness,
/// both phases), with no prefetch but the next group's, 3.4 and 3.7% faster than the compiler's.
#define ROW_CHUNK(acc, addr)                                                                            \
    do {                                                                                                \
        __m256 t_;                                                                                      \
        __asm__("vmovdqu %[m], %[t]\n\t"                                                                 \
                "vpslld $16, %[t], %[t]\n\t"                                                             \
                "vfmadd231ps %[t], %[x], %[c]\n\t"                                                       \
                "vpand %[m], %[h], %[t]\n\t"                                                             \
                "vfmadd231ps %[t], %[y], %[c]"                                                           \
                : [c] "+x"(acc), [t] "=&x"(t_)                                                          \
                : [m] "m"(*(const __m256i *)(const void *)(addr)), [x] "x"(x), [y] "x"(y), [h] "x"(hi)); \
    } while (0)

static inline __attribute__((always_inline)) void avx2_row_tiles(int T, const float *xe, const float *xo, size_t pairs,
                                                                 const uint16_t *b, size_t stride, size_t next, float *out) {
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 c[3][4];
    for (int t = 0; t < T; t++)
        for (int v = 0; v < 4; v++) c[t][v] = _mm256_setzero_ps();
    const row_prefetch plan = row_prefetch_plan(pairs, stride, next);
    for (size_t j = 0; j < pairs; j++) {
        const __m256i *p[3];
        const size_t distance = row_prefetch_distance(plan, j);
        for (int t = 0; t < T; t++) {
            p[t] = (const __m256i *)(const void *)(b + t * stride + j * NR * 2);
            _mm_prefetch((const char *)p[t] + distance, _MM_HINT_T0);
            _mm_prefetch((const char *)(p[t] + 2) + distance, _MM_HINT_T0);
        }
        const __m256 x = _mm256_broadcast_ss(xe + j), y = _mm256_broadcast_ss(xo + j);
        for (int v = 0; v < 4; v++)
            for (int t = 0; t < T; t++) ROW_CHUNK(c[t][v], p[t] + v);
    }
    for (int t = 0; t < T; t++)
        for (int v = 0; v < 4; v++) _mm256_storeu_ps(out + t * NR + 8 * v, c[t][v]);
}
#undef ROW_CHUNK

/// One KC-pair block (j0..<j1) of one packed tile (`block`) run down every activation row: strips of
/// up to MR2 rows, each widened KA pairs at a time. 3-4 rows take the 4-row kernel on each half of
/// the tile, 2 rows and 1 row the whole tile; a narrow last tile goes through a 32-column buffer.
static void run_block_avx2(const act_src *src, size_t j0, size_t j1, const uint16_t *block, float *out, size_t ldo,
                           size_t cols) {
    const size_t rows = src->rows;
    float xe[MR2 * KA], xo[MR2 * KA], staged[MR2 * NR];
    for (size_t m = 0; m < rows; m += MR2) {
        const size_t r = rows - m < MR2 ? rows - m : MR2, strip = r > 2 ? 4 : r;
        float *o = out + m * ldo;
        size_t ld = ldo;
        if (cols < NR) { // the packed tile is zero past cols: run it whole, keep what exists
            if (j0 > 0)
                for (size_t i = 0; i < r; i++) memcpy(staged + i * NR, o + i * ldo, cols * sizeof(float));
            o = staged;
            ld = NR;
        }
        for (size_t c0 = j0; c0 < j1; c0 += KA) {
            const size_t n = j1 - c0 < KA ? j1 - c0 : KA;
            const float *pe = xe, *po = xo;
            size_t lx = KA;
            if (src->xs) { // split once per product: read in place (rows padded to 4 with zeros)
                const size_t half = split_half(src->pairs);
                pe = src->xs + m * 2 * half + c0;
                po = pe + half;
                lx = 2 * half;
            } else { // rows past `rows` are zero in the packed activations
                for (size_t i = 0; i < strip; i++)
                    widen_pairs_avx2(src->a32 + (m + i) * src->lda + c0, n, xe + i * KA, xo + i * KA);
            }
            const uint16_t *b = block + (c0 - j0) * NR * 2;
            const int acc = c0 > 0;
            if (strip == 4) {
                avx2_kernel_4x2(pe, po, lx, n, b, o, ld, r, acc);
                avx2_kernel_4x2(pe, po, lx, n, b + NR, o + 16, ld, r, acc); // 16 columns on
            } else if (strip == 2) {
                avx2_kernel_2x4(pe, po, lx, n, b, o, ld, r, acc);
            } else {
                avx2_kernel_1x4(pe, po, lx, n, b, o, ld, r, acc);
            }
        }
        if (cols < NR)
            for (size_t i = 0; i < r; i++) memcpy(out + (m + i) * ldo, staged + i * NR, cols * sizeof(float));
    }
}

static void gemm_bf16_avx2(const act_src *src, size_t k, const uint16_t *w, size_t ldw, size_t n0, size_t n1,
                           float *out, size_t ldo, uint16_t *scratch) {
    const size_t pairs = (k + 1) / 2;
    for (size_t n = n0; n < n1; n += NR) {
        const size_t cols = n1 - n < NR ? n1 - n : NR;
        const uint16_t *rowp[NR];
        for (size_t c = 0; c < cols; c++) rowp[c] = w + (n + c) * ldw;
        for (size_t j0 = 0; j0 < pairs; j0 += KC) {
            const size_t j1 = pairs - j0 < KC ? pairs : j0 + KC;
            pack_b_tile_avx2(rowp, cols, k, j0, j1, scratch);
            run_block_avx2(src, j0, j1, scratch, out + n, ldo, cols);
        }
    }
}

static void gemm_bf16_packed_avx2(const act_src *src, size_t k, const uint16_t *packed, size_t n, size_t t0, size_t t1,
                                  float *out, size_t ldo, size_t after) {
    const size_t pairs = (k + 1) / 2, stride = pairs * NR * 2;
    if (src->rows == 1 && src->xs) { // batch 1: whole tiles three at a time, then two (avx2_row_tiles)
        const size_t whole = t1 < n / NR ? t1 : n / NR, tiles = (n + NR - 1) / NR;
        const float *xe = src->xs, *xo = xe + split_half(pairs);
        for (size_t T; (T = row_group(t0, whole)) != 0; t0 += T) {
            const size_t next = next_tiles(t0, T, t1, after, tiles);
            if (T == 3) avx2_row_tiles(3, xe, xo, pairs, packed + t0 * stride, stride, next, out + t0 * NR);
            else avx2_row_tiles(2, xe, xo, pairs, packed + t0 * stride, stride, next, out + t0 * NR);
        }
    }
    for (size_t t = t0; t < t1; t++) {
        const size_t c = t * NR, cols = n - c < NR ? n - c : NR;
        const uint16_t *tile = packed + t * stride;
        for (size_t j0 = 0; j0 < pairs; j0 += KC) {
            const size_t j1 = pairs - j0 < KC ? pairs : j0 + KC;
            run_block_avx2(src, j0, j1, tile + j0 * NR * 2, out + c, ldo, cols);
        }
    }
}

/// v's values rounded to bf16 (nearest, ties to even) and back to f32, as omni_f32_to_bf16_bits does:
/// NaN becomes the positive quiet NaN.
static inline __m256 round_bf16_avx2(__m256 v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_and_si256(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), odd),
                                       _mm256_set1_epi32((int)0xFFFF0000u));
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    return _mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000)), nan);
}

/// The first pairs of one row of omni_split_activations, 8 at a time: evens and odds of two loads
/// gathered within 128-bit lanes, then the 64-bit halves put in order. Returns the pairs done.
static size_t split_row_avx2(const float *x, size_t pairs, int round_bf16, float *e, float *o) {
    size_t j = 0;
    for (; j + 8 <= pairs; j += 8) {
        const __m256 a = _mm256_loadu_ps(x + 2 * j), b = _mm256_loadu_ps(x + 2 * j + 8);
        // a0 a2 b0 b2 | a4 a6 b4 b6 -> a0 a2 a4 a6 b0 b2 b4 b6 (and the same for the odd ones)
        __m256 ev = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), od = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
        od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), _MM_SHUFFLE(3, 1, 2, 0)));
        if (round_bf16) {
            ev = round_bf16_avx2(ev);
            od = round_bf16_avx2(od);
        }
        _mm256_storeu_ps(e + j, ev);
        _mm256_storeu_ps(o + j, od);
    }
    return j;
}

#pragma clang attribute pop
#endif

/// Which kernels run at the calling thread's ISA level: 2 AVX512-BF16, 1 AVX2 + FMA, 0 portable C.
int omni_gemm_bf16_native(void) {
#if defined(__x86_64__) && defined(__clang__)
    const int isa = omni_isa_active();
    if (isa >= OMNI_ISA_AVX512 && omni_cpu_has_avx512bf16()) return 2;
    if (isa >= OMNI_ISA_AVX2) return 1;
#endif
    return 0;
}

static inline float bf16_at(const uint16_t *p) { return omni_bf16_bits_to_f32(*p); }

/// The AVX2 kernels' sums in C (bit for bit the same): every bf16 value widened to f32 (exact),
/// one fused multiply-add per element in k order.
static void gemm_bf16_portable(const uint16_t *a, size_t rows, size_t kp, size_t k, const uint16_t *w, size_t ldw,
                               size_t n0, size_t n1, float *out, size_t ldo) {
    for (size_t m = 0; m < rows; m++) {
        const uint16_t *x = a + m * kp;
        for (size_t n = n0; n < n1; n++) {
            const uint16_t *y = w + n * ldw;
            float sum = 0;
            for (size_t e = 0; e < kp; e++) sum = fmaf(bf16_at(x + e), e < k ? bf16_at(y + e) : 0.0f, sum);
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
    switch (omni_gemm_bf16_native()) {
    case 2: gemm_bf16_native(a, rows, kp, k, w, ldw, n0, n1, out, ldo, scratch); return;
    case 1: {
        const act_src src = {(const uint32_t *)(const void *)a, kp / 2, 0, 0, rows};
        gemm_bf16_avx2(&src, k, w, ldw, n0, n1, out, ldo, scratch);
        return;
    }
    default: break;
    }
#endif
    (void)scratch;
    gemm_bf16_portable(a, rows, kp, k, w, ldw, n0, n1, out, ldo);
}

size_t omni_gemm_bf16_packed_count(size_t n, size_t k) { return (n + NR - 1) / NR * ((k + 1) / 2) * NR * 2; }

void omni_pack_b_bf16_rows(const uint16_t *const *rows, size_t n, size_t k, size_t t0, size_t t1, uint16_t *packed) {
    const size_t pairs = (k + 1) / 2;
#if defined(__x86_64__) && defined(__clang__)
    const int isa = omni_isa_active();
#endif
    for (size_t t = t0; t < t1; t++) {
        const size_t c = t * NR, cols = n - c < NR ? n - c : NR;
        uint16_t *tile = packed + t * pairs * NR * 2;
#if defined(__x86_64__) && defined(__clang__)
        if (isa >= OMNI_ISA_AVX512) {
            pack_b_tile_rows(rows + c, cols, k, 0, pairs, tile);
            continue;
        }
        if (isa >= OMNI_ISA_AVX2) {
            pack_b_tile_avx2(rows + c, cols, k, 0, pairs, tile);
            continue;
        }
#endif
        pack_b_rest(rows + c, cols, k, 0, 0, pairs, tile);
    }
}

/// gemm_bf16_portable's sums over the packed layout.
static void gemm_bf16_packed_portable(const uint16_t *a, size_t rows, size_t kp, const uint16_t *packed, size_t n,
                                      size_t t0, size_t t1, float *out, size_t ldo) {
    const size_t pairs = kp / 2;
    for (size_t t = t0; t < t1; t++) {
        const size_t c0 = t * NR, cols = n - c0 < NR ? n - c0 : NR;
        const uint16_t *tile = packed + t * pairs * NR * 2;
        for (size_t m = 0; m < rows; m++) {
            const uint16_t *x = a + m * kp;
            for (size_t c = 0; c < cols; c++) {
                float sum = 0;
                for (size_t e = 0; e < kp; e++) sum = fmaf(bf16_at(x + e), bf16_at(tile + (e / 2) * NR * 2 + 2 * c + (e & 1)), sum);
                out[m * ldo + c0 + c] = sum;
            }
        }
    }
}

void omni_gemm_bf16_packed(const uint16_t *a, size_t rows, size_t kp, const uint16_t *packed, size_t n, size_t t0,
                           size_t t1, float *out, size_t ldo, size_t after) {
#if defined(__x86_64__) && defined(__clang__)
    switch (omni_gemm_bf16_native()) {
    case 2: gemm_bf16_packed_native(a, rows, kp, packed, n, t0, t1, out, ldo, after); return;
    case 1: {
        const act_src src = {(const uint32_t *)(const void *)a, kp / 2, 0, 0, rows};
        gemm_bf16_packed_avx2(&src, kp, packed, n, t0, t1, out, ldo, t1);
        return;
    }
    default: break;
    }
#endif
    gemm_bf16_packed_portable(a, rows, kp, packed, n, t0, t1, out, ldo);
}

/// Split activations (both precisions): the AVX2 kernels where the CPU has AVX2 (AVX-512 machines
/// too: the same sums everywhere), else C with the same sums.
static int split_avx2(void) {
#if defined(__x86_64__) && defined(__clang__)
    return omni_isa_active() >= OMNI_ISA_AVX2;
#else
    return 0;
#endif
}

size_t omni_split_count(size_t rows, size_t k) { return (rows + 3) / 4 * 4 * 2 * split_half((k + 1) / 2); }

void omni_split_activations(const float *x, size_t ldx, size_t rows, size_t k, int round_bf16, size_t r0, size_t r1,
                            float *xs) {
    const size_t pairs = (k + 1) / 2, half = split_half(pairs);
    for (size_t r = r0; r < r1; r++) {
        float *e = xs + r * 2 * half, *o = e + half;
        if (r >= rows) {
            // Only a last strip of 3 rows reads a padding row (it runs the 4-row kernel).
            if (rows % 4 == 3) memset(e, 0, 2 * half * sizeof(float));
            continue;
        }
        const float *xr = x + r * ldx;
        size_t j = 0;
#if defined(__x86_64__) && defined(__clang__)
        if (split_avx2()) j = split_row_avx2(xr, k / 2, round_bf16, e, o);
#endif
        for (; j < pairs; j++) {
            float a = xr[2 * j], b = 2 * j + 1 < k ? xr[2 * j + 1] : 0.0f;
            if (round_bf16) {
                a = omni_bf16_bits_to_f32(omni_f32_to_bf16_bits(a));
                b = omni_bf16_bits_to_f32(omni_f32_to_bf16_bits(b));
            }
            e[j] = a;
            o[j] = b;
        }
    }
}

void omni_gemm_split(const float *xs, size_t rows, size_t k, const uint16_t *w, size_t ldw, size_t n0, size_t n1,
                     float *out, size_t ldo, uint16_t *scratch) {
    const size_t pairs = (k + 1) / 2;
#if defined(__x86_64__) && defined(__clang__)
    if (split_avx2()) {
        const act_src src = {0, 0, xs, pairs, rows};
        gemm_bf16_avx2(&src, k, w, ldw, n0, n1, out, ldo, scratch);
        return;
    }
#endif
    (void)scratch;
    const size_t half = split_half(pairs);
    for (size_t m = 0; m < rows; m++)
        for (size_t n = n0; n < n1; n++) {
            const float *e = xs + m * 2 * half, *o = e + half;
            const uint16_t *y = w + n * ldw;
            float sum = 0;
            for (size_t j = 0; j < pairs; j++) {
                sum = fmaf(e[j], bf16_at(y + 2 * j), sum);
                sum = fmaf(o[j], 2 * j + 1 < k ? bf16_at(y + 2 * j + 1) : 0.0f, sum);
            }
            out[m * ldo + n] = sum;
        }
}

void omni_gemm_split_packed(const float *xs, size_t rows, size_t k, const uint16_t *packed, size_t n, size_t t0,
                            size_t t1, float *out, size_t ldo, size_t after) {
    const size_t pairs = (k + 1) / 2;
#if defined(__x86_64__) && defined(__clang__)
    if (split_avx2()) {
        const act_src src = {0, 0, xs, pairs, rows};
        gemm_bf16_packed_avx2(&src, k, packed, n, t0, t1, out, ldo, after);
        return;
    }
#endif
    const size_t half = split_half(pairs);
    for (size_t t = t0; t < t1; t++) {
        const size_t c0 = t * NR, cols = n - c0 < NR ? n - c0 : NR;
        const uint16_t *tile = packed + t * pairs * NR * 2;
        for (size_t m = 0; m < rows; m++)
            for (size_t c = 0; c < cols; c++) {
                const float *e = xs + m * 2 * half, *o = e + half;
                float sum = 0;
                for (size_t j = 0; j < pairs; j++) {
                    sum = fmaf(e[j], bf16_at(tile + j * NR * 2 + 2 * c), sum);
                    sum = fmaf(o[j], bf16_at(tile + j * NR * 2 + 2 * c + 1), sum);
                }
                out[m * ldo + c0 + c] = sum;
            }
    }
}
