// Hot CPU loops for the tensor runtime. Each entry point dispatches at run time to the widest
// instruction set the CPU has (AVX-512, AVX2+FMA, or portable C), so one binary runs on any
// x86-64 and the same source builds on aarch64. The kernels hold no state beyond the ISA choice.
#ifndef OMNI_CKERNELS_H
#define OMNI_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels, lowest first.
typedef enum {
    OMNI_ISA_PORTABLE = 0,
    OMNI_ISA_AVX2 = 1,     // AVX2 + FMA + F16C
    OMNI_ISA_AVX512 = 2,   // AVX-512 F/BW/VL (+ BF16 dot products where the CPU has them)
} omni_isa;

/// Storage dtypes a kernel can read weights from.
typedef enum {
    OMNI_DT_F32 = 0,
    OMNI_DT_BF16 = 1,
    OMNI_DT_F16 = 2,
} omni_dtype;

/// The widest level this CPU supports.
int omni_isa_detected(void);
/// The level kernels use now (starts as detected, or OMNI_CPU_ISA=portable|avx2|avx512 if lower).
int omni_isa_active(void);
/// Selects a level; values above the detected level are clamped. Returns the level in force.
int omni_isa_set(int level);
/// Selects a level for kernels called on the calling thread only (a negative level clears it, back
/// to the process-wide level); returns the level set, clamped to the detected one, or -1 when
/// cleared. Kernels run on other threads (a thread pool's workers) are not affected: tests use it
/// to compare levels without changing what concurrent work computes.
int omni_isa_set_thread(int level);
/// A spin-wait hint (x86 `pause`, Arm `yield`) for threads waiting on a flag.
void omni_cpu_relax(void);
/// Prefetches `bytes` from `p` toward the calling core's L2, a line at a time (no loads: memory
/// that is no longer mapped is skipped, not faulted).
void omni_prefetch_read(const void *p, size_t bytes);
/// The variant an A/B experiment runs now: 0 unless the alternating harness is on
/// (`OMNI_AB_EVERY`, `AlternatingHarness` in OmniTensor), which switches it between two values
/// every so many products. Code under test reads it to pick one of two versions; nothing
/// committed does (docs/benchmarks.md, "The alternating harness").
int omni_ab_variant(void);
void omni_ab_set_variant(int variant);
/// Whether the CPU has AVX512_BF16 (vdpbf16ps); informative only, results never depend on it.
int omni_cpu_has_avx512bf16(void);

// ---- dtype conversion (IEEE round-to-nearest-even, bit-exact with torch) ----
void omni_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
void omni_f32_to_bf16(const float *src, uint16_t *dst, size_t n);
void omni_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void omni_f32_to_f16(const float *src, uint16_t *dst, size_t n);
/// Converts n values of `dtype` at `src` to f32.
void omni_to_f32(const void *src, int dtype, float *dst, size_t n);

// ---- reductions and dot products ----
float omni_dot_f32(const float *a, const float *b, size_t n);
/// y[r] = sum_k w[r*ldw + k] * x[k] for r in [0, rows), w in `wdtype`, accumulation in f32.
void omni_gemv(const void *w, int wdtype, size_t ldw, const float *x, float *y, size_t rows, size_t k);
/// Small-batch GEMM straight from stored weights: y[i*ldy + r] = sum_k w[r*ldw + k] * x[i*ldx + k]
/// for i in [0, m), r in [0, rows). Weights are read once per tile of 4 rows of x (no f32 copy of
/// the weight matrix), so batched decode reads each weight byte ceil(m/4) times from cache, once
/// from memory.
void omni_gemm_small(const void *w, int wdtype, size_t ldw, const float *x, size_t ldx, float *y, size_t ldy,
                     size_t m, size_t rows, size_t k);
/// Sum of squares, accumulated in f32 lanes and reduced in double.
double omni_sumsq_f32(const float *x, size_t n);

// ---- elementwise (contiguous f32) ----
typedef enum { OMNI_ADD = 0, OMNI_SUB = 1, OMNI_MUL = 2, OMNI_DIV = 3, OMNI_MAX = 4, OMNI_MIN = 5, OMNI_POW = 6 } omni_binary_op;
/// out[i] = a[i] op b[i * b_step]; b_step 0 broadcasts one value. `out` may alias `a`.
void omni_binary_f32(int op, const float *a, const float *b, size_t b_step, float *out, size_t n);

