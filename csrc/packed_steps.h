// The step layout of a packed batch, validated once: shared by the CPU GRU (gru.cpp) and
// the CUDA launcher (cuda/ops_cuda.cpp). Host code only; needs ATen, not the kernels.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
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

}  // namespace seqkit
