// Fused GRU layer (one direction) on packed sequences, CPU, forward and backward.
//
// Layout: PackedSequence order. Step t owns packed rows [off_t, off_t + batch_sizes[t]) and
// row b of a step is the b-th sequence of the (length-sorted) batch; the reverse
// direction walks the steps from the last to the first, and sequences that start at a
// step (rows batch_sizes[t+1] .. batch_sizes[t]) take their state from h0.
//
// Forward: input projection of all steps in one GEMM (or, for symbol indices, a gather of
// W_ih columns done inside the gate pass), with the biases folded in, then per step one
// GEMM for the recurrent product of the active rows and one fused pass over the gates
// that also saves r, z, n, (W_hn h + b_hn) and h_prev for backward. Nothing is allocated
// per step.
// Backward mirrors it: per step one fused pass for the gate gradients, one GEMM for
// dh_prev and, in float32/float64, GEMMs that use the step's gate gradients while they
// are in cache: the step's dW_hh added to a per-block partial sum and, for dense input,
// the step's rows of grad_input and its dW_ih (another partial sum). Mixed precision
// keeps [N, 3H] gradients for large bf16 GEMMs after the steps instead. The gate pass also
// accumulates the bias gradients and, for symbol indices, the scatter-add into dW_ih, so
// no extra pass over the [N, 3H] gradients is needed: a step's sums in the compute dtype,
// then added to the block's double sums (for dW_ih only the rows of the step's symbols).
// With several threads the batch is split into blocks of rows, each running all its
// steps on one thread (see row_blocks); the forward sizes two blocks by the threads'
// measured speeds (see ForwardBalance).
//
// Gates follow torch.nn.GRU: r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
// h' = n + z * (h - n).
#include "gru_kernels.h"
#include "gru_checks.h"
#include "seqkit.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

// Fortran BLAS, declared as ATen declares it (LP64) and called on raw pointers for the
// per-step products: the ATen op costs a dispatch and two tensor views per call, and
// there are two or three calls per block per step. Weak: a torch build that exports no BLAS
// leaves them null and the ATen ops are used instead.
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc) __attribute__((weak));
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc) __attribute__((weak));
}

namespace seqkit {
namespace {

inline bool blas_call(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                      const float* al, const float* a, const int* lda, const float* b,
                      const int* ldb, const float* be, float* c, const int* ldc) {
  if (sgemm_ == nullptr) return false;
  sgemm_(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
  return true;
}
inline bool blas_call(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                      const double* al, const double* a, const int* lda, const double* b,
                      const int* ldb, const double* be, double* c, const int* ldc) {
  if (dgemm_ == nullptr) return false;
  dgemm_(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
  return true;
}

// Row-major C[m, n] = beta * C + A[m, k] @ op(B), B stored [n, k] (b_t: op(B) = B^T) or
// [k, n]; all contiguous. Returns false where no BLAS symbol is available.
template <typename T>
bool gemm_rows(int64_t m, int64_t n, int64_t k, const T* a, const T* b, bool b_t, T beta, T* c) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (m > kMax || n > kMax || k > kMax) return false;
  // column-major view: C^T [n, m] = op(B)^T [n, k] @ A^T [k, m]
  const int M = static_cast<int>(n), N = static_cast<int>(m), K = static_cast<int>(k);
  const int lda = b_t ? K : M, ldb = K, ldc = M;
  const T one = T(1);
  return blas_call(b_t ? "T" : "N", "N", &M, &N, &K, &one, b, &lda, a, &ldb, &beta, c, &ldc);
}

// Row-major C[n1, n2] += A[k, n1]^T @ B[k, n2], all contiguous: a weight gradient summed
// over k rows. Returns false where no BLAS symbol is available.
template <typename T>
bool gemm_tn_acc(int64_t n1, int64_t n2, int64_t k, const T* a, const T* b, T* c) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (n1 > kMax || n2 > kMax || k > kMax) return false;
  // column-major view: C^T [n2, n1] += B^T [n2, k] @ A [k, n1]
  const int M = static_cast<int>(n2), N = static_cast<int>(n1), K = static_cast<int>(k);
  const T one = T(1);
  return blas_call("N", "T", &M, &N, &K, &one, b, &M, a, &N, &one, c, &M);
}

using kernels::bwd_rows;
using kernels::fwd_rows;

// float <-> bfloat16 conversions of the mixed-precision path's per-step operands: plain
// loops (round to nearest even, as torch), not ATen copies, whose dispatch would cost more
// than the conversion of a step's few thousand values.
SEQKIT_CLONES static void to_bf16(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, sizeof u);
    // NaN stays NaN (quiet); others round to nearest even
    dst[i] = (u & 0x7fffffffu) > 0x7f800000u ? uint16_t((u >> 16) | 0x40u)
                                             : uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
}
// dst[i] (+)= float(src[i])
template <bool kAdd>
SEQKIT_INLINE void from_bf16_impl(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = uint32_t(src[i]) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    dst[i] = kAdd ? dst[i] + f : f;
  }
}
SEQKIT_CLONES static void from_bf16(const uint16_t* src, float* dst, int64_t n) {
  from_bf16_impl<false>(src, dst, n);
}
SEQKIT_CLONES static void add_from_bf16(const uint16_t* src, float* dst, int64_t n) {
  from_bf16_impl<true>(src, dst, n);
}
inline uint16_t* bf16_ptr(const at::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr<at::BFloat16>()); }