typedef enum {
    OMNI_SILU = 0, OMNI_GELU_ERF = 1, OMNI_GELU_TANH = 2, OMNI_SIGMOID = 3, OMNI_TANH = 4,
    OMNI_EXP = 5, OMNI_NEG = 6, OMNI_SQRT = 7, OMNI_RSQRT = 8, OMNI_RELU = 9, OMNI_ABS = 10,
    OMNI_LOG = 11, OMNI_SIN = 12, OMNI_COS = 13, OMNI_SQUARE = 14, OMNI_RECIP = 15,
} omni_unary_op;
/// out[i] = f(x[i]); `out` may alias `x`.
void omni_unary_f32(int op, const float *x, float *out, size_t n);
/// out[i] = silu(g[i]) * u[i], the same values as OMNI_SILU then OMNI_MUL.
void omni_silu_mul_f32(const float *g, const float *u, float *out, size_t n);

/// y[i] += a * x[i]
void omni_axpy_f32(float a, const float *x, float *y, size_t n);
/// x[i] *= s
void omni_scale_f32(float *x, float s, size_t n);

/// Reads `bytes` (a multiple of 64) and returns a checksum, at full memory speed: the read
/// bandwidth probe of `omni bench machine`.
uint64_t omni_read_checksum(const void *p, size_t bytes);
/// The same over `streams` equal parts of `bytes` read side by side, 64 bytes of each in turn (each
/// part a multiple of 64 bytes; a remainder under 64 x streams is not read). Several streams per
/// core keep more reads in flight: on Zen 3, 4 streams per 512 KiB chunk read 1.4x one.
uint64_t omni_read_checksum_streams(const void *p, size_t bytes, size_t streams);

// ---- normalisation ----
/// Numerically stable softmax of one row, in place.
void omni_softmax_f32(float *x, size_t n);
/// out = x * rsqrt(mean(x^2) + eps) * w (w in `wdtype`, or none when w is NULL).
void omni_rmsnorm_f32(const float *x, const void *w, int wdtype, float *out, size_t n, float eps);

/// Blocks up to `bytes` come from (and go back to) the process heap instead of fresh mappings each
/// time, and up to twice that stays mapped after frees (glibc; elsewhere nothing).
void omni_keep_freed_memory(size_t bytes);

// ---- attention over a paged KV cache ----
/// Causal attention of `rows` query rows (q[r], head_dim floats) that share one KV head of one
/// sequence. Row r attends to the sequence's keys 0..<visible[r]; key j sits in cache slot
/// table[j / block] * block + j % block, its key at keys + slot * kstride (head_dim floats) and its
/// value at values + slot * vstride (value_dim floats). out[r] = softmax(scale * q[r] . k_j) v_j.
/// Each row's sums run in one fixed order whatever the other rows are, so a row's result does not
/// depend on how rows are grouped into calls. scratch: omni_paged_attention_scratch floats, aligned.
void omni_paged_attention_f32(size_t rows, const float *const *q, float *const *out, const size_t *visible,
                              const float *keys, size_t kstride, const float *values, size_t vstride,
                              const int32_t *table, size_t block, size_t head_dim, size_t value_dim, float scale,
                              float *scratch);
size_t omni_paged_attention_scratch(size_t max_visible, size_t head_dim);
/// The same over a bf16 cache, read where it lies: each key and value is widened (exactly) in
/// registers as it is used, so results equal the f32 kernel's over an f32 cache holding the same
/// values, and nothing is copied. scratch: omni_paged_attention_scratch floats, as for f32.
void omni_paged_attention_bf16(size_t rows, const float *const *q, float *const *out, const size_t *visible,
                               const uint16_t *keys, size_t kstride, const uint16_t *values, size_t vstride,
                               const int32_t *table, size_t block, size_t head_dim, size_t value_dim, float scale,
                               float *scratch);

