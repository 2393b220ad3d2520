// Thin launcher of seqkit's CUDA kernels: takes tensors, checks them, plans on the host
// what must be planned there (the length sort of encode-and-pack, the step loop of the
// GRU, since batch_sizes is a CPU tensor), runs cuBLAS GEMMs through ATen and the
// kernels of kernels.cuh on the current stream, and registers the CUDA implementations of
// the ops declared in csrc/ops.cpp (TORCH_LIBRARY(seqkit)). Compiled only in a CUDA build
// (setup.py: CUDAExtension, SEQKIT_WITH_CUDA). Semantics and outputs equal the CPU ops
// (csrc/encode_pack.cpp, csrc/gru.cpp), so seqkit/ops.py's autograd serves both devices.
//
// Also defines seqkit::encode_pack_codes: texts as one flat host buffer of code units +
// offsets, mapped on the device through a lookup table (the GPU encode-and-pack of raw
// strings; see benchmarks/bench_cuda.py for how to build its inputs).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>  // c10::cuda::getCurrentCUDAStream (= at::cuda::getCurrentCUDAStream)
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels.cuh"
#include "../gru_checks.h"

#define SEQKIT_CUDA_CHECK(expr)                                                             \
  do {                                                                                      \
    const cudaError_t seqkit_err_ = (expr);                                                 \
    TORCH_CHECK(seqkit_err_ == cudaSuccess, "seqkit CUDA: ", #expr, " failed: ",           \
                cudaGetErrorName(seqkit_err_), ": ", cudaGetErrorString(seqkit_err_));      \
  } while (0)

