// seqkit::adam_step_: clip the gradients' total 2-norm, then the Adam / AdamW update of a
// list of parameter tensors, in one call (what a training step does after backward:
// nn.utils.clip_grad_norm_, then optimizer.step()).
//
// Why: on a small model the work is tiny (about 70k parameters for the course's
// classifier), but after a backward pass has evicted the caches every separate op pays for
// its cold code path: torch's clip + fused step is about 15 ops (a norm per tensor, stack,
// norm, the step counts' add, the fused kernel per tensor, ...), 0.28-0.30 ms a step in
// training on the project's 2-core machine; this one op takes 0.19-0.21 ms.
//
// Numerics:
// - The update is that of torch's fused CPU kernel (aten/src/ATen/native/cpu/
//   FusedAdamKernel.cpp, float and double) on its vector path: the coefficients computed
//   in double and rounded once, the same operations in the same order, with fused
//   multiply-adds where that path has them (the lerp, and exp_avg_sq * beta2 +
//   (c2 * grad) * grad, which torch's build contracts). Where torch's kernel takes its
//   vector path (each thread's share a multiple of the vector width) the results are bit
//   for bit torch's (tested); the scalar remainders of torch's kernel round exp_avg_sq's
//   update in a position-dependent way (GCC contracts them differently), so there the two
//   can differ in the last bit. Here every element is computed the same way, whatever the
//   size or the thread count.
// - The norm is summed in double over each tensor in a fixed order (torch sums float32),
//   so the clipping factor max_norm / (norm + 1e-6) can differ from clip_grad_norm_'s in
//   the last bits.
#include "seqkit.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "clones.h"

// No implicit fused multiply-adds in this file (GCC contracts a * b + c by default in C++):
// the update must round as torch's kernel does, with its fused multiply-adds written out.
#pragma GCC optimize("fp-contract=off")