// ---- bf16-precision GEMM: the backend's opt-in bf16 matmul mode (gemm_bf16.c says what it computes) ----
/// Which kernels run it at the calling thread's ISA level: 2 AVX512-BF16, 1 AVX2 + FMA (values
/// widened to f32), 0 a slow portable loop with the AVX2 kernels' sums.
int omni_gemm_bf16_native(void);
/// Activations f32 [rows][ldx] (k used) -> bf16 [rows][kp], kp = k rounded up to even, zero-padded.
/// The buffer must hold rows rounded up to a multiple of 8, the extra rows zero.
void omni_pack_a_bf16(const float *x, size_t ldx, size_t rows, size_t k, uint16_t *packed, size_t kp);
/// out[m][n] = sum over k of a[m][k] * w[n][k] for m < rows and n0 <= n < n1, a packed by
/// omni_pack_a_bf16, w bf16 [N][ldw]. scratch holds omni_gemm_bf16_scratch(k) uint16.
void omni_gemm_bf16(const uint16_t *a, size_t rows, size_t kp, size_t k, const uint16_t *w, size_t ldw,
                    size_t n0, size_t n1, float *out, size_t ldo, uint16_t *scratch);
/// uint16 values of scratch omni_gemm_bf16 needs for products over k (one packed weight tile).
size_t omni_gemm_bf16_scratch(size_t k);
/// uint16 values of the weights [n][k] packed once for omni_gemm_bf16_packed: tiles of 32 output
/// columns (the last zero-padded), each the whole of k in pairs ([ceil(k/2)][32][2]).
size_t omni_gemm_bf16_packed_count(size_t n, size_t k);
/// Packs tiles t0..<t1 (output columns 32t..<32t+32) of the bf16 weights whose row i (k values) is
/// at rows[i], i < n: one weight's rows, or the rows of parts stacked without a stacked copy.
void omni_pack_b_bf16_rows(const uint16_t *const *rows, size_t n, size_t k, size_t t0, size_t t1, uint16_t *packed);
/// omni_gemm_bf16's products, summed in the same order (so bit for bit the same), for the output
/// tiles t0..<t1 of weights packed by omni_pack_b_bf16_rows; any number of rows, 1 included.
/// `after` as in omni_gemm_split_packed (AVX512-BF16's batch-1 kernel prefetches by it).
void omni_gemm_bf16_packed(const uint16_t *a, size_t rows, size_t kp, const uint16_t *packed, size_t n, size_t t0,
                           size_t t1, float *out, size_t ldo, size_t after);
/// Products over bf16 weights with the activations split once into even and odd k elements, f32
/// (the default precision) or rounded to bf16 first (`round_bf16`: bf16 mode without AVX512-BF16):
/// rows r0..<r1 of a buffer of omni_split_count floats (rows padded to a multiple of 4; a row past
/// `rows` is written as zeros where a kernel reads it, i.e. when rows % 4 == 3; each row's even and
/// odd halves padded by 16 floats, which keeps a strip's streams out of one L1 set at K = 10240),
/// which the kernels read in place.
size_t omni_split_count(size_t rows, size_t k);
void omni_split_activations(const float *x, size_t ldx, size_t rows, size_t k, int round_bf16, size_t r0, size_t r1,
                            float *xs);
/// omni_gemm_bf16 and omni_gemm_bf16_packed over split activations: every output summed in k order,
/// one FMA per element, whatever the number of rows and whichever of the two is called; AVX2
/// wherever the CPU has it (AVX-512 machines included), else portable C with the same sums (for
/// bf16-rounded activations, the bits of omni_gemm_bf16* at the AVX2 and portable levels).
void omni_gemm_split(const float *xs, size_t rows, size_t k, const uint16_t *w, size_t ldw, size_t n0, size_t n1,
                     float *out, size_t ldo, uint16_t *scratch);
/// `after`: the first tile the calling thread will probably multiply once tiles t0..<t1 are done
/// (the tiles' count or more: none known). One row reads its tiles in groups; the end of each
/// group prefetches the start of the next group it runs (within t0..<t1, else at `after`) instead
/// of running on into the next tiles in memory. It moves prefetches only, never a result.
void omni_gemm_split_packed(const float *xs, size_t rows, size_t k, const uint16_t *packed, size_t n, size_t t0,
                            size_t t1, float *out, size_t ldo, size_t after);

#ifdef __cplusplus
}
#endif

#endif