// Mixed precision, rows [b0, b0 + rows) of a block: C (+)= A @ B on bf16 operands. The
// rows of A (float, a) are converted into a16, multiplied by the bf16 matrix b through ATen
// (oneDNN's bf16 kernels) into c16, and converted back into C (float, c): assigned, or with
// kAdd added. a16 and c16 are [B, k] and [B, n] bf16 scratch indexed like the batch.
template <bool kAdd>
void mm_rows_bf16(const float* a, int64_t b0, int64_t rows, const at::Tensor& a16, const at::Tensor& b,
                  const at::Tensor& c16, float* c) {
  const int64_t k = a16.size(1), n = c16.size(1);
  at::Tensor c_rows = c16.narrow(0, b0, rows);
  to_bf16(a, bf16_ptr(a16) + b0 * k, rows * k);
  at::mm_out(c_rows, a16.narrow(0, b0, rows), b);
  if (kAdd) {
    add_from_bf16(bf16_ptr(c16) + b0 * n, c, rows * n);
  } else {
    from_bf16(bf16_ptr(c16) + b0 * n, c, rows * n);
  }
}

// Threads split the batch by rows: block k owns rows [blocks[k], blocks[k+1]) of every step.
// A row's recurrence involves only its own row (h_t[b] needs h_{t-1}[b], dh_{t-1}[b] needs
// dh_t[b]), so each block runs all the steps of its rows on one thread with no barrier
// between steps: a layer costs one fork/join, a thread's rows stay in its cache, and a
// thread held up by the machine delays only its own rows. Blocks get about equal numbers
// of row-steps (rows are sorted by length: the first weigh more; the forward's two blocks
// get shares that follow the threads' speeds instead) and at least `grain`
// rows, enough for efficient GEMM slices (8k elements of h, 64 rows at H = 128); a batch
// with fewer rows is one block on the calling thread, with MKL free to thread its GEMMs.
inline int64_t grain_rows(int64_t H) { return std::max<int64_t>(32, 8192 / std::max<int64_t>(H, 1)); }

// share0 (two blocks only): the fraction of the work that goes to the first block (0.5:
// equal row-steps).
std::vector<int64_t> row_blocks(const Steps& st, int64_t B, int64_t grain, double share0 = 0.5) {
  const int64_t threads = at::in_parallel_region() ? 1 : std::max<int64_t>(at::get_num_threads(), 1);
  const int64_t n = std::max<int64_t>(1, std::min(threads, B / std::max<int64_t>(grain, 1)));
  std::vector<int64_t> blocks(n + 1, B);
  blocks[0] = 0;
  if (n == 1) return blocks;
  // len[b]: the number of steps row b takes part in (those whose batch size exceeds b)
  std::vector<int64_t> len(B);
  for (int64_t b = B - 1, t = 0; b >= 0; --b) {
    while (t < st.T && st.bs[t] > b) ++t;
    len[b] = t;
  }
  int64_t k = 1, acc = 0;
  for (int64_t b = 0; b < B && k < n; ++b) {
    acc += len[b];
    // rows [blocks[k-1], b] hold the k-th share of the work
    if (n == 2 ? double(acc) >= share0 * double(st.N) : acc * n >= k * st.N) {
      blocks[k] = std::min(std::max(b + 1, blocks[k - 1] + grain), B - grain * (n - k));
      ++k;
    }
  }
  return blocks;
}

// The forward's split between two threads follows their measured speeds. Both threads run
// the same kind of work, yet on a shared machine one core is often slower than the other,
// for seconds and by 10-25% (measured on the project's 2-core VM): with equal shares the
// fast thread would wait. Each forward call with two blocks times them, and the next call
// gives each thread a share of the row-steps in proportion to its speed (smoothed over
// calls, kept within [0.3, 0.7]). This moves rows between threads, never the arithmetic
// of a row: rows are independent in the forward (no sums across rows), and every GEMM call
// gets at least 4 rows (kMinGemmRows), so a row's product is the same bits whichever call
// holds it. The backward keeps equal shares: its per-block partial sums fix the order of
// its sums across rows. SEQKIT_GRU_FORWARD_SHARE=x fixes block 0's share at x (tests).
struct ForwardBalance {
  std::atomic<double> share0{0.5};
  double next(double forced) const { return forced > 0.0 ? forced : share0.load(std::memory_order_relaxed); }
  void update(double work0, double sec0, double work1, double sec1) {
    if (!(sec0 > 0.0 && sec1 > 0.0 && work0 > 0.0 && work1 > 0.0)) return;
    const double s0 = work0 / sec0, s1 = work1 / sec1;
    const double target = s0 / (s0 + s1);
    const double old = share0.load(std::memory_order_relaxed);
    share0.store(std::min(0.7, std::max(0.3, 0.5 * old + 0.5 * target)), std::memory_order_relaxed);
  }
};
ForwardBalance& forward_balance() {
  static ForwardBalance b;
  return b;
}
double forced_forward_share() {
  const char* v = std::getenv("SEQKIT_GRU_FORWARD_SHARE");
  if (v == nullptr || *v == 0) return 0.0;
  const double x = std::atof(v);
  return x > 0.0 && x < 1.0 ? x : 0.0;
}
// A row's GEMM result is the same bits in every call of at least this many rows (MKL's
// sgemm takes another path for 1-3 rows: measured for both per-step shapes, every split).
constexpr int64_t kMinGemmRows = 4;

