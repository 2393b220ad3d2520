// Fused GRU layer (one direction) on packed sequences, CPU, forward and backward.
//
// Layout: PackedSequence order. Step t owns packed rows [off_t, off_t + batch_sizes[t]) and
// row b of a step is the b-th sequence of the (length-sorted) batch; the reverse
// direction walks the steps from the last to the first, and sequences that start at a
// step (rows batch_sizes[t+1] .. batch_sizes[t]) take their state from h0.
//
// Forward: input projection of all steps in one GEMM (or, for symbol indices, a gather of
// W_ih columns done inside the gate pass), then per step one GEMM for the recurrent
// product of the active rows and one fused pass over the gates that also saves
// r, z, n, (W_hn h + b_hn) and h_prev for backward. Nothing is allocated per step.
// Backward mirrors it: per step one fused pass for the gate gradients and one GEMM for
// dh_prev, then large GEMMs over all steps for dW_hh (and dW_ih for dense input). The
// gate pass also accumulates, per thread, the bias gradients and, for symbol indices,
// the scatter-add into dW_ih, so no extra pass over the [N, 3H] gradients is needed.
// With several threads each step is split by rows (see for_rows).
//
// Gates follow torch.nn.GRU: r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
// h' = n + z * (h - n).
#include "gru_kernels.h"
#include "gru_checks.h"
#include "seqkit.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

// Fortran BLAS, declared as ATen declares it (LP64) and called on raw pointers for the
// per-step products: the ATen op costs a dispatch and two tensor views per call, and
// there are two calls per thread per step. Weak: a torch build that exports no BLAS
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

// Threads split a step by rows: each chunk runs its own slice of the recurrent GEMM
// (single-threaded inside the parallel region) and then its gate pass, so a step costs
// one fork/join and a thread's rows stay in its cache. A chunk needs enough rows for an
// efficient GEMM slice (8k elements of h, 64 rows at H = 128); smaller steps run on the
// calling thread, with MKL free to thread the GEMM.
inline int64_t grain_rows(int64_t H) { return std::max<int64_t>(32, 8192 / std::max<int64_t>(H, 1)); }

// (at::parallel_for only forks when the extension is compiled with -fopenmp, which
// setup.py and the JIT build pass; the worker threads then call ATen's GEMM below the
// autograd layer, like the calling thread does inside this kernel.)
// f(b0, b1, slot): slot < at::get_num_threads() identifies the thread running the chunk,
// for per-thread partial sums (0 on the calling thread's path).
template <typename F>
inline void for_rows(int64_t bs, int64_t grain, const F& f) {
  if (bs >= 2 * grain && at::get_num_threads() > 1 && !at::in_parallel_region()) {
    at::parallel_for(0, bs, grain, [&](int64_t b0, int64_t b1) {
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      f(b0, b1, static_cast<int64_t>(at::get_thread_num()));
    });
  } else {
    f(0, bs, int64_t(0));
  }
}