namespace seqkit {
namespace {

// the per-tensor coefficients of one step, as the fused kernel rounds them
template <typename T>
struct AdamCoef {
  T decay;        // 1 - lr * weight_decay (AdamW), applied to the parameter
  T l2;           // weight_decay (Adam), added to the gradient as l2 * param
  T lerp_w;       // the lerp weight of exp_avg.lerp_(grad, 1 - beta1) (see adam_rows)
  bool lerp_small;
  T beta2, c2;    // exp_avg_sq * beta2 + c2 * grad * grad
  T bc2_sqrt;     // sqrt(1 - beta2^step)
  T eps;
  T neg_step;     // -lr / (1 - beta1^step)
  bool adamw, decay_on;
};

// One tensor's update, operation for operation the vector path of torch's kernel: no
// implicit contraction here, the fused multiply-adds are explicit where that path has them.
template <typename T, bool AdamW, bool Decay, bool SmallLerp>
SEQKIT_INLINE void adam_rows_loop(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                                  int64_t n, const AdamCoef<T>& coef) {
  // the coefficients as locals: stores through p, m, v cannot change them, so the loop vectorizes
  const T decay = coef.decay, l2 = coef.l2, lerp_w = coef.lerp_w, beta2 = coef.beta2, c2 = coef.c2;
  const T bc2_sqrt = coef.bc2_sqrt, eps = coef.eps, neg_step = coef.neg_step;
  const T lerp_w1 = lerp_w - T(1);
  for (int64_t j = 0; j < n; ++j) {
    T param = p[j];
    T grad = g[j];
    if (Decay) {
      if (AdamW) {
        param = param * decay;
      } else {
        grad = std::fma(param, l2, grad);  // grad + param * weight_decay, contracted in torch's build
      }
    }
    // exp_avg.lerp_(grad, w): w < 0.5: exp_avg + w * (grad - exp_avg), else
    // grad + (w - 1) * (grad - exp_avg), each one fused multiply-add
    const T diff = grad - m[j];
    const T mj = SmallLerp ? std::fma(lerp_w, diff, m[j]) : std::fma(lerp_w1, diff, grad);
    // exp_avg_sq * beta2 + (c2 * grad) * grad: torch's build contracts the last product and
    // the sum into one fused multiply-add on its vector path (every element agrees)
    const T sq = v[j] * beta2;
    const T cg = c2 * grad;
    const T vj = std::fma(cg, grad, sq);
    m[j] = mj;
    v[j] = vj;
    const T root = std::sqrt(vj);
    const T scaled = root / bc2_sqrt;
    const T denom = scaled + eps;
    const T num = neg_step * mj;
    const T upd = num / denom;
    p[j] = param + upd;
  }
}

// the loop for the flags of this step
template <typename T>
SEQKIT_INLINE void adam_rows_impl(T* p, const T* g, T* m, T* v, int64_t n, const AdamCoef<T>& c) {
  if (c.adamw) {
    if (c.decay_on) {
      c.lerp_small ? adam_rows_loop<T, true, true, true>(p, g, m, v, n, c)
                   : adam_rows_loop<T, true, true, false>(p, g, m, v, n, c);
    } else {
      c.lerp_small ? adam_rows_loop<T, true, false, true>(p, g, m, v, n, c)
                   : adam_rows_loop<T, true, false, false>(p, g, m, v, n, c);
    }
  } else if (c.decay_on) {
    c.lerp_small ? adam_rows_loop<T, false, true, true>(p, g, m, v, n, c)
                 : adam_rows_loop<T, false, true, false>(p, g, m, v, n, c);
  } else {
    c.lerp_small ? adam_rows_loop<T, false, false, true>(p, g, m, v, n, c)
                 : adam_rows_loop<T, false, false, false>(p, g, m, v, n, c);
  }
}
// float: compiled per ISA level (SEQKIT_CLONES); double serves tests and rare users
SEQKIT_CLONES static void adam_rows(float* p, const float* g, float* m, float* v, int64_t n,
                                    const AdamCoef<float>& c) {
  adam_rows_impl(p, g, m, v, n, c);
}
static void adam_rows(double* p, const double* g, double* m, double* v, int64_t n, const AdamCoef<double>& c) {
  adam_rows_impl(p, g, m, v, n, c);
}

// sum of squares in double, 16 independent partial sums (so it vectorizes without
// reassociation), then added in a fixed order
template <typename T>
SEQKIT_INLINE double sum_squares_impl(const T* __restrict x, int64_t n) {
  double acc[16] = {0.0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    for (int l = 0; l < 16; ++l) acc[l] += double(x[j + l]) * double(x[j + l]);
  }
  for (int l = 0; j < n; ++j, ++l) acc[l] += double(x[j]) * double(x[j]);
  double s = 0.0;
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}
SEQKIT_CLONES static double sum_squares(const float* x, int64_t n) { return sum_squares_impl(x, n); }
static double sum_squares(const double* x, int64_t n) { return sum_squares_impl(x, n); }

template <typename T>
void scale_in_place(T* x, int64_t n, T s) {
  for (int64_t j = 0; j < n; ++j) x[j] = x[j] * s;
}

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

template <typename T>
AdamCoef<T> coefficients(double lr, double beta1, double beta2, double weight_decay, double eps, bool adamw,
                         double step) {
  // as fused_adam_kernel: the coefficients in double, each rounded once to T
  const double bias_correction1 = 1 - std::pow(beta1, step);
  const double bias_correction2 = 1 - std::pow(beta2, step);
  AdamCoef<T> c;
  c.decay = T(1 - lr * weight_decay);
  c.l2 = T(weight_decay);
  c.lerp_w = T(1 - beta1);
  c.lerp_small = std::abs(c.lerp_w) < T(0.5);
  c.beta2 = T(beta2);
  c.c2 = T(1 - beta2);
  c.bc2_sqrt = T(std::sqrt(bias_correction2));
  c.eps = T(eps);
  c.neg_step = T(-(lr / bias_correction1));
  c.adamw = adamw;
  c.decay_on = weight_decay != 0.0;
  return c;
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
