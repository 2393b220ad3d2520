// CUDA launcher of the fused GRU: seqkit::gru_forward and seqkit::gru_backward on CUDA
// tensors. The host checks the arguments (../checks.h, shared with the CPU op) and walks
// the steps, since batch_sizes is a CPU tensor: per step a cuBLAS GEMM through ATen and
// one gate kernel of csrc/kernels/cuda/gru.cu on the current stream, or, for float32 with
// hidden <= 256, the persistent forward kernel (every step in one launch). Outputs equal
// the CPU op's (csrc/torch/gru.cpp), so the autograd formula of seqkit/ops/gru.py serves
// both devices. Compiled only in a CUDA build (setup.py: CUDAExtension, SEQKIT_WITH_CUDA).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../../kernels/cuda/kernels.cuh"
#include "../checks.h"
#include "launch_helpers.h"

namespace seqkit {
namespace {

using cuda_launch::check_on;
using cuda_launch::Four;
using cuda_launch::Tensor;
using cuda_launch::to_device_i64;

// SEQKIT_CUDA_GRU=steps forces the per-step path; "auto" (default) / "persistent" use the
// persistent forward kernel for float32 with hidden <= 256.
bool use_persistent(at::ScalarType dtype, int64_t H) {
  const char* env = std::getenv("SEQKIT_CUDA_GRU");
  const std::string mode = env ? env : "auto";
  TORCH_CHECK_VALUE(mode == "auto" || mode == "steps" || mode == "persistent",
                    "SEQKIT_CUDA_GRU=", mode, " is not one of auto, steps, persistent");
  if (mode == "steps") return false;
  return dtype == at::kFloat && H >= 1 && H <= cuda::gru_persistent_max_hidden();
}

void check_bad_index(const Tensor& bad, int64_t V, const char* who) {
  if (!bad.defined()) return;
  TORCH_CHECK_INDEX(bad.item<int32_t>() == 0, who,  // synchronizes
                    ": a symbol index is outside [0, ", V,
                    "); input_size must be the number of symbols");
}

Four gru_forward_cuda(const Tensor& input, const Tensor& batch_sizes, const Tensor& h0_in,
                      const Tensor& w_ih, const Tensor& w_hh_in, const c10::optional<Tensor>& b_ih,
                      const c10::optional<Tensor>& b_hh, bool reverse) {
  const char* who = "seqkit::gru_forward";
  const GruForwardArgs args = check_gru_forward_args(input, batch_sizes, h0_in, w_ih, w_hh_in, b_ih, b_hh,
                                                     who);
  const int64_t H = args.H, G = args.G, N = args.N, B = args.B;
  const auto dtype = args.dtype;
  const bool index_input = args.index_input;
  const Steps& st = args.steps;
  const Tensor w_hh = args.w_hh;
  const auto opts = w_hh.options();
  Tensor bias_ih = args.bias_ih, bias_hh = args.bias_hh;
  const c10::Device dev = w_hh.device();
  TORCH_CHECK_VALUE(dev.is_cuda(), who, ": weight_hh must be on a CUDA device");
  check_on(input, dev, who, "input");
  check_on(h0_in, dev, who, "h0");
  check_on(w_ih, dev, who, "weight_ih");
  check_on(bias_ih, dev, who, "bias_ih");
  check_on(bias_hh, dev, who, "bias_hh");
  const c10::cuda::CUDAGuard guard(dev);

  Tensor gi, idx, bad;
  const int64_t V = w_ih.size(1);
  if (index_input) {
    idx = input.to(at::kLong).contiguous();
    gi = w_ih.t().contiguous();  // [V, G]: row v is the projection of symbol v
    bad = at::zeros({1}, at::TensorOptions().dtype(at::kInt).device(dev));
  } else {
    gi = at::mm(input.contiguous(), w_ih.t());
  }
  Tensor output = at::empty({N, H}, opts);
  Tensor gates = at::empty({N, 4 * H}, opts);
  Tensor hprev = at::empty({N, H}, opts);
  const Tensor h0 = h0_in.contiguous();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  if (use_persistent(dtype, H)) {
    if (st.T == 0) return {output, h0.clone(), gates, hprev};
    std::vector<int64_t> meta(st.bs);
    meta.insert(meta.end(), st.off.begin(), st.off.end());
    const Tensor meta_d = to_device_i64(meta, dev);
    const Tensor w_hh_t = w_hh.t().contiguous();
    Tensor h_n = at::empty({B, H}, opts);
    cuda::GruPersistentFwd p{};
    p.T = st.T;
    p.B = B;
    p.H = H;
    p.V = V;
    p.batch_sizes = meta_d.data_ptr<int64_t>();
    p.step_offset = p.batch_sizes + st.T;
    p.gi = gi.data_ptr<float>();
    p.idx = index_input ? idx.data_ptr<int64_t>() : nullptr;
    p.bih = bias_ih.data_ptr<float>();
    p.w_hh_t = w_hh_t.data_ptr<float>();
    p.bhh = bias_hh.data_ptr<float>();
    p.h0 = h0.data_ptr<float>();
    p.h_n = h_n.data_ptr<float>();
    p.gates = gates.data_ptr<float>();
    p.hprev = hprev.data_ptr<float>();
    p.out = output.data_ptr<float>();
    p.bad_index = index_input ? bad.data_ptr<int>() : nullptr;
    p.reverse = reverse;
    SEQKIT_CUDA_CHECK(cuda::gru_fwd_persistent(p, stream));
    check_bad_index(bad, V, who);
    return {output, h_n, gates, hprev};
  }

  Tensor hbuf = h0.clone();
  Tensor gh = at::empty({std::max<int64_t>(B, 1), G}, opts);
  const Tensor w_hh_t = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(dtype, "seqkit_gru_forward_cuda", [&] {
    cuda::GruFwdStep<scalar_t> s{};
    s.H = H;
    s.V = V;
    s.gi = gi.data_ptr<scalar_t>();
    s.idx = index_input ? idx.data_ptr<int64_t>() : nullptr;
    s.bih = bias_ih.data_ptr<scalar_t>();
    s.gh = gh.data_ptr<scalar_t>();
    s.bhh = bias_hh.data_ptr<scalar_t>();
    s.hbuf = hbuf.data_ptr<scalar_t>();
    s.gates = gates.data_ptr<scalar_t>();
    s.hprev = hprev.data_ptr<scalar_t>();
    s.out = output.data_ptr<scalar_t>();
    s.bad_index = index_input ? bad.data_ptr<int>() : nullptr;
    for (int64_t k = 0; k < st.T; ++k) {
      const int64_t t = reverse ? st.T - 1 - k : k;
      s.bs = st.bs[t];
      s.off = st.off[t];
      Tensor gh_t = gh.narrow(0, 0, s.bs);
      at::mm_out(gh_t, hbuf.narrow(0, 0, s.bs), w_hh_t);  // cuBLAS, current stream
      SEQKIT_CUDA_CHECK(cuda::gru_fwd_step(s, stream));
    }
  });
  check_bad_index(bad, V, who);
  return {output, hbuf, gates, hprev};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> gru_backward_cuda(
    const Tensor& grad_output_in, const Tensor& grad_hn, const Tensor& input,
    const Tensor& batch_sizes, const Tensor& h0, const Tensor& w_ih, const Tensor& w_hh_in,
    const Tensor& gates_in, const Tensor& hprev_in, bool reverse, bool has_bias, bool input_grad,
    bool h0_grad) {
  const char* who = "seqkit::gru_backward";
  const c10::Device dev = w_hh_in.device();
  TORCH_CHECK_VALUE(dev.is_cuda(), who, ": weight_hh must be on a CUDA device");
  const std::vector<std::pair<const Tensor*, const char*>> on_device = {
      {&grad_output_in, "grad_output"}, {&grad_hn, "grad_hn"}, {&input, "input"}, {&h0, "h0"},
      {&w_ih, "weight_ih"}, {&gates_in, "gates"}, {&hprev_in, "hprev"}};
  for (const auto& tn : on_device) check_on(*tn.first, dev, who, tn.second);
  const c10::cuda::CUDAGuard guard(dev);
  TORCH_CHECK_TYPE(w_hh_in.scalar_type() == at::kFloat || w_hh_in.scalar_type() == at::kDouble, who,
                   ": weights must be float32 or float64 on CUDA, got ", w_hh_in.scalar_type());
  const GruBackwardArgs args = check_gru_backward_args(grad_output_in, grad_hn, input, batch_sizes, h0, w_hh_in,
                                                       gates_in, hprev_in, who);
  const int64_t H = args.H, G = args.G, N = args.N;
  const Steps& st = args.steps;
  const bool index_input = args.index_input;
  const Tensor w_hh = args.w_hh;
  const auto dtype = args.dtype;
  const auto opts = w_hh.options();
  // an empty grad_output stands for zeros (only h_n was used), as on the CPU
  const Tensor gout = args.has_gout ? args.gout : at::zeros({N, H}, opts);
  const Tensor gates = args.gates;
  const Tensor hprev = args.hprev;
  Tensor dhbuf = grad_hn.contiguous().clone();
  Tensor dgi = at::empty({N, G}, opts);
  Tensor dgh = at::empty({N, G}, opts);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES(dtype, "seqkit_gru_backward_cuda", [&] {
    cuda::GruBwdStep<scalar_t> s{};
    s.H = H;
    s.gout = gout.data_ptr<scalar_t>();
    s.gates = gates.data_ptr<scalar_t>();
    s.hprev = hprev.data_ptr<scalar_t>();
    s.dh = dhbuf.data_ptr<scalar_t>();
    s.dgi = dgi.data_ptr<scalar_t>();
    s.dgh = dgh.data_ptr<scalar_t>();
    for (int64_t k = 0; k < st.T; ++k) {
      const int64_t t = reverse ? k : st.T - 1 - k;  // opposite order of the forward pass
      s.bs = st.bs[t];
      s.off = st.off[t];
      SEQKIT_CUDA_CHECK(cuda::gru_bwd_step(s, stream));
      Tensor dh_t = dhbuf.narrow(0, 0, s.bs);
      dh_t.addmm_(dgh.narrow(0, s.off, s.bs), w_hh);  // dh_prev += dgh @ W_hh (cuBLAS)
    }
  });

  Tensor grad_w_hh = N > 0 ? at::mm(dgh.t(), hprev) : at::zeros_like(w_hh);
  Tensor grad_w_ih, grad_input;
  if (index_input) {
    const Tensor idx = input.to(at::kLong).contiguous();
    const int64_t V = w_ih.size(1);
    Tensor gT = at::zeros({V, G}, opts);
    AT_DISPATCH_FLOATING_TYPES(dtype, "seqkit_gru_scatter_cuda", [&] {
      SEQKIT_CUDA_CHECK(cuda::scatter_add_rows(dgi.data_ptr<scalar_t>(), idx.data_ptr<int64_t>(), N, G,
                                               V, gT.data_ptr<scalar_t>(), stream));
    });
    grad_w_ih = gT.t().contiguous();
    grad_input = at::empty({0}, opts);
  } else {
    grad_w_ih = at::mm(dgi.t(), input.contiguous());
    grad_input = input_grad ? at::mm(dgi, w_ih) : at::empty({0}, opts);
  }
  Tensor grad_b_ih = has_bias ? dgi.sum(0) : at::empty({0}, opts);
  Tensor grad_b_hh = has_bias ? dgh.sum(0) : at::empty({0}, opts);
  return {grad_input, h0_grad ? dhbuf : at::empty({0}, opts), grad_w_ih, grad_w_hh, grad_b_ih,
          grad_b_hh};
}

}  // namespace
}  // namespace seqkit

TORCH_LIBRARY_IMPL(seqkit, CUDA, m) {
  m.impl("gru_forward", &seqkit::gru_forward_cuda);
  m.impl("gru_backward", &seqkit::gru_backward_cuda);
}
