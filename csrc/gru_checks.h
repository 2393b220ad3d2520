// Argument checks of the fused GRU ops, shared by the CPU op (gru.cpp) and the CUDA launcher
// (cuda/ops_cuda.cpp): the step layout of a packed batch and the forward's tensors.
// Host code only; needs ATen, not the kernels.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace seqkit {

// bs[t]: active rows at step t; off[t]: first packed row of step t; N: rows in all.
struct Steps {
  std::vector<int64_t> bs, off;
  int64_t T = 0, N = 0;
};

// batch_sizes must be a 1-D CPU int64 tensor, positive and non-increasing, summing to the
// input's N rows, with batch_sizes[0] == B (the rows of h0). `who` names the op in errors.
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

}  // namespace seqkit
