// Argument checks shared by the CPU launchers (encode_pack.cpp, gru.cpp) and the CUDA
// launchers (cuda/): the step layout of a packed batch, the tensors of the fused GRU's
// forward and backward, and the corpus of encode_pack_corpus. Each returns what it
// validated, so a launcher reads its sizes from one place. Host code; needs ATen, not the
// kernels. `who` names the op in errors.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "../kernels/packed_layout.h"

namespace seqkit {

// ---- packed batches -----------------------------------------------------------------

// batch_sizes must be a 1-D CPU int64 tensor, positive and non-increasing, summing to the
// input's N rows, with batch_sizes[0] == B (the rows of h0).
inline Steps check_steps(const at::Tensor& batch_sizes, int64_t N, int64_t B, const char* who) {
  TORCH_CHECK_VALUE(batch_sizes.device().is_cpu() && batch_sizes.scalar_type() == at::kLong &&
                        batch_sizes.dim() == 1,
                    who, ": batch_sizes must be a 1-D CPU int64 tensor (PackedSequence.batch_sizes)");
  Steps s;
  s.T = batch_sizes.numel();
  const at::Tensor bsc = batch_sizes.contiguous();
  const int64_t* p = bsc.data_ptr<int64_t>();
  s.bs.assign(p, p + s.T);
  s.off.resize(s.T);
  int64_t acc = 0;
  for (int64_t t = 0; t < s.T; ++t) {
    TORCH_CHECK_VALUE(s.bs[t] >= 1 && (t == 0 || s.bs[t] <= s.bs[t - 1]), who,
                      ": batch_sizes must be positive and non-increasing; got batch_sizes[", t,
                      "] = ", s.bs[t]);
    s.off[t] = acc;
    acc += s.bs[t];
  }
  s.N = acc;
  TORCH_CHECK_VALUE(acc == N, who, ": batch_sizes sum to ", acc, " but the input has ", N,
                    " rows");
  TORCH_CHECK_VALUE(s.T == 0 || s.bs[0] == B, who, ": h0 has ", B,
                    " rows but the batch has batch_sizes[0] = ", s.T ? s.bs[0] : 0, " sequences");
  return s;
}

// ---- fused GRU --------------------------------------------------------------------------

// The validated arguments of gru_forward (on any device).
//
// Mixed precision (CPU): weights in bfloat16 with input, h0 and biases in float32 mean
// "bf16 products, float32 state": the GEMMs take bfloat16 operands (the hardware's bf16
// dot products, float32 accumulation) and everything else (gates, state, outputs, saved
// tensors) is float32. That is what seqkit.ops.gru_layer passes under
// torch.autocast("cpu", dtype=torch.bfloat16). `dtype` is the compute dtype.
struct GruForwardArgs {
  int64_t H = 0, G = 0, N = 0, B = 0;
  at::ScalarType dtype;
  bool index_input = false;
  bool mixed = false;  // bfloat16 weights, float32 state (see above)
  Steps steps;
  at::Tensor w_hh, bias_ih, bias_hh;  // contiguous; zero biases when absent
};

inline GruForwardArgs check_gru_forward_args(const at::Tensor& input, const at::Tensor& batch_sizes,
                                             const at::Tensor& h0, const at::Tensor& w_ih,
                                             const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_ih,
                                             const c10::optional<at::Tensor>& b_hh, const char* who) {
  GruForwardArgs a;
  TORCH_CHECK_VALUE(w_hh.dim() == 2 && w_hh.size(0) == 3 * w_hh.size(1), who,
                    ": weight_hh must be [3*hidden, hidden], got ", w_hh.sizes());
  a.H = w_hh.size(1);
  a.G = 3 * a.H;
  a.mixed = w_hh.scalar_type() == at::kBFloat16;
  a.dtype = a.mixed ? at::kFloat : w_hh.scalar_type();
  TORCH_CHECK_TYPE(a.dtype == at::kFloat || a.dtype == at::kDouble, who,
                   ": weights must be float32, float64 or (mixed precision: with float32 input and h0) "
                   "bfloat16, got ", w_hh.scalar_type());
  TORCH_CHECK_TYPE(!a.mixed || w_hh.device().is_cpu(), who,
                   ": bfloat16 weights (mixed precision) are supported on the CPU only; pass float32 weights");
  TORCH_CHECK_VALUE(w_ih.dim() == 2 && w_ih.size(0) == a.G && w_ih.scalar_type() == w_hh.scalar_type(), who,
                    ": weight_ih must be [3*hidden, input] of weight_hh's dtype, got ", w_ih.sizes(), " ",
                    w_ih.scalar_type());
  a.index_input = !at::isFloatingType(input.scalar_type());
  a.N = input.size(0);
  if (a.index_input) {
    TORCH_CHECK_VALUE(input.dim() == 1, who, ": index input must be 1-D [N] symbol indices");
  } else {
    TORCH_CHECK_VALUE(input.dim() == 2 && input.size(1) == w_ih.size(1) && input.scalar_type() == a.dtype,
                      who, ": input must be [N, ", w_ih.size(1), "] ", a.dtype, ", got ", input.sizes(), " ",
                      input.scalar_type());
  }
  TORCH_CHECK_VALUE(h0.dim() == 2 && h0.size(1) == a.H && h0.scalar_type() == a.dtype, who,
                    ": h0 must be [batch, ", a.H, "] ", a.dtype, ", got ", h0.sizes());
  a.B = h0.size(0);
  a.steps = check_steps(batch_sizes, a.N, a.B, who);
  a.w_hh = w_hh.contiguous();
  const auto opts = h0.options();
  a.bias_ih = b_ih.has_value() ? b_ih->contiguous() : at::zeros({a.G}, opts);
  a.bias_hh = b_hh.has_value() ? b_hh->contiguous() : at::zeros({a.G}, opts);
  TORCH_CHECK_VALUE(a.bias_ih.numel() == a.G && a.bias_hh.numel() == a.G, who,
                    ": biases must have 3*hidden = ", a.G, " entries");
  TORCH_CHECK_TYPE(a.bias_ih.scalar_type() == a.dtype && a.bias_hh.scalar_type() == a.dtype, who,
                   ": biases must be ", a.dtype, " (float32 with bfloat16 weights)");
  return a;
}

// The validated arguments of gru_backward (on any device): the sizes, the step layout and
// contiguous copies of the tensors the backward reads. The gradients and the saved gates
// and hprev have the forward's shapes and its compute dtype (`dtype`: float32 with
// bfloat16 weights, see GruForwardArgs); an empty grad_output stands for zeros (only h_n
// was used: has_gout is false and gout undefined).
struct GruBackwardArgs {
  int64_t H = 0, G = 0, N = 0, B = 0;
  at::ScalarType dtype;
  bool index_input = false;
  bool mixed = false;  // bfloat16 weights, float32 state
  bool has_gout = false;
  Steps steps;
  at::Tensor w_hh, gout, gates, hprev;  // contiguous (gout undefined without grad_output)
};

inline GruBackwardArgs check_gru_backward_args(const at::Tensor& grad_output, const at::Tensor& grad_hn,
                                               const at::Tensor& input, const at::Tensor& batch_sizes,
                                               const at::Tensor& h0, const at::Tensor& w_hh,
                                               const at::Tensor& gates, const at::Tensor& hprev, const char* who) {
  GruBackwardArgs a;
  a.H = w_hh.size(1);
  a.G = 3 * a.H;
  a.N = input.size(0);
  a.B = h0.size(0);
  a.steps = check_steps(batch_sizes, a.N, a.B, who);
  a.index_input = !at::isFloatingType(input.scalar_type());
  a.w_hh = w_hh.contiguous();
  a.mixed = a.w_hh.scalar_type() == at::kBFloat16;
  a.dtype = a.mixed ? at::kFloat : a.w_hh.scalar_type();
  a.has_gout = grad_output.numel() != 0;
  const int64_t N = a.N, H = a.H, B = a.B;
  TORCH_CHECK_VALUE((!a.has_gout || grad_output.sizes() == at::IntArrayRef({N, H})) &&
                        grad_hn.sizes() == at::IntArrayRef({B, H}),
                    who, ": gradient shapes do not match the forward outputs (grad_output may be "
                    "empty for zero)");
  TORCH_CHECK_VALUE(gates.sizes() == at::IntArrayRef({N, 4 * H}) && hprev.sizes() == at::IntArrayRef({N, H}),
                    who, ": the saved gates [N, 4*hidden] and hprev [N, hidden] do not match the forward "
                    "outputs, got ", gates.sizes(), " and ", hprev.sizes());
  TORCH_CHECK_TYPE((!a.has_gout || grad_output.scalar_type() == a.dtype) && grad_hn.scalar_type() == a.dtype &&
                       gates.scalar_type() == a.dtype && hprev.scalar_type() == a.dtype,
                   who, ": gradients and saved tensors must have the forward's dtype ", a.dtype,
                   " (float32 with bfloat16 weights)");
  a.gout = a.has_gout ? grad_output.contiguous() : at::Tensor();
  a.gates = gates.contiguous();
  a.hprev = hprev.contiguous();
  return a;
}

// ---- encode-and-pack of a pre-encoded corpus ---------------------------------------------

// The tensor arguments of encode_pack_corpus (on any device).
inline void check_corpus_args(const at::Tensor& symbols, const at::Tensor& offsets, const at::Tensor& rows,
                              int64_t num_symbols, bool one_hot, const char* who) {
  TORCH_CHECK_VALUE(symbols.dim() == 1 && offsets.dim() == 1 && rows.dim() == 1, who,
                    ": symbols, offsets and rows must be 1-D");
  TORCH_CHECK_VALUE(offsets.numel() >= 1, who, ": offsets needs n+1 >= 1 entries");
  TORCH_CHECK_VALUE(!one_hot || num_symbols > 0, who, ": one_hot=True needs num_symbols (the one-hot width)");
  TORCH_CHECK_TYPE(!at::isFloatingType(offsets.scalar_type()) && offsets.scalar_type() != at::kBool, who,
                   ": offsets must be an integer tensor");
}

// The lengths of the texts row[0..n) of a corpus of n_corpus texts, text r being symbols
// [off[r], off[r+1]) of n_sym (host buffers): each row must name a text, each text must be
// a valid, non-empty slice, and there must be at least one row.
template <typename OffT>
std::vector<int64_t> corpus_lengths(const OffT* off, int64_t n_corpus, const int64_t* row, int64_t n,
                                    int64_t n_sym, const char* who) {
  std::vector<int64_t> lengths(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = row[i];
    TORCH_CHECK_INDEX(r >= 0 && r < n_corpus, who, ": rows[", i, "] = ", r, " is outside the corpus of ",
                      n_corpus, " texts (offsets has ", n_corpus + 1, " entries)");
    const int64_t a = static_cast<int64_t>(off[r]), e = static_cast<int64_t>(off[r + 1]);
    TORCH_CHECK_VALUE(0 <= a && a <= e && e <= n_sym, who, ": offsets[", r, ":", r + 2, "] = (", a, ", ", e,
                      ") is not a valid slice of the ", n_sym,
                      " symbols; offsets must be non-decreasing and end at len(symbols)");
    TORCH_CHECK_VALUE(e > a, who, ": rows[", i, "] = ", r,
                      " is an empty text; a packed sequence needs length >= 1: drop it from rows");
    lengths[i] = e - a;
  }
  TORCH_CHECK_VALUE(n > 0, who, ": rows is empty; pass at least one row");
  return lengths;
}

}  // namespace seqkit
