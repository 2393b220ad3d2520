// seqkit::adam_step_: clip the gradients' total 2-norm, then the Adam / AdamW update of a
// list of parameter tensors, in one call (what a training step does after backward:
// nn.utils.clip_grad_norm_, then optimizer.step()).
//
// Why: on a small model the work is tiny (about 70k parameters for the course's
// classifier), but after a backward pass has evicted the caches every separate op pays for
// its cold code path: torch's clip + fused step is about 15 ops (a norm per tensor, stack,
// norm, the step counts' add, the fused kernel per tensor, ...), where this is one op (the
// measured difference is in docs/performance.md).
//
// The update and norm loops are torch-free (csrc/kernels/cpu/adam.h, with the numerics
// and how they compare with torch's); this file checks the lists, splits the work into
// pieces shared by the threads, and registers the op's CPU kernel.
#include "ops.h"

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

// No implicit fused multiply-adds in the rest of this file (GCC contracts a * b + c by
// default in C++), as in adam.h: the coefficients inline into the loops below and must
// round as torch's kernel does.
#pragma GCC optimize("fp-contract=off")

#include "../kernels/cpu/adam.h"

namespace seqkit {
namespace {

using kernels::adam_rows;
using kernels::AdamCoef;
using kernels::coefficients;
using kernels::scale_in_place;
using kernels::sum_squares;

void check_lists(const at::TensorList params, const at::TensorList grads, const at::TensorList exp_avgs,
                 const at::TensorList exp_avg_sqs, const at::TensorList steps) {
  const char* who = "seqkit::adam_step_";
  const size_t n = params.size();
  TORCH_CHECK_VALUE(grads.size() == n && exp_avgs.size() == n && exp_avg_sqs.size() == n && steps.size() == n,
                    who, ": params, grads, exp_avgs, exp_avg_sqs and steps must have the same length (got ", n, ", ",
                    grads.size(), ", ", exp_avgs.size(), ", ", exp_avg_sqs.size(), ", ", steps.size(), ")");
  if (n == 0) return;
  const auto dtype = params[0].scalar_type();
  TORCH_CHECK_VALUE(dtype == at::kFloat || dtype == at::kDouble, who,
                    ": parameters must be float32 or float64, got ", dtype);
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor* ts[4] = {&params[i], &grads[i], &exp_avgs[i], &exp_avg_sqs[i]};
    for (const at::Tensor* t : ts) {
      TORCH_CHECK_VALUE(t->device().is_cpu() && t->scalar_type() == dtype && t->is_contiguous() &&
                            t->layout() == at::kStrided && t->numel() == params[i].numel(),
                        who, ": tensor ", i, " of the lists: parameter, gradient and states must be contiguous CPU ",
                        dtype, " tensors of the parameter's size");
    }
    const at::Tensor& s = steps[i];
    TORCH_CHECK_VALUE(s.device().is_cpu() && s.numel() == 1 &&
                          (s.scalar_type() == at::kFloat || s.scalar_type() == at::kDouble),
                      who, ": steps[", i, "] must be a one-element float CPU tensor");
  }
}

inline double read_step(const at::Tensor& s) {
  return s.scalar_type() == at::kFloat ? double(*s.data_ptr<float>()) : *s.data_ptr<double>();
}
inline void add_step(const at::Tensor& s) {
  if (s.scalar_type() == at::kFloat) {
    *s.data_ptr<float>() += 1.0f;
  } else {
    *s.data_ptr<double>() += 1.0;
  }
}

}  // namespace

double adam_step_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                     at::TensorList exp_avg_sqs, at::TensorList steps, double lr, double beta1, double beta2,
                     double weight_decay, double eps, bool adamw, c10::optional<double> max_norm) {
  check_lists(params, grads, exp_avgs, exp_avg_sqs, steps);
  const size_t n = params.size();
  if (n == 0) return 0.0;
  // Fixed pieces of kPiece elements (a tensor's last piece may be shorter), shared by the
  // threads. Each piece's sum of squares has its own slot and the slots are added in order,
  // so the norm does not depend on the thread count; the update is element-wise.
  constexpr int64_t kPiece = 2048;
  struct Piece {
    size_t tensor;
    int64_t begin, end;
  };
  std::vector<Piece> pieces;
  for (size_t i = 0; i < n; ++i) {
    const int64_t numel = params[i].numel();
    for (int64_t b = 0; b < numel; b += kPiece) pieces.push_back({i, b, std::min(numel, b + kPiece)});
  }
  const int64_t np = static_cast<int64_t>(pieces.size());
  double total = 0.0;
  AT_DISPATCH_FLOATING_TYPES(params[0].scalar_type(), "seqkit_adam_step", [&] {
    using T = scalar_t;
    auto ptr = [](const at::Tensor& t) { return t.data_ptr<T>(); };
    if (max_norm.has_value()) {
      std::vector<double> sums(static_cast<size_t>(np), 0.0);
      at::parallel_for(0, np, 1, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
          const Piece& pc = pieces[k];
          sums[k] = sum_squares(ptr(grads[pc.tensor]) + pc.begin, pc.end - pc.begin);
        }
      });
      double ss = 0.0;
      for (double x : sums) ss += x;
      total = std::sqrt(ss);
      // a non-finite norm: nothing changes (the caller skips the step or reports it)
      if (!std::isfinite(total)) return;
      // nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1
      const double clip = *max_norm / (total + 1e-6);
      if (clip < 1.0) {
        at::parallel_for(0, np, 1, [&](int64_t k0, int64_t k1) {
          for (int64_t k = k0; k < k1; ++k) {
            const Piece& pc = pieces[k];
            scale_in_place(ptr(grads[pc.tensor]) + pc.begin, pc.end - pc.begin, T(clip));
          }
        });
      }
    }
    std::vector<AdamCoef<T>> coef;
    coef.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      add_step(steps[i]);
      // the fused kernel reads the step count as float (state_step.item<float>())
      const double step = double(static_cast<float>(read_step(steps[i])));
      coef.push_back(coefficients<T>(lr, beta1, beta2, weight_decay, eps, adamw, step));
    }
    at::parallel_for(0, np, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        const Piece& pc = pieces[k];
        const size_t i = pc.tensor;
        adam_rows(ptr(params[i]) + pc.begin, ptr(grads[i]) + pc.begin, ptr(exp_avgs[i]) + pc.begin,
                  ptr(exp_avg_sqs[i]) + pc.begin, pc.end - pc.begin, coef[i]);
      }
    });
  });
  return total;  // 0 when max_norm is None (not measured)
}

}  // namespace seqkit

TORCH_LIBRARY_IMPL(seqkit, CPU, m) { m.impl("adam_step_", &seqkit::adam_step_cpu); }
