// CUDA launcher of encode-and-pack: seqkit::encode_pack_corpus on CUDA tensors, and
// seqkit::encode_pack_codes (CUDA builds only): texts as one flat buffer of code units +
// offsets, mapped on the device through a lookup table (the GPU encode-and-pack of raw
// strings; see benchmarks/bench_cuda.py for how to build its inputs).
//
// The host checks the arguments and sorts the batch by length (the checks and plan_pack
// shared with the CPU op: ../checks.h, csrc/kernels/packed_layout.h); one kernel
// (csrc/kernels/cuda/encode_pack.cu) maps and writes every symbol on the current stream.
// Outputs equal the CPU op's (csrc/torch/encode_pack.cpp). Compiled only in a CUDA build
// (setup.py: CUDAExtension, SEQKIT_WITH_CUDA).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../kernels/cuda/kernels.cuh"
#include "../../kernels/packed_layout.h"
#include "../checks.h"
#include "launch_helpers.h"

namespace seqkit {
namespace {

using cuda_launch::cuda_device_of;
using cuda_launch::Four;
using cuda_launch::Tensor;
using cuda_launch::to_device_i64;

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
// lut: device int32 or undefined. The callers have checked one_hot against num_symbols.
// Errors name the row as the CPU op does.
Four pack_impl(const Tensor& codes_in, const Tensor& offs, const Tensor& rows, const Tensor& lut,
               int64_t unknown, int64_t num_symbols, bool one_hot, c10::Device dev,
               const char* who) {
  const int64_t* off = offs.data_ptr<int64_t>();
  const int64_t* row = rows.data_ptr<int64_t>();
  const int64_t n = rows.numel();
  const std::vector<int64_t> lengths = corpus_lengths(off, offs.numel() - 1, row, n, codes_in.numel(), who);
  // the sort by length, on the host: sorted | unsorted indices in perm (copied to the
  // device at the end), batch_sizes straight into the op's CPU output
  const int64_t max_len = max_length(lengths);
  std::vector<int64_t> perm(2 * n);
  const int64_t* sorted = perm.data();
  Tensor bs = at::empty({max_len}, at::TensorOptions().dtype(at::kLong));
  const PackPlan plan = plan_pack(lengths, max_len, perm.data(), perm.data() + n, bs.data_ptr<int64_t>());

  // Device codes are read in place; host codes: this batch's texts, gathered in sorted
  // order into one pinned buffer, one host-to-device copy.
  Tensor codes;
  std::vector<int64_t> meta(2 * n + plan.max_len);  // src_start | length | step_offset
  if (codes_in.is_cuda()) {
    codes = codes_in.contiguous();
    for (int64_t b = 0; b < n; ++b) meta[b] = off[row[sorted[b]]];
  } else {
    const Tensor src = codes_in.contiguous();
    Tensor pinned = at::empty({plan.total}, src.options().pinned_memory(true));
    const int64_t es = static_cast<int64_t>(src.element_size());
    const char* sp = static_cast<const char*>(src.data_ptr());
    char* dp = static_cast<char*>(pinned.data_ptr());
    int64_t pos = 0;
    for (int64_t b = 0; b < n; ++b) {
      const int64_t i = sorted[b];
      std::memcpy(dp + pos * es, sp + off[row[i]] * es, lengths[i] * es);
      meta[b] = pos;
      pos += lengths[i];
    }
    codes = pinned.to(dev, /*non_blocking=*/true);
  }
  for (int64_t b = 0; b < n; ++b) meta[n + b] = lengths[sorted[b]];
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
    const int64_t i = sorted[b];
    const int64_t s = codes.narrow(0, meta[b] + t, 1).to(at::kCPU).to(at::kLong).item<int64_t>();
    if (lut.defined()) {
      TORCH_CHECK_VALUE(false, who, ": text ", row[i], " has code ", s, " at position ", t,
                        ", which is not in the alphabet; add it to the alphabet or pass "
                        "unknown=<symbol index>");
    }
    TORCH_CHECK_VALUE(false, who, ": symbol ", s, " at position ", t, " of rows[", i, "] = ", row[i],
                      " is outside [0, ", num_symbols, "); fix the corpus or num_symbols");
  }
  const Tensor perm_d = to_device_i64(perm, dev);
  // separate tensors (outputs of an op must not alias each other)
  return {data, bs, perm_d.narrow(0, 0, n).clone(), perm_d.narrow(0, n, n).clone()};
}

Tensor host_long(const Tensor& t) { return t.to(at::kCPU).to(at::kLong).contiguous(); }

Four encode_pack_corpus_cuda(const Tensor& symbols, const Tensor& offsets, const Tensor& rows,
                             int64_t num_symbols, bool one_hot) {
  const char* who = "encode_pack_corpus";
  check_corpus_args(symbols, offsets, rows, num_symbols, one_hot, who);
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

}  // namespace
}  // namespace seqkit

// (the schema of encode_pack_codes is in ../registration.cpp, under SEQKIT_WITH_CUDA)
TORCH_LIBRARY_IMPL(seqkit, CompositeExplicitAutograd, m) {
  m.impl("encode_pack_codes", &seqkit::encode_pack_codes);
}

TORCH_LIBRARY_IMPL(seqkit, CUDA, m) { m.impl("encode_pack_corpus", &seqkit::encode_pack_corpus_cuda); }