// Row-steps (the balance's unit of work) of rows [r0, r1).
int64_t block_work(const Steps& st, int64_t r0, int64_t r1) {
  int64_t w = 0;
  for (int64_t t = 0; t < st.T; ++t) w += std::max<int64_t>(0, std::min(r1, st.bs[t]) - r0);
  return w;
}

// f(r0, r1, slot) for every block, in parallel; slot is the block's index (for per-block
// partial sums). (at::parallel_for only forks when the extension is compiled with
// -fopenmp, which setup.py and the JIT build pass; the worker threads then run below the
// autograd layer, like the calling thread does inside this kernel.)
// seconds, when given, receives each block's time.
template <typename F>
inline void for_blocks(const std::vector<int64_t>& blocks, const F& f, double* seconds = nullptr) {
  const int64_t n = static_cast<int64_t>(blocks.size()) - 1;
  if (n == 1) {
    f(blocks[0], blocks[1], int64_t(0));
    return;
  }
  at::parallel_for(0, n, 1, [&](int64_t k0, int64_t k1) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    for (int64_t k = k0; k < k1; ++k) {
      if (seconds == nullptr) {
        f(blocks[k], blocks[k + 1], k);
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      f(blocks[k], blocks[k + 1], k);
      seconds[k] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  });
}

// Whether every element of the contiguous tensor h is zero (-0.0 too; NaN is not): an OR
// of the bits below the sign over blocks of 4096 elements (a loop the compiler vectorizes),
// leaving at the first block with a nonzero element.
template <typename U>
SEQKIT_INLINE bool zero_bits_impl(const void* data, int64_t n) {
  constexpr U kMagnitude = ~(U(1) << (8 * sizeof(U) - 1));
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (int64_t i = 0; i < n; i += 4096) {
    U any = 0;
    for (int64_t j = i, e = std::min(n, i + 4096); j < e; ++j) {
      U u;
      std::memcpy(&u, p + j * sizeof(U), sizeof u);
      any |= u & kMagnitude;
    }
    if (any != 0) return false;
  }
  return true;
}
SEQKIT_CLONES static bool zero_bits32(const void* p, int64_t n) { return zero_bits_impl<uint32_t>(p, n); }
SEQKIT_CLONES static bool zero_bits64(const void* p, int64_t n) { return zero_bits_impl<uint64_t>(p, n); }

bool is_all_zero(const at::Tensor& h) {
  TORCH_INTERNAL_ASSERT(h.is_contiguous() && (h.scalar_type() == at::kFloat || h.scalar_type() == at::kDouble));
  return h.scalar_type() == at::kFloat ? zero_bits32(h.data_ptr(), h.numel()) : zero_bits64(h.data_ptr(), h.numel());
}

// dst[c, r] = f(src[r, c], r) for src [R, C] (a transpose), in tiles of 16 columns: each
// row of src is read 16 entries at a time and the 16 rows of dst being written stay in
// cache across the rows of src (2.6x faster than a plain loop for W_ih^T at V = 58).
template <typename S, typename D, typename F>
void transpose_tiled(const S* src, int64_t R, int64_t C, D* dst, const F& f) {
  constexpr int64_t kTile = 16;
  for (int64_t c0 = 0; c0 < C; c0 += kTile) {
    const int64_t c1 = std::min(C, c0 + kTile);
    for (int64_t r = 0; r < R; ++r) {
      const S* row = src + r * C;
      for (int64_t c = c0; c < c1; ++c) dst[c * R + r] = f(row[c], r);
    }
  }
}

// The table that symbol indices gather their input projection from: W_ih^T with the
// folded biases, out[v, g] = w[g, v] + (b_ih + b_hh for the r and z gates, b_ih for n).
template <typename W, typename T>
void index_table(const W* w, int64_t G, int64_t V, int64_t H, const T* bih, const T* bhh, T* out) {
  std::vector<T> bias(G);
  for (int64_t g = 0; g < G; ++g) bias[g] = g < 2 * H ? bih[g] + bhh[g] : bih[g];
  transpose_tiled(w, G, V, out, [&](W x, int64_t g) { return static_cast<T>(x) + bias[g]; });
}

// Symbol indices as a contiguous int64 tensor, each checked to lie in [0, V).
at::Tensor checked_indices(const at::Tensor& input, int64_t V, const char* who) {
  at::Tensor idx = input.to(at::kLong).contiguous();
  const int64_t* ip = idx.data_ptr<int64_t>();
  for (int64_t i = 0, n = idx.numel(); i < n; ++i) {
    TORCH_CHECK_INDEX(ip[i] >= 0 && ip[i] < V, who, ": symbol index ", ip[i], " at packed row ", i,
                      " is outside [0, ", V, "); input_size must be the number of symbols");
  }
  return idx;
}

// Rows [0, n) of step t continue from the previous step; rows [n, batch_sizes[t]) start
// there from h0 (all of them at the first step processed).
inline int64_t continuing_rows(const Steps& st, int64_t t, bool reverse) {
  if (reverse) return t + 1 < st.T ? st.bs[t + 1] : 0;
  return t > 0 ? st.bs[t] : 0;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> gru_forward_cpu(
    const at::Tensor& input, const at::Tensor& batch_sizes, const at::Tensor& h0_in,
    const at::Tensor& w_ih_in, const at::Tensor& w_hh_in, const c10::optional<at::Tensor>& b_ih,
    const c10::optional<at::Tensor>& b_hh, bool reverse) {
  const char* who = "seqkit::gru_forward";
  const GruForwardArgs args = check_gru_forward_args(input, batch_sizes, h0_in, w_ih_in, w_hh_in, b_ih,
                                                     b_hh, who);
  const int64_t H = args.H, G = args.G, N = args.N, B = args.B;
  const auto dtype = args.dtype;
  const bool index_input = args.index_input, mixed = args.mixed;
  const Steps& st = args.steps;
  const at::Tensor w_hh = args.w_hh;
  const auto opts = h0_in.options();  // the compute dtype (float32 in mixed precision)
  at::Tensor bias_ih = args.bias_ih, bias_hh = args.bias_hh;

  // input projection with the biases folded in (b_ir + b_hr, b_iz + b_hz, b_in; b_hn stays
  // inside r * (W_hn h + b_hn)): [N, 3H] for dense input, W_ih^T + bias [V, 3H] gathered per
  // row for symbol indices
  at::Tensor gi, idx;
  if (index_input) {
    const int64_t V = w_ih_in.size(1);
    idx = checked_indices(input, V, who);
    gi = at::empty({V, G}, opts);
    const at::Tensor w = w_ih_in.contiguous();
    AT_DISPATCH_FLOATING_TYPES(dtype, "seqkit_gru_index_table", [&] {
      using T = scalar_t;
      const T* bih = bias_ih.data_ptr<T>();
      const T* bhh = bias_hh.data_ptr<T>();
      if (mixed) {
        index_table(w.data_ptr<at::BFloat16>(), G, V, H, bih, bhh, gi.data_ptr<T>());
      } else {
        index_table(w.data_ptr<T>(), G, V, H, bih, bhh, gi.data_ptr<T>());
      }
    });
  } else {
    at::Tensor bias_x = bias_ih.clone();
    bias_x.narrow(0, 0, 2 * H).add_(bias_hh.narrow(0, 0, 2 * H));
    gi = mixed ? at::mm(input.to(at::kBFloat16), w_ih_in.t()).to(dtype).add_(bias_x)
               : at::addmm(bias_x, input.contiguous(), w_ih_in.t());
  }

  at::Tensor output = at::empty({N, H}, opts);
  at::Tensor gates = at::empty({N, 4 * H}, opts);
  at::Tensor hprev = at::empty({N, H}, opts);
  at::Tensor hbuf = h0_in.contiguous().clone();
  at::Tensor gh = at::empty({std::max<int64_t>(B, 1), G}, opts);
  const at::Tensor w_hh_t = w_hh.t();
  // float32 (the MKL sgemm path) follows the threads' speeds; float64 and mixed precision
  // (oneDNN's bf16 products) keep equal shares
  const bool balance = dtype == at::kFloat && !mixed && sgemm_ != nullptr;
  const std::vector<int64_t> blocks =
      row_blocks(st, B, grain_rows(H), balance ? forward_balance().next(forced_forward_share()) : 0.5);
  double block_seconds[2] = {0.0, 0.0};
  const bool timed = balance && blocks.size() == 3;
  // With h0 = 0 (the usual case) rows that start from h0 skip the recurrent GEMM: at
  // the first step that is the whole batch, about 1/T of the forward GEMM work.
  const bool h0_zero = is_all_zero(hbuf);
  // mixed precision: bf16 copies of the continuing rows of h and their product; each row
  // block converts its own rows and multiplies them through ATen (oneDNN's bf16
  // kernels) on the thread that runs the block
  at::Tensor h16 = mixed ? at::empty({std::max<int64_t>(B, 1), H}, opts.dtype(at::kBFloat16)) : at::Tensor();
  at::Tensor gh16 = mixed ? at::empty({std::max<int64_t>(B, 1), G}, opts.dtype(at::kBFloat16)) : at::Tensor();

  AT_DISPATCH_FLOATING_TYPES(dtype, "seqkit_gru_forward", [&] {
    const scalar_t* gip = gi.data_ptr<scalar_t>();
    const int64_t* ip = index_input ? idx.data_ptr<int64_t>() : nullptr;
    const scalar_t* bhn = bias_hh.data_ptr<scalar_t>() + 2 * H;
    scalar_t* hb = hbuf.data_ptr<scalar_t>();
    const scalar_t* whp = mixed ? nullptr : w_hh.data_ptr<scalar_t>();  // bf16 in mixed: GEMM via ATen
    scalar_t* ghp = gh.data_ptr<scalar_t>();
    scalar_t* gp = gates.data_ptr<scalar_t>();
    scalar_t* hpp = hprev.data_ptr<scalar_t>();
    scalar_t* op = output.data_ptr<scalar_t>();
    for_blocks(blocks, [&](int64_t r0, int64_t r1, int64_t) {
      for (int64_t k = 0; k < st.T; ++k) {
        const int64_t t = reverse ? st.T - 1 - k : k;
        const int64_t bs = st.bs[t], off = st.off[t];
        const int64_t b0 = r0, b1 = std::min(r1, bs);  // this block's rows active at step t
        if (b1 <= b0) continue;
        const int64_t nc = h0_zero ? continuing_rows(st, t, reverse) : bs;
        int64_t g1 = std::min(b1, nc);
        // at least kMinGemmRows rows per product (see ForwardBalance): the extra rows are
        // this block's own, inactive at this step or starting from h0 (their gh is zeroed
        // below), so only their unused gh rows change
        if (balance && g1 > b0) g1 = std::max(g1, std::min(r1, b0 + kMinGemmRows));
        if (g1 > b0 && mixed) {  // gh = h @ W_hh^T on bf16 operands, for this block's rows
          mm_rows_bf16<false>(reinterpret_cast<const float*>(hb + b0 * H), b0, g1 - b0, h16, w_hh_t, gh16,
                              reinterpret_cast<float*>(ghp + b0 * G));
        } else if (g1 > b0 && !gemm_rows<scalar_t>(g1 - b0, G, H, hb + b0 * H, whp, true, scalar_t(0),
                                                    ghp + b0 * G)) {
          at::Tensor gh_c = gh.narrow(0, b0, g1 - b0);
          at::mm_out(gh_c, hbuf.narrow(0, b0, g1 - b0), w_hh_t);
        }
        const int64_t z0 = std::max(b0, nc);
        if (b1 > z0) std::fill(ghp + z0 * G, ghp + b1 * G, scalar_t(0));
        fwd_rows(b0, b1, H, off, gip, ip, ghp, bhn, hb, gp, hpp, op);
      }
    }, timed ? block_seconds : nullptr);
  });
  if (timed) {
    forward_balance().update(double(block_work(st, blocks[0], blocks[1])), block_seconds[0],
                             double(block_work(st, blocks[1], blocks[2])), block_seconds[1]);
  }
  return {output, hbuf, gates, hprev};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
gru_backward_cpu(const at::Tensor& grad_output_in, const at::Tensor& grad_hn,
                 const at::Tensor& input, const at::Tensor& batch_sizes, const at::Tensor& h0,
                 const at::Tensor& w_ih, const at::Tensor& w_hh_in, const at::Tensor& gates_in,
                 const at::Tensor& hprev_in, bool reverse, bool has_bias, bool input_grad,
                 bool h0_grad) {
  const char* who = "seqkit::gru_backward";
  const int64_t H = w_hh_in.size(1);
  const int64_t G = 3 * H;
  const int64_t N = input.size(0);
  const int64_t B = h0.size(0);
  const Steps st = check_steps(batch_sizes, N, B, who);
  const bool index_input = !at::isFloatingType(input.scalar_type());
  const at::Tensor w_hh = w_hh_in.contiguous();
  // bfloat16 weights: the forward ran in mixed precision (see gru_checks.h); the gate
  // gradients and the state stay in the compute dtype, the GEMMs take bf16 operands
  const bool mixed = w_hh.scalar_type() == at::kBFloat16;
  const auto opts = gates_in.options();  // the compute dtype
  // an empty grad_output stands for zeros (the output was not used, e.g. only h_n was)
  const bool has_gout = grad_output_in.numel() != 0;
  TORCH_CHECK_VALUE((!has_gout || grad_output_in.sizes() == at::IntArrayRef({N, H})) &&
                        grad_hn.sizes() == at::IntArrayRef({B, H}),
                    who, ": gradient shapes do not match the forward outputs (grad_output may be "
                    "empty for zero)");
  const at::Tensor gout = has_gout ? grad_output_in.contiguous() : at::Tensor();
  const at::Tensor gates = gates_in.contiguous();
  const at::Tensor hprev = hprev_in.contiguous();
  const int64_t V = index_input ? w_ih.size(1) : 0;
  const at::Tensor idx = index_input ? checked_indices(input, V, who) : at::Tensor();
  at::Tensor dhbuf = grad_hn.contiguous().clone();
  // dW_hh: in float32/float64 each block adds its rows' dgh^T @ h_prev to its own partial
  // [3H, H] right after the step's gate pass, while those rows are in its cache, so dgh is
  // a [B, 3H] scratch for one step; mixed precision keeps all [N, 3H] for one bf16 GEMM
  const bool step_wgrad = !mixed;
  at::Tensor dgh = at::empty({step_wgrad ? std::max<int64_t>(B, 1) : N, G}, opts);
  // dgi: gate gradients of the input projection of dense input (with symbol indices they go
  // straight into each block's partial grad W_ih^T instead). Likewise per step in
  // float32/float64: a [B, 3H] scratch from which the block writes its rows of grad_input
  // (dgi @ W_ih) and adds dgi^T @ x to its partial grad W_ih [3H, I]; mixed precision keeps
  // all [N, 3H] for two bf16 GEMMs after the steps
  const bool step_igrad = !index_input && !mixed;
  const int64_t I = index_input ? 0 : input.size(1);
  at::Tensor dgi = index_input ? at::Tensor() : at::empty({step_igrad ? std::max<int64_t>(B, 1) : N, G}, opts);
  const at::Tensor x_dense = step_igrad ? input.contiguous() : at::Tensor();
  const at::Tensor w_ih_c = step_igrad ? w_ih.contiguous() : at::Tensor();
  at::Tensor grad_input = step_igrad && input_grad ? at::empty({N, I}, opts) : at::Tensor();
  // per-block partial sums, in double: bias gradients [4H] (r, z, n of the input
  // projection, n of the recurrent product) and, for indices, grad W_ih^T [V, 3H] (whose
  // column sums are then the first 3H bias sums)
  const std::vector<int64_t> blocks = row_blocks(st, B, grain_rows(H));
  const int64_t slots = static_cast<int64_t>(blocks.size()) - 1;
  const int64_t per_slot = 4 * H + V * G;
  // (each block zeroes its own slot on its own thread, where it then uses it)
  at::Tensor partial = at::empty({slots, per_slot}, opts.dtype(at::kDouble));
  // and each block's sums of the current step, in the compute dtype, added to its double
  // sums after the step (the rows of grad W_ih^T only for the symbols the step used)
  at::Tensor step_sums = at::empty({slots, per_slot}, opts);
  at::Tensor wpart = step_wgrad ? at::empty({slots, G, H}, opts) : at::Tensor();
  at::Tensor wipart = step_igrad ? at::empty({slots, G, I}, opts) : at::Tensor();
  // rows whose h_prev is h0 add nothing to dW_hh when h0 = 0
  const bool h0_zero = is_all_zero(h0.contiguous());
  at::Tensor dg16 = mixed ? at::empty({std::max<int64_t>(B, 1), G}, opts.dtype(at::kBFloat16)) : at::Tensor();
  at::Tensor dh16 = mixed ? at::empty({std::max<int64_t>(B, 1), H}, opts.dtype(at::kBFloat16)) : at::Tensor();

  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "seqkit_gru_backward", [&] {
    const scalar_t* gop = has_gout ? gout.data_ptr<scalar_t>() : nullptr;
    const scalar_t* gp = gates.data_ptr<scalar_t>();
    const scalar_t* hpp = hprev.data_ptr<scalar_t>();
    const int64_t* ip = index_input ? idx.data_ptr<int64_t>() : nullptr;
    scalar_t* dh = dhbuf.data_ptr<scalar_t>();
    scalar_t* dip = index_input ? nullptr : dgi.data_ptr<scalar_t>();
    scalar_t* dgp = dgh.data_ptr<scalar_t>();
    double* pp = partial.data_ptr<double>();
    scalar_t* ssp = step_sums.data_ptr<scalar_t>();
    scalar_t* wpp = step_wgrad ? wpart.data_ptr<scalar_t>() : nullptr;
    const scalar_t* whp = mixed ? nullptr : w_hh.data_ptr<scalar_t>();  // bf16 in mixed: GEMM via ATen
    const scalar_t* xp = step_igrad ? x_dense.data_ptr<scalar_t>() : nullptr;
    const scalar_t* wip = step_igrad ? w_ih_c.data_ptr<scalar_t>() : nullptr;
    scalar_t* gip = grad_input.defined() ? grad_input.data_ptr<scalar_t>() : nullptr;
    scalar_t* wipp = step_igrad ? wipart.data_ptr<scalar_t>() : nullptr;
    for_blocks(blocks, [&](int64_t r0, int64_t r1, int64_t slot) {
      double* acc = pp + slot * per_slot;
      scalar_t* sacc = ssp + slot * per_slot;
      std::fill(acc, acc + per_slot, 0.0);
      std::fill(sacc, sacc + per_slot, scalar_t(0));
      if (wpp != nullptr) std::fill(wpp + slot * G * H, wpp + (slot + 1) * G * H, scalar_t(0));
      if (wipp != nullptr) std::fill(wipp + slot * G * I, wipp + (slot + 1) * G * I, scalar_t(0));
      std::vector<int64_t> flushed(V, -1);  // the last step that flushed a symbol's row
      for (int64_t k = 0; k < st.T; ++k) {
        // opposite order of the forward pass
        const int64_t t = reverse ? k : st.T - 1 - k;
        const int64_t bs = st.bs[t], off = st.off[t];
        const int64_t b0 = r0, b1 = std::min(r1, bs);  // this block's rows active at step t
        if (b1 <= b0) continue;
        // dh_prev of rows that started from h0 only feeds grad_h0
        const int64_t nc = h0_grad ? bs : continuing_rows(st, t, reverse);
        const int64_t nw = h0_zero ? continuing_rows(st, t, reverse) : bs;  // rows for dW_hh
        // this step's rows of dgh and dgi: the scratch, or their slice of the [N, 3H] gradients
        scalar_t* dgs = step_wgrad ? dgp : dgp + off * G;
        scalar_t* dis = dip == nullptr ? nullptr : step_igrad ? dip : dip + off * G;
        bwd_rows(b0, b1, H, off, gop, gp, hpp, ip, dh, dis, sacc + 4 * H, dgs, sacc);
        if (step_igrad) {
          // grad_input rows = dgi @ W_ih ([rows, 3H] @ [3H, I])
          if (gip != nullptr && !gemm_rows<scalar_t>(b1 - b0, I, G, dis + b0 * G, wip, false, scalar_t(0),
                                                     gip + (off + b0) * I)) {
            at::Tensor gi_c = grad_input.narrow(0, off + b0, b1 - b0);
            at::mm_out(gi_c, dgi.narrow(0, b0, b1 - b0), w_ih_c);
          }
          // grad W_ih partial += dgi^T @ x of these rows
          if (!gemm_tn_acc<scalar_t>(G, I, b1 - b0, dis + b0 * G, xp + (off + b0) * I, wipp + slot * G * I)) {
            at::Tensor w_c = wipart[slot];
            w_c.addmm_(dgi.narrow(0, b0, b1 - b0).t(), x_dense.narrow(0, off + b0, b1 - b0));
          }
        }
        kernels::flush_sums(sacc, acc, 4 * H);
        if (ip != nullptr) {  // the grad W_ih^T rows of the symbols this step used, each once
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t v = ip[off + b];
            if (flushed[v] == k) continue;
            flushed[v] = k;
            kernels::flush_sums(sacc + 4 * H + v * G, acc + 4 * H + v * G, G);
          }
        }
        const int64_t g1 = std::min(b1, nc);
        if (g1 > b0 && mixed) {  // dh += dgh @ W_hh on bf16 operands, for this block's rows
          mm_rows_bf16<true>(reinterpret_cast<const float*>(dgs + b0 * G), b0, g1 - b0, dg16, w_hh, dh16,
                             reinterpret_cast<float*>(dh + b0 * H));
        } else if (g1 > b0 && !gemm_rows<scalar_t>(g1 - b0, H, G, dgs + b0 * G, whp, false, scalar_t(1),
                                                    dh + b0 * H)) {
          at::Tensor dh_c = dhbuf.narrow(0, b0, g1 - b0);
          dh_c.addmm_(dgh.narrow(0, (step_wgrad ? 0 : off) + b0, g1 - b0), w_hh);
        }
        const int64_t w1 = std::min(b1, nw);
        if (step_wgrad && w1 > b0 &&
            !gemm_tn_acc<scalar_t>(G, H, w1 - b0, dgs + b0 * G, hpp + (off + b0) * H, wpp + slot * G * H)) {
          at::Tensor w_c = wpart[slot];  // dW_hh partial += dgh^T @ h_prev of these rows
          w_c.addmm_(dgh.narrow(0, b0, w1 - b0).t(), hprev.narrow(0, off + b0, w1 - b0));
        }
      }
    });
  });

  // in mixed precision the weight GEMMs take bf16 operands and give the weights' dtype
  const auto wdt = w_hh.scalar_type();
  // The per-block partial sums, reduced into the outputs. First each element is summed over
  // the blocks, in block order (so the result does not depend on which thread sums it),
  // into block 0's double sums and the weight gradients, the threads taking contiguous
  // ranges of each. Then, from those sums: for symbol indices grad W_ih, the transpose of
  // the partial grad W_ih^T (its column sums are the first 3H bias sums), and the biases.
  at::Tensor grad_w_ih = index_input ? at::empty({G, V}, opts.dtype(wdt)) : at::Tensor();
  at::Tensor grad_b_ih = has_bias ? at::empty({G}, opts) : at::empty({0}, opts);
  at::Tensor grad_b_hh = has_bias ? at::empty({G}, opts) : at::empty({0}, opts);
  const bool sum_w_hh = step_wgrad && slots > 1, sum_w_ih = step_igrad && slots > 1;
  at::Tensor grad_w_hh = sum_w_hh ? at::empty({G, H}, opts) : at::Tensor();
  if (sum_w_ih) grad_w_ih = at::empty({G, I}, opts);
  double* const pp = partial.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(opts.dtype().toScalarType(), "seqkit_gru_grad_reduce", [&] {
    using T = scalar_t;
    if (slots > 1) {
      // dst[i] = sum over the blocks of src[s * stride + i], for i in [i0, i1)
      auto sum_slots = [&](auto* dst, const auto* src, int64_t stride, int64_t i0, int64_t i1) {
        if (static_cast<const void*>(dst) != static_cast<const void*>(src)) std::copy(src + i0, src + i1, dst + i0);
        for (int64_t s = 1; s < slots; ++s) {
          const auto* x = src + s * stride;
          for (int64_t i = i0; i < i1; ++i) dst[i] += x[i];
        }
      };
      const int64_t nw = sum_w_hh ? G * H : 0, ni = sum_w_ih ? G * I : 0;
      at::parallel_for(0, per_slot + nw + ni, 4096, [&](int64_t i0, int64_t i1) {
        // [0, per_slot): the double sums, in place into block 0's; then grad W_hh, grad W_ih
        if (i0 < per_slot) sum_slots(pp, pp, per_slot, i0, std::min(i1, per_slot));
        const int64_t w0 = std::max(i0, per_slot) - per_slot, w1 = std::min(i1, per_slot + nw) - per_slot;
        if (w0 < w1) sum_slots(grad_w_hh.data_ptr<T>(), wpart.data_ptr<T>(), G * H, w0, w1);
        const int64_t x0 = std::max(i0, per_slot + nw) - per_slot - nw, x1 = i1 - per_slot - nw;
        if (x0 < x1) sum_slots(grad_w_ih.data_ptr<T>(), wipart.data_ptr<T>(), G * I, x0, x1);
      });
    }
    std::vector<double> bsum(pp, pp + G);
    if (index_input) {
      AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, wdt, "seqkit_gru_grad_w_ih", [&] {
        scalar_t* gw = grad_w_ih.data_ptr<scalar_t>();
        for (int64_t v = 0; v < V; ++v) {
          const double* row = pp + 4 * H + v * G;
          for (int64_t g = 0; g < G; ++g) bsum[g] += row[g];
        }
        transpose_tiled(pp + 4 * H, V, G, gw, [](double x, int64_t) { return static_cast<scalar_t>(x); });
      });
    }
    if (has_bias) {
      T* bi = grad_b_ih.data_ptr<T>();
      T* bh = grad_b_hh.data_ptr<T>();
      for (int64_t j = 0; j < G; ++j) bi[j] = static_cast<T>(bsum[j]);
      for (int64_t j = 0; j < 2 * H; ++j) bh[j] = static_cast<T>(bsum[j]);
      for (int64_t j = 0; j < H; ++j) bh[2 * H + j] = static_cast<T>(pp[3 * H + j]);
    }
  });
  auto op16 = [&](const at::Tensor& x) { return mixed ? x.to(at::kBFloat16) : x; };
  if (step_wgrad) {
    if (!sum_w_hh) grad_w_hh = wpart.view({G, H});
  } else {  // mixed: one GEMM over all rows; those of the first step have h_prev = h0
    const int64_t skip = (!reverse && st.T > 0 && h0_zero) ? st.bs[0] : 0;
    grad_w_hh = skip < N ? at::mm(op16(dgh.narrow(0, skip, N - skip)).t(), op16(hprev.narrow(0, skip, N - skip)))
                         : at::zeros_like(w_hh);
  }
  if (step_igrad) {
    if (!sum_w_ih) grad_w_ih = wipart.view({G, I});
  } else if (!index_input) {  // mixed: two GEMMs over all rows
    const at::Tensor dgi_op = op16(dgi);
    grad_w_ih = at::mm(dgi_op.t(), op16(input.contiguous()));
    if (input_grad) grad_input = at::mm(dgi_op, w_ih).to(opts.dtype());
  }
  if (!grad_input.defined()) grad_input = at::empty({0}, opts);
  return {grad_input, h0_grad ? dhbuf : at::empty({0}, opts), grad_w_ih, grad_w_hh, grad_b_ih,
          grad_b_hh};
}

}  // namespace seqkit
