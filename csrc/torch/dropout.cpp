// seqkit::dropout_mask: a dropout mask (0 or 1/(1-p) per element) for a CPU tensor's shape,
// from a seed the caller draws from torch's generator (so runs stay reproducible and
// resumable); seqkit.ops.dropout multiplies by it. The generator is torch-free
// (csrc/kernels/cpu/dropout.h, with why it exists).
#include "ops.h"

#include <torch/library.h>

#include <cmath>

#include "../kernels/cpu/dropout.h"

namespace seqkit {

at::Tensor dropout_mask_cpu(const at::Tensor& like, double p, int64_t seed) {
  TORCH_CHECK_VALUE(p >= 0.0 && p < 1.0, "seqkit::dropout_mask: p must be in [0, 1), got ", p);
  TORCH_CHECK_VALUE(like.scalar_type() == at::kFloat || like.scalar_type() == at::kDouble,
                    "seqkit::dropout_mask: float32 or float64 tensors only, got ", like.scalar_type());
  at::Tensor mask = at::empty(like.sizes(), like.options().memory_format(at::MemoryFormat::Contiguous));
  // drop where the 32-bit uniform is below p * 2^32 (exactly p up to 2^-32)
  const uint32_t drop_below = static_cast<uint32_t>(std::min(std::ldexp(p, 32), 4294967295.0));
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "seqkit_dropout_mask", [&] {
    kernels::dropout_mask(mask.data_ptr<scalar_t>(), mask.numel(), drop_below, static_cast<scalar_t>(1.0 / (1.0 - p)),
                          static_cast<uint64_t>(seed));
  });
  return mask;
}

}  // namespace seqkit

TORCH_LIBRARY_IMPL(seqkit, CPU, m) { m.impl("dropout_mask", &seqkit::dropout_mask_cpu); }