bool is_all_zero(const at::Tensor& h) {
  bool zero = true;
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "seqkit_is_zero", [&] {
    const scalar_t* p = h.data_ptr<scalar_t>();
    for (int64_t i = 0, n = h.numel(); i < n; ++i) {
      if (p[i] != scalar_t(0)) {
        zero = false;
        break;
      }
    }
  });
  return zero;
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

  // input projection: [N, 3H] for dense input, W_ih^T [V, 3H] gathered per row for indices
  at::Tensor gi, idx;
  if (index_input) {
    idx = checked_indices(input, w_ih_in.size(1), who);
    gi = w_ih_in.t().to(dtype).contiguous();
  } else if (mixed) {
    gi = at::mm(input.to(at::kBFloat16), w_ih_in.t()).to(dtype);
  } else {
    gi = at::mm(input.contiguous(), w_ih_in.t());
  }

  at::Tensor output = at::empty({N, H}, opts);
  at::Tensor gates = at::empty({N, 4 * H}, opts);
  at::Tensor hprev = at::empty({N, H}, opts);
  at::Tensor hbuf = h0_in.contiguous().clone();
  at::Tensor gh = at::empty({std::max<int64_t>(B, 1), G}, opts);
  const at::Tensor w_hh_t = w_hh.t();
  const int64_t grain = grain_rows(H);
  // With h0 = 0 (the usual case) rows that start from h0 skip the recurrent GEMM: at
  // the first step that is the whole batch, about 1/T of the forward GEMM work.
  const bool h0_zero = is_all_zero(hbuf);
  // mixed precision: bf16 copies of the continuing rows of h and their product; each row
  // chunk of a step converts its own rows and multiplies them through ATen (oneDNN's bf16
  // kernels) on the thread that owns the chunk
  at::Tensor h16 = mixed ? at::empty({std::max<int64_t>(B, 1), H}, opts.dtype(at::kBFloat16)) : at::Tensor();
  at::Tensor gh16 = mixed ? at::empty({std::max<int64_t>(B, 1), G}, opts.dtype(at::kBFloat16)) : at::Tensor();

  AT_DISPATCH_FLOATING_TYPES(dtype, "seqkit_gru_forward", [&] {
    const scalar_t* gip = gi.data_ptr<scalar_t>();
    const int64_t* ip = index_input ? idx.data_ptr<int64_t>() : nullptr;
    const scalar_t* bih = bias_ih.data_ptr<scalar_t>();
    const scalar_t* bhh = bias_hh.data_ptr<scalar_t>();
    scalar_t* hb = hbuf.data_ptr<scalar_t>();
    const scalar_t* whp = mixed ? nullptr : w_hh.data_ptr<scalar_t>();  // bf16 in mixed: GEMM via ATen
    scalar_t* ghp = gh.data_ptr<scalar_t>();
    scalar_t* gp = gates.data_ptr<scalar_t>();
    scalar_t* hpp = hprev.data_ptr<scalar_t>();
    scalar_t* op = output.data_ptr<scalar_t>();
    for (int64_t k = 0; k < st.T; ++k) {
      const int64_t t = reverse ? st.T - 1 - k : k;
      const int64_t bs = st.bs[t], off = st.off[t];
      const int64_t nc = h0_zero ? continuing_rows(st, t, reverse) : bs;
      for_rows(bs, grain, [&](int64_t b0, int64_t b1, int64_t) {
        const int64_t g1 = std::min(b1, nc);
        if (g1 > b0 && mixed) {  // this chunk's rows of h in bf16, their product back in float
          at::Tensor h_c = h16.narrow(0, b0, g1 - b0), g_c = gh16.narrow(0, b0, g1 - b0);
          to_bf16(reinterpret_cast<const float*>(hb + b0 * H), bf16_ptr(h16) + b0 * H, (g1 - b0) * H);
          at::mm_out(g_c, h_c, w_hh_t);
          from_bf16(bf16_ptr(gh16) + b0 * G, reinterpret_cast<float*>(ghp + b0 * G), (g1 - b0) * G);
        } else if (g1 > b0 && !gemm_rows<scalar_t>(g1 - b0, G, H, hb + b0 * H, whp, true, scalar_t(0),
                                                    ghp + b0 * G)) {
          at::Tensor gh_c = gh.narrow(0, b0, g1 - b0);
          at::mm_out(gh_c, hbuf.narrow(0, b0, g1 - b0), w_hh_t);
        }
        const int64_t z0 = std::max(b0, nc);
        if (b1 > z0) std::fill(ghp + z0 * G, ghp + b1 * G, scalar_t(0));
        fwd_rows(b0, b1, H, off, gip, ip, bih, ghp, bhh, hb, gp, hpp, op);
      });
    }
  });
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
  // dgi: gate gradients of the input projection, for the dense-input GEMMs; with symbol
  // indices they go straight into each thread's partial grad W_ih^T instead
  at::Tensor dgi = index_input ? at::Tensor() : at::empty({N, G}, opts);
  at::Tensor dgh = at::empty({N, G}, opts);
  // per-thread partial sums, in double: bias gradients [4H] (r, z, n of the input
  // projection, n of the recurrent product) and, for indices, grad W_ih^T [V, 3H] (whose
  // column sums are then the first 3H bias sums)
  const int64_t slots = std::max(at::get_num_threads(), 1);
  const int64_t per_slot = 4 * H + V * G;
  at::Tensor partial = at::zeros({slots, per_slot}, opts.dtype(at::kDouble));
  const int64_t grain = grain_rows(H);
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
    const scalar_t* whp = mixed ? nullptr : w_hh.data_ptr<scalar_t>();  // bf16 in mixed: GEMM via ATen
    for (int64_t k = 0; k < st.T; ++k) {
      // opposite order of the forward pass
      const int64_t t = reverse ? k : st.T - 1 - k;
      const int64_t bs = st.bs[t], off = st.off[t];
      // dh_prev of rows that started from h0 only feeds grad_h0
      const int64_t nc = h0_grad ? bs : continuing_rows(st, t, reverse);
      for_rows(bs, grain, [&](int64_t b0, int64_t b1, int64_t slot) {
        TORCH_INTERNAL_ASSERT(slot >= 0 && slot < slots, who, ": thread slot out of range");
        double* acc = pp + slot * per_slot;
        bwd_rows(b0, b1, H, off, gop, gp, hpp, ip, dh, dip, acc + 4 * H, dgp, acc);
        const int64_t g1 = std::min(b1, nc);
        if (g1 > b0 && mixed) {  // dh += dgh @ W_hh on bf16 operands, for this chunk's rows
          at::Tensor g_c = dg16.narrow(0, b0, g1 - b0), d_c = dh16.narrow(0, b0, g1 - b0);
          to_bf16(reinterpret_cast<const float*>(dgp + (off + b0) * G), bf16_ptr(dg16) + b0 * G, (g1 - b0) * G);
          at::mm_out(d_c, g_c, w_hh);
          add_from_bf16(bf16_ptr(dh16) + b0 * H, reinterpret_cast<float*>(dh + b0 * H), (g1 - b0) * H);
        } else if (g1 > b0 && !gemm_rows<scalar_t>(g1 - b0, H, G, dgp + (off + b0) * G, whp, false,
                                                    scalar_t(1), dh + b0 * H)) {
          at::Tensor dh_c = dhbuf.narrow(0, b0, g1 - b0);
          dh_c.addmm_(dgh.narrow(0, off + b0, g1 - b0), w_hh);
        }
      });
    }
  });

  at::Tensor sums = slots > 1 ? partial.sum(0) : partial[0];
  if (index_input) {  // every row added its [dar, daz, dan] to one row of grad W_ih^T
    sums.narrow(0, 0, G).copy_(sums.narrow(0, 4 * H, V * G).view({V, G}).sum(0));
  }
  sums = sums.to(opts.dtype());
  // in mixed precision the weight GEMMs take bf16 operands and give the weights' dtype
  const auto wdt = w_hh.scalar_type();
  auto op16 = [&](const at::Tensor& x) { return mixed ? x.to(at::kBFloat16) : x; };
  // rows of the first step have h_prev = h0: nothing to add when h0 = 0
  const int64_t skip = (!reverse && st.T > 0 && is_all_zero(h0.contiguous())) ? st.bs[0] : 0;
  at::Tensor grad_w_hh = skip < N ? at::mm(op16(dgh.narrow(0, skip, N - skip)).t(),
                                           op16(hprev.narrow(0, skip, N - skip)))
                                  : at::zeros_like(w_hh);
  at::Tensor grad_w_ih, grad_input;
  if (index_input) {
    grad_w_ih = sums.narrow(0, 4 * H, V * G).view({V, G}).t().to(wdt).contiguous();
    grad_input = at::empty({0}, opts);
  } else {
    const at::Tensor dgi_op = op16(dgi);
    grad_w_ih = at::mm(dgi_op.t(), op16(input.contiguous()));
    grad_input = input_grad ? at::mm(dgi_op, w_ih).to(opts.dtype()) : at::empty({0}, opts);
  }
  at::Tensor grad_b_ih = has_bias ? sums.narrow(0, 0, G).clone() : at::empty({0}, opts);
  at::Tensor grad_b_hh = has_bias ? at::cat({sums.narrow(0, 0, 2 * H), sums.narrow(0, 3 * H, H)})
                                  : at::empty({0}, opts);
  return {grad_input, h0_grad ? dhbuf : at::empty({0}, opts), grad_w_ih, grad_w_hh, grad_b_ih,
          grad_b_hh};
}

}  // namespace seqkit
