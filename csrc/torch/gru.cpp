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
// steps on one thread; the forward sizes two blocks by the threads' measured speeds (see
// row_blocks and ForwardBalance in csrc/kernels/cpu/gru_rows.h).
//
// This file is the launcher: tensors, checks, scratch, threads and the step loops. The
// per-step kernels and the other loops on raw buffers are torch-free headers in
// csrc/kernels/cpu/, included here so that they inline into the step loops.
//
// Gates follow torch.nn.GRU: r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
// h' = n + z * (h - n).
#include "../kernels/cpu/gru_steps.h"
#include "../kernels/cpu/blas.h"
#include "../kernels/cpu/bf16.h"
#include "../kernels/cpu/gru_rows.h"
#include "checks.h"
#include "ops.h"

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace seqkit {
namespace {

// the torch-free kernels (csrc/kernels/cpu/)
using kernels::add_from_bf16;
using kernels::block_work;
using kernels::bwd_rows;
using kernels::continuing_rows;
using kernels::forced_forward_share;
using kernels::ForwardBalance;
using kernels::from_bf16;
using kernels::fwd_rows;
using kernels::gemm_rows;
using kernels::gemm_tn_acc;
using kernels::grain_rows;
using kernels::index_table;
using kernels::kMinGemmRows;
using kernels::to_bf16;
using kernels::transpose_tiled;

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

// The blocks of rows of a batch (kernels::row_blocks) for the threads ATen may use here:
// one block inside a parallel region.
std::vector<int64_t> row_blocks(const Steps& st, int64_t B, int64_t grain, double share0 = 0.5) {
  const int64_t threads = at::in_parallel_region() ? 1 : std::max<int64_t>(at::get_num_threads(), 1);
  return kernels::row_blocks(st, B, grain, threads, share0);
}

// The forward's balance between two threads, shared by every call in the process.
ForwardBalance& forward_balance() {
  static ForwardBalance b;
  return b;
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

// Whether every element of the contiguous float or double tensor h is zero (-0.0 too).
bool is_all_zero(const at::Tensor& h) {
  TORCH_INTERNAL_ASSERT(h.is_contiguous() && (h.scalar_type() == at::kFloat || h.scalar_type() == at::kDouble));
  return h.scalar_type() == at::kFloat ? kernels::zero_bits32(h.data_ptr(), h.numel())
                                       : kernels::zero_bits64(h.data_ptr(), h.numel());
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
  const GruBackwardArgs args = check_gru_backward_args(grad_output_in, grad_hn, input, batch_sizes, h0, w_hh_in,
                                                       gates_in, hprev_in, who);
  const int64_t H = args.H, G = args.G, N = args.N, B = args.B;
  const Steps& st = args.steps;
  const bool index_input = args.index_input;
  const at::Tensor w_hh = args.w_hh;
  // bfloat16 weights: the forward ran in mixed precision (see checks.h); the gate
  // gradients and the state stay in the compute dtype, the GEMMs take bf16 operands
  const bool mixed = args.mixed;
  const auto opts = gates_in.options();  // the compute dtype
  // an empty grad_output stands for zeros (the output was not used, e.g. only h_n was)
  const bool has_gout = args.has_gout;
  const at::Tensor gout = args.gout;
  const at::Tensor gates = args.gates;
  const at::Tensor hprev = args.hprev;
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

TORCH_LIBRARY_IMPL(seqkit, CPU, m) {
  m.impl("gru_forward", &seqkit::gru_forward_cpu);
  m.impl("gru_backward", &seqkit::gru_backward_cpu);
}