namespace seqkit {
namespace {

using Tensor = at::Tensor;
using Four = std::tuple<Tensor, Tensor, Tensor, Tensor>;

// The CUDA device of the first CUDA tensor among ts.
c10::Device cuda_device_of(std::initializer_list<const Tensor*> ts, const char* who) {
  for (const Tensor* t : ts) {
    if (t->defined() && t->is_cuda()) return t->device();
  }
  TORCH_CHECK(false, who, ": no CUDA tensor among the inputs");
  return c10::Device(c10::kCUDA);  // not reached
}

void check_on(const Tensor& t, c10::Device dev, const char* who, const char* name) {
  TORCH_CHECK_VALUE(t.device() == dev, who, ": ", name, " is on ", t.device(),
                    " but the op runs on ", dev, "; move every tensor (except batch_sizes) there");
}

// A pinned host int64 tensor of v, copied to dev without blocking the host (the caching
// host allocator keeps the pinned block alive until the copy has run).
Tensor to_device_i64(const std::vector<int64_t>& v, c10::Device dev) {
  Tensor h = at::empty({static_cast<int64_t>(v.size())},
                       at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  if (!v.empty()) std::memcpy(h.data_ptr<int64_t>(), v.data(), v.size() * sizeof(int64_t));
  return h.to(dev, /*non_blocking=*/true);
}

// ---- encode-and-pack ---------------------------------------------------------------

struct Plan {
  int64_t n = 0, max_len = 0, total = 0;
  std::vector<int64_t> sorted, unsorted, batch_sizes, step_offset;
};

// Stable counting sort by length, descending (exactly plan_pack in csrc/encode_pack.cpp).
Plan plan_pack(const std::vector<int64_t>& lengths) {
  Plan p;
  p.n = static_cast<int64_t>(lengths.size());
  for (int64_t L : lengths) p.max_len = std::max(p.max_len, L);
  std::vector<int64_t> counts(p.max_len + 2, 0), start(p.max_len + 2, 0);
  for (int64_t L : lengths) counts[L]++;
  int64_t acc = 0;
  for (int64_t L = p.max_len; L >= 1; --L) {
    start[L] = acc;
    acc += counts[L];
  }
  p.sorted.resize(p.n);
  p.unsorted.resize(p.n);
  for (int64_t i = 0; i < p.n; ++i) {
    const int64_t pos = start[lengths[i]]++;
    p.sorted[pos] = i;
    p.unsorted[i] = pos;
  }
  p.batch_sizes.resize(p.max_len);
  int64_t active = 0;
  for (int64_t t = p.max_len - 1; t >= 0; --t) {
    active += counts[t + 1];
    p.batch_sizes[t] = active;
  }
  p.step_offset.resize(p.max_len);
  acc = 0;
  for (int64_t t = 0; t < p.max_len; ++t) {
    p.step_offset[t] = acc;
    acc += p.batch_sizes[t];
  }
  p.total = acc;
  return p;
}

cudaError_t launch_pack(const Tensor& codes, const cuda::PackArgs& a, cudaStream_t s,
                        const char* who) {
  switch (codes.scalar_type()) {
    case at::kByte: return cuda::encode_pack_u8(codes.data_ptr<uint8_t>(), a, s);
    case at::kChar: return cuda::encode_pack_i8(codes.data_ptr<int8_t>(), a, s);
    case at::kShort: return cuda::encode_pack_i16(codes.data_ptr<int16_t>(), a, s);
    case at::kInt: return cuda::encode_pack_i32(codes.data_ptr<int32_t>(), a, s);
    case at::kLong: return cuda::encode_pack_i64(codes.data_ptr<int64_t>(), a, s);
    case at::kUInt16:
      return cuda::encode_pack_u16(reinterpret_cast<const uint16_t*>(codes.data_ptr()), a, s);
    case at::kUInt32:
      return cuda::encode_pack_u32(reinterpret_cast<const uint32_t*>(codes.data_ptr()), a, s);
    default:
      TORCH_CHECK_TYPE(false, who, ": symbols must be an integer tensor, got ", codes.scalar_type());
  }
  return cudaErrorInvalidValue;  // not reached
}

// Shared body of both encode-and-pack ops. codes: any device (host codes are gathered
// for this batch into one pinned buffer and copied once); offs/rows: host int64.
// lut: device int32 or undefined. Errors name the row as the CPU op does.
Four pack_impl(const Tensor& codes_in, const Tensor& offs, const Tensor& rows, const Tensor& lut,
               int64_t unknown, int64_t num_symbols, bool one_hot, c10::Device dev,
               const char* who) {
  TORCH_CHECK_VALUE(!one_hot || num_symbols > 0, who,
                    ": one_hot=True needs num_symbols (the one-hot width)");
  const int64_t* off = offs.data_ptr<int64_t>();
  const int64_t* row = rows.data_ptr<int64_t>();
  const int64_t n = rows.numel();
  const int64_t n_corpus = offs.numel() - 1;
  const int64_t n_sym = codes_in.numel();
  std::vector<int64_t> lengths(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = row[i];
    TORCH_CHECK_INDEX(r >= 0 && r < n_corpus, who, ": rows[", i, "] = ", r,
                      " is outside the corpus of ", n_corpus, " texts (offsets has ", n_corpus + 1,
                      " entries)");
    const int64_t a = off[r], e = off[r + 1];
    TORCH_CHECK_VALUE(0 <= a && a <= e && e <= n_sym, who, ": offsets[", r, ":", r + 2, "] = (", a,
                      ", ", e, ") is not a valid slice of the ", n_sym,
                      " symbols; offsets must be non-decreasing and end at len(symbols)");
    TORCH_CHECK_VALUE(e > a, who, ": rows[", i, "] = ", r,
                      " is an empty text; a packed sequence needs length >= 1: drop it from rows");
    lengths[i] = e - a;
  }
  TORCH_CHECK_VALUE(n > 0, who, ": rows is empty; pass at least one row");
  const Plan plan = plan_pack(lengths);

  // Device codes are read in place; host codes: this batch's texts, gathered in sorted
  // order into one pinned buffer, one host-to-device copy.
  Tensor codes;
  std::vector<int64_t> meta(2 * n + plan.max_len);  // src_start | length | step_offset
  if (codes_in.is_cuda()) {
    codes = codes_in.contiguous();
    for (int64_t b = 0; b < n; ++b) meta[b] = off[row[plan.sorted[b]]];
  } else {
    const Tensor src = codes_in.contiguous();
    Tensor pinned = at::empty({plan.total}, src.options().pinned_memory(true));
    const int64_t es = static_cast<int64_t>(src.element_size());
    const char* sp = static_cast<const char*>(src.data_ptr());
    char* dp = static_cast<char*>(pinned.data_ptr());
    int64_t pos = 0;
    for (int64_t b = 0; b < n; ++b) {
      const int64_t i = plan.sorted[b];
      std::memcpy(dp + pos * es, sp + off[row[i]] * es, lengths[i] * es);
      meta[b] = pos;
      pos += lengths[i];
    }
    codes = pinned.to(dev, /*non_blocking=*/true);
  }
  for (int64_t b = 0; b < n; ++b) meta[n + b] = lengths[plan.sorted[b]];
  std::copy(plan.step_offset.begin(), plan.step_offset.end(), meta.begin() + 2 * n);
  const Tensor meta_d = to_device_i64(meta, dev);

  Tensor data = one_hot ? at::zeros({plan.total, num_symbols}, at::TensorOptions().dtype(at::kFloat).device(dev))
                        : at::empty({plan.total}, at::TensorOptions().dtype(at::kLong).device(dev));
  Tensor err = at::full({1}, -1, at::TensorOptions().dtype(at::kLong).device(dev));  // ~0ull

  cuda::PackArgs a{};
  a.src_start = meta_d.data_ptr<int64_t>();
  a.length = a.src_start + n;
  a.step_offset = a.src_start + 2 * n;
  a.n = n;
  a.lut = lut.defined() ? lut.data_ptr<int32_t>() : nullptr;
  a.lut_size = lut.defined() ? lut.numel() : 0;
  a.unknown = unknown;
  a.num_symbols = num_symbols;
  a.one_hot = one_hot;
  a.out_index = one_hot ? nullptr : data.data_ptr<int64_t>();
  a.out_onehot = one_hot ? data.data_ptr<float>() : nullptr;
  a.error = reinterpret_cast<unsigned long long*>(err.data_ptr<int64_t>());
  SEQKIT_CUDA_CHECK(launch_pack(codes, a, c10::cuda::getCurrentCUDAStream(), who));

  const uint64_t e = static_cast<uint64_t>(err.item<int64_t>());  // synchronizes
  if (e != ~0ull) {
    const int64_t b = static_cast<int64_t>(e >> 32), t = static_cast<int64_t>(e & 0xffffffffull);
    const int64_t i = plan.sorted[b];
    const int64_t s = codes.narrow(0, meta[b] + t, 1).to(at::kCPU).to(at::kLong).item<int64_t>();
    if (lut.defined()) {
      TORCH_CHECK_VALUE(false, who, ": text ", row[i], " has code ", s, " at position ", t,
                        ", which is not in the alphabet; add it to the alphabet or pass "
                        "unknown=<symbol index>");
    }
    TORCH_CHECK_VALUE(false, who, ": symbol ", s, " at position ", t, " of rows[", i, "] = ", row[i],
                      " is outside [0, ", num_symbols, "); fix the corpus or num_symbols");
  }
  Tensor bs = at::empty({plan.max_len}, at::TensorOptions().dtype(at::kLong));
  std::memcpy(bs.data_ptr<int64_t>(), plan.batch_sizes.data(), plan.max_len * sizeof(int64_t));
  std::vector<int64_t> perm(plan.sorted);
  perm.insert(perm.end(), plan.unsorted.begin(), plan.unsorted.end());
  const Tensor perm_d = to_device_i64(perm, dev);
  // separate tensors (outputs of an op must not alias each other)
  return {data, bs, perm_d.narrow(0, 0, n).clone(), perm_d.narrow(0, n, n).clone()};
}

Tensor host_long(const Tensor& t) { return t.to(at::kCPU).to(at::kLong).contiguous(); }

Four encode_pack_corpus_cuda(const Tensor& symbols, const Tensor& offsets, const Tensor& rows,
                             int64_t num_symbols, bool one_hot) {
  const char* who = "encode_pack_corpus";
  TORCH_CHECK_VALUE(symbols.dim() == 1 && offsets.dim() == 1 && rows.dim() == 1, who,
                    ": symbols, offsets and rows must be 1-D");
  TORCH_CHECK_VALUE(offsets.numel() >= 1, who, ": offsets needs n+1 >= 1 entries");
  TORCH_CHECK_TYPE(!at::isFloatingType(offsets.scalar_type()) && offsets.scalar_type() != at::kBool,
                   who, ": offsets must be an integer tensor");
  const c10::Device dev = cuda_device_of({&symbols, &offsets, &rows}, who);
  const c10::cuda::CUDAGuard guard(dev);
  return pack_impl(symbols, host_long(offsets), host_long(rows), Tensor(), -1, num_symbols, one_hot,
                   dev, who);
}

// codes: flat code units of all texts (host or device; uint8 for Latin-1 bytes, int32 for
// code points), offsets [n+1], lut: int32 [K] code -> symbol (-1: not in the alphabet),
// unknown: symbol for unmapped codes or -1 (error), num_symbols: alphabet size.
Four encode_pack_codes(const Tensor& codes, const Tensor& offsets, const Tensor& lut,
                       int64_t unknown, int64_t num_symbols, bool one_hot, c10::Device device) {
  const char* who = "encode_pack_codes";
  TORCH_CHECK_VALUE(device.is_cuda(), who, ": device must be a CUDA device, got ", device);
  TORCH_CHECK_VALUE(codes.dim() == 1 && offsets.dim() == 1 && lut.dim() == 1, who,
                    ": codes, offsets and lut must be 1-D");
  TORCH_CHECK_VALUE(offsets.numel() >= 2, who, ": offsets needs n+1 >= 2 entries");
  TORCH_CHECK_VALUE(num_symbols > 0, who, ": num_symbols must be the alphabet size (> 0)");
  TORCH_CHECK_VALUE(unknown < num_symbols, who, ": unknown=", unknown, " is outside the alphabet");
  c10::Device dev = device;
  if (!dev.has_index()) dev = c10::Device(c10::kCUDA, c10::cuda::current_device());
  const c10::cuda::CUDAGuard guard(dev);
  const Tensor offs = host_long(offsets);
  const Tensor rows = at::arange(offs.numel() - 1, at::TensorOptions().dtype(at::kLong));
  const Tensor lut_d = lut.to(dev, at::kInt, /*non_blocking=*/false).contiguous();
  return pack_impl(codes, offs, rows, lut_d, unknown < 0 ? -1 : unknown, num_symbols, one_hot, dev,
                   who);
}

// ---- fused GRU -------------------------------------------------------------------------

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
  const int64_t H = w_hh_in.size(1);
  const int64_t G = 3 * H;
  const int64_t N = input.size(0);
  const int64_t B = h0.size(0);
  const Steps st = check_steps(batch_sizes, N, B, who);
  const c10::Device dev = w_hh_in.device();
  TORCH_CHECK_VALUE(dev.is_cuda(), who, ": weight_hh must be on a CUDA device");
  const std::vector<std::pair<const Tensor*, const char*>> on_device = {
      {&grad_output_in, "grad_output"}, {&grad_hn, "grad_hn"}, {&input, "input"}, {&h0, "h0"},
      {&w_ih, "weight_ih"}, {&gates_in, "gates"}, {&hprev_in, "hprev"}};
  for (const auto& tn : on_device) check_on(*tn.first, dev, who, tn.second);
  const c10::cuda::CUDAGuard guard(dev);
  const bool index_input = !at::isFloatingType(input.scalar_type());
  const Tensor w_hh = w_hh_in.contiguous();
  const auto dtype = w_hh.scalar_type();
  TORCH_CHECK_TYPE(dtype == at::kFloat || dtype == at::kDouble, who,
                   ": weights must be float32 or float64 on CUDA, got ", dtype);
  const auto opts = w_hh.options();
  // an empty grad_output stands for zeros (only h_n was used), as on the CPU
  const bool has_gout = grad_output_in.numel() != 0;
  TORCH_CHECK_VALUE((!has_gout || grad_output_in.sizes() == at::IntArrayRef({N, H})) &&
                        grad_hn.sizes() == at::IntArrayRef({B, H}) &&
                        gates_in.sizes() == at::IntArrayRef({N, 4 * H}) &&
                        hprev_in.sizes() == at::IntArrayRef({N, H}),
                    who, ": gradient / saved tensor shapes do not match the forward outputs");
  TORCH_CHECK_TYPE(grad_output_in.scalar_type() == dtype && grad_hn.scalar_type() == dtype &&
                       gates_in.scalar_type() == dtype && hprev_in.scalar_type() == dtype,
                   who, ": gradients and saved tensors must have the weights' dtype");
  const Tensor gout = has_gout ? grad_output_in.contiguous() : at::zeros({N, H}, opts);
  const Tensor gates = gates_in.contiguous();
  const Tensor hprev = hprev_in.contiguous();
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

// The GPU encode-and-pack of raw texts (code units + lookup table); CUDA builds only.
TORCH_LIBRARY_FRAGMENT(seqkit, m) {
  m.def(
      "encode_pack_codes(Tensor codes, Tensor offsets, Tensor lut, int unknown, int num_symbols, "
      "bool one_hot, Device device) -> (Tensor data, Tensor batch_sizes, Tensor sorted_indices, "
      "Tensor unsorted_indices)");
}

TORCH_LIBRARY_IMPL(seqkit, CompositeExplicitAutograd, m) {
  m.impl("encode_pack_codes", &seqkit::encode_pack_codes);
}

TORCH_LIBRARY_IMPL(seqkit, CUDA, m) {
  m.impl("encode_pack_corpus", &seqkit::encode_pack_corpus_cuda);
  m.impl("gru_forward", &seqkit::gru_forward_cuda);
  m.impl("gru_backward", &seqkit::gru_backward_cuda);
}
