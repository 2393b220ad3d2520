// Both directions of a bidirectional fused GRU layer in one op, CPU: the two independent
// recurrences run at the same time, one per thread, each on the whole batch.
//
// Why: a bidirectional layer called as two gru_forward ops runs the directions one after
// the other, each splitting its (at most a few dozen) rows across the threads; at the
// batch sizes of character models each thread's per-step GEMM is then a sliver of rows
// whose fixed costs dominate, and the threads meet at every op boundary. Two whole
// directions side by side keep each thread on full-height GEMMs with nothing shared
// between them (measured in docs/performance.md, "bidirectional layers").
//
// Each direction is exactly gru_forward_cpu / gru_backward_cpu (gru.cpp) running on one
// thread (inside the parallel region they see one thread and take one block of rows), so
// the outputs are those of the two single-direction ops. With one thread the directions
// run in turn. seqkit.ops.gru_layer_bidir takes this op only where it pays (see there).
//
// A learned embedding folds in (embedding E [V, I] given, input = symbol indices): each
// direction's thread makes its own gather table W_ih E^T [3H, V] and, in the backward,
// turns the table's gradient dT into dW_ih = dT E and dE = dT^T W_ih, so these small
// products run beside each other too, and no [N, I] rows or [N, I] x [I, 3H] products are
// made at all.
#include "ops.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace seqkit {
namespace {

// f(0) and f(1) on two threads where ATen has two, else in turn; the first error is raised
// after both finished (at::parallel_for rethrows it on the calling thread).
template <typename F>
void both_directions(const F& f) {
  at::parallel_for(0, 2, 1, [&](int64_t d0, int64_t d1) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    for (int64_t d = d0; d < d1; ++d) f(d);
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
gru_bidir_forward_cpu(const at::Tensor& input, const at::Tensor& batch_sizes, const at::Tensor& h0,
                      const at::Tensor& h0_reverse, const at::Tensor& w_ih, const at::Tensor& w_hh,
                      const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh,
                      const at::Tensor& w_ih_reverse, const at::Tensor& w_hh_reverse,
                      const c10::optional<at::Tensor>& b_ih_reverse,
                      const c10::optional<at::Tensor>& b_hh_reverse,
                      const c10::optional<at::Tensor>& embedding) {
  std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> res[2];
  const bool fold = embedding.has_value();
  TORCH_CHECK_VALUE(!fold || (!input.is_floating_point() && embedding->dim() == 2 &&
                              embedding->size(1) == w_ih.size(1) && embedding->size(1) == w_ih_reverse.size(1)),
                    "seqkit::gru_bidir_forward: an embedding [V, input_size] needs symbol indices as input and "
                    "W_ih of input_size columns; got embedding ", embedding.has_value() ? embedding->sizes() : at::IntArrayRef{},
                    " and W_ih ", w_ih.sizes());
  // indices are checked by each direction; a dense input is made contiguous once, here
  const at::Tensor x = input.is_floating_point() ? input.contiguous() : input;
  both_directions([&](int64_t d) {
    const at::Tensor& wi = d == 0 ? w_ih : w_ih_reverse;
    // the folded table's weights W_ih E^T [3H, V] (the index path gathers their columns)
    const at::Tensor w = fold ? at::mm(wi, embedding->t().to(wi.scalar_type())) : wi;
    res[d] = d == 0 ? gru_forward_cpu(x, batch_sizes, h0, w, w_hh, b_ih, b_hh, false)
                    : gru_forward_cpu(x, batch_sizes, h0_reverse, w, w_hh_reverse, b_ih_reverse, b_hh_reverse, true);
  });
  auto& [out_f, hn_f, gates_f, hprev_f] = res[0];
  auto& [out_r, hn_r, gates_r, hprev_r] = res[1];
  return {out_f, out_r, hn_f, hn_r, gates_f, hprev_f, gates_r, hprev_r};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
           at::Tensor, at::Tensor, at::Tensor, at::Tensor>
gru_bidir_backward_cpu(const at::Tensor& grad_output, const at::Tensor& grad_output_reverse,
                       const at::Tensor& grad_hn, const at::Tensor& grad_hn_reverse, const at::Tensor& input,
                       const at::Tensor& batch_sizes, const at::Tensor& h0, const at::Tensor& h0_reverse,
                       const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& w_ih_reverse,
                       const at::Tensor& w_hh_reverse, const at::Tensor& gates, const at::Tensor& hprev,
                       const at::Tensor& gates_reverse, const at::Tensor& hprev_reverse, bool has_bias,
                       bool input_grad, bool h0_grad, const c10::optional<at::Tensor>& embedding) {
  std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> res[2];
  at::Tensor grad_embedding[2];
  const bool fold = embedding.has_value();
  const at::Tensor x = input.is_floating_point() ? input.contiguous() : input;
  both_directions([&](int64_t d) {
    const at::Tensor& wi = d == 0 ? w_ih : w_ih_reverse;
    const at::Tensor e = fold ? embedding->to(wi.scalar_type()) : at::Tensor();
    // the index path only reads the table's shape and dtype from w_ih: [3H, V]
    const at::Tensor w = fold ? at::empty({wi.size(0), e.size(0)}, wi.options()) : wi;
    res[d] = d == 0 ? gru_backward_cpu(grad_output, grad_hn, x, batch_sizes, h0, w, w_hh, gates, hprev, false,
                                       has_bias, input_grad, h0_grad)
                    : gru_backward_cpu(grad_output_reverse, grad_hn_reverse, x, batch_sizes, h0_reverse, w,
                                       w_hh_reverse, gates_reverse, hprev_reverse, true, has_bias, input_grad,
                                       h0_grad);
    if (fold) {  // dT [3H, V] -> dW_ih = dT E, dE = dT^T W_ih
      at::Tensor& dt = std::get<2>(res[d]);
      grad_embedding[d] = at::mm(dt.t(), wi).to(embedding->scalar_type());
      dt = at::mm(dt, e);
    }
  });
  auto& [gin_f, gh0_f, gwih_f, gwhh_f, gbih_f, gbhh_f] = res[0];
  auto& [gin_r, gh0_r, gwih_r, gwhh_r, gbih_r, gbhh_r] = res[1];
  // the input (or embedding) feeds both directions: its gradient is the sum (empty when
  // not asked for)
  at::Tensor grad_input = gin_f.numel() > 0 ? gin_f.add_(gin_r) : gin_f;
  at::Tensor grad_emb = fold ? grad_embedding[0].add_(grad_embedding[1]) : at::empty({0}, gwhh_f.options());
  return {grad_input, gh0_f, gh0_r, gwih_f, gwhh_f, gbih_f, gbhh_f, gwih_r, gwhh_r, gbih_r, gbhh_r, grad_emb};
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The autograd of gru_bidir_forward, in C++: the op is CPU-only and runs once per
// bidirectional layer and batch, where a Python autograd formula (torch.library's) costs
// about 0.2 ms a training step in calls and wrapping, some 7% of the default classifier's
// step (docs/performance.md). Same formula as gru_forward's in seqkit/ops/gru.py: unused
// outputs get undefined gradients, which stand for zeros.
class GruBidirFunction : public torch::autograd::Function<GruBidirFunction> {
 public:
  // b_* and embedding may be absent: then empty tensors (an undefined tensor cannot pass
  // through Function::apply) and has_bias / has_embedding false. The kernels are reached
  // through the dispatcher below autograd, so fake and meta tensors take their kernels.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& batch_sizes,
                               const at::Tensor& h0, const at::Tensor& h0_reverse, const at::Tensor& w_ih,
                               const at::Tensor& w_hh, const at::Tensor& b_ih, const at::Tensor& b_hh,
                               const at::Tensor& w_ih_reverse, const at::Tensor& w_hh_reverse,
                               const at::Tensor& b_ih_reverse, const at::Tensor& b_hh_reverse,
                               const at::Tensor& embedding, bool has_bias, bool has_embedding) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("seqkit::gru_bidir_forward", "")
                         .typed<decltype(gru_bidir_forward_cpu)>();
    auto opt = [](const at::Tensor& t, bool present) {
      return present ? c10::optional<at::Tensor>(t) : c10::nullopt;
    };
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [out, out_r, hn, hn_r, gates, hprev, gates_r, hprev_r] =
        op.call(input, batch_sizes, h0, h0_reverse, w_ih, w_hh, opt(b_ih, has_bias), opt(b_hh, has_bias),
                w_ih_reverse, w_hh_reverse, opt(b_ih_reverse, has_bias), opt(b_hh_reverse, has_bias),
                opt(embedding, has_embedding));
    ctx->save_for_backward({input, batch_sizes, h0, h0_reverse, w_ih, w_hh, w_ih_reverse, w_hh_reverse, embedding,
                            gates, hprev, gates_r, hprev_r});
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["has_embedding"] = has_embedding;
    ctx->mark_non_differentiable({gates, hprev, gates_r, hprev_r});
    ctx->set_materialize_grads(false);
    return {out, out_r, hn, hn_r, gates, hprev, gates_r, hprev_r};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &input = s[0], &h0 = s[2], &h0_r = s[3], &embedding = s[8], &hprev = s[10];
    const bool dense = input.is_floating_point();
    auto or_empty = [&](const at::Tensor& g) { return g.defined() ? g : at::empty({0}, hprev.options()); };
    auto or_zeros = [](const at::Tensor& g, const at::Tensor& like) { return g.defined() ? g : at::zeros_like(like); };
    const bool h0_grad = ctx->needs_input_grad(2) || ctx->needs_input_grad(3);
    const bool bias = ctx->saved_data["has_bias"].toBool(), has_embedding = ctx->saved_data["has_embedding"].toBool();
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("seqkit::gru_bidir_backward", "")
                         .typed<decltype(gru_bidir_backward_cpu)>();
    auto [gin, gh0, gh0_r, gwih, gwhh, gbih, gbhh, gwih_r, gwhh_r, gbih_r, gbhh_r, gemb] = op.call(
        or_empty(grads[0]), or_empty(grads[1]), or_zeros(grads[2], h0), or_zeros(grads[3], h0_r), input, s[1], h0,
        h0_r, s[4], s[5], s[6], s[7], s[9], hprev, s[11], s[12], bias, dense && ctx->needs_input_grad(0), h0_grad,
        has_embedding ? c10::optional<at::Tensor>(embedding) : c10::nullopt);
    auto keep = [&](size_t i, const at::Tensor& g, bool present = true) {
      return present && ctx->needs_input_grad(i) ? g : at::Tensor();
    };
    return {keep(0, gin, dense), at::Tensor(), keep(2, gh0), keep(3, gh0_r), keep(4, gwih), keep(5, gwhh),
            keep(6, gbih, bias), keep(7, gbhh, bias), keep(8, gwih_r), keep(9, gwhh_r), keep(10, gbih_r, bias),
            keep(11, gbhh_r, bias), keep(12, gemb, has_embedding), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
gru_bidir_forward_autograd(const at::Tensor& input, const at::Tensor& batch_sizes, const at::Tensor& h0,
                           const at::Tensor& h0_reverse, const at::Tensor& w_ih, const at::Tensor& w_hh,
                           const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh,
                           const at::Tensor& w_ih_reverse, const at::Tensor& w_hh_reverse,
                           const c10::optional<at::Tensor>& b_ih_reverse,
                           const c10::optional<at::Tensor>& b_hh_reverse,
                           const c10::optional<at::Tensor>& embedding) {
  const at::Tensor absent = at::empty({0}, h0.options());
  auto val = [&](const c10::optional<at::Tensor>& t) { return t.has_value() ? *t : absent; };
  TORCH_CHECK_VALUE(b_ih.has_value() == b_hh.has_value() && b_ih.has_value() == b_ih_reverse.has_value() &&
                        b_ih.has_value() == b_hh_reverse.has_value(),
                    "seqkit::gru_bidir_forward: give all four biases or none");
  variable_list r = GruBidirFunction::apply(input, batch_sizes, h0, h0_reverse, w_ih, w_hh, val(b_ih), val(b_hh),
                                            w_ih_reverse, w_hh_reverse, val(b_ih_reverse), val(b_hh_reverse),
                                            val(embedding), b_ih.has_value(), embedding.has_value());
  return {r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]};
}

}  // namespace
}  // namespace seqkit

TORCH_LIBRARY_IMPL(seqkit, CPU, m) {
  m.impl("gru_bidir_forward", &seqkit::gru_bidir_forward_cpu);
  m.impl("gru_bidir_backward", &seqkit::gru_bidir_backward_cpu);
}

// the op is CPU-only, so its autograd kernel is AutogradCPU's
TORCH_LIBRARY_IMPL(seqkit, AutogradCPU, m) { m.impl("gru_bidir_forward", &seqkit::gru_bidir_forward_autograd); }
