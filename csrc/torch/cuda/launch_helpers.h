// Host-side helpers shared by the CUDA launchers (encode_pack_cuda.cpp, gru_cuda.cpp):
// raising on CUDA errors, finding and checking the op's device, and small host-to-device
// copies. Compiled only in a CUDA build.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>  // c10::cuda::getCurrentCUDAStream (= at::cuda::getCurrentCUDAStream)
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <tuple>
#include <vector>

// Raises (RuntimeError) with the CUDA error's name and text when expr does not return
// cudaSuccess: every CUDA call and kernel launch of the launchers goes through it.
#define SEQKIT_CUDA_CHECK(expr)                                                             \
  do {                                                                                      \
    const cudaError_t seqkit_err_ = (expr);                                                 \
    TORCH_CHECK(seqkit_err_ == cudaSuccess, "seqkit CUDA: ", #expr, " failed: ",           \
                cudaGetErrorName(seqkit_err_), ": ", cudaGetErrorString(seqkit_err_));      \
  } while (0)

namespace seqkit {
namespace cuda_launch {

using Tensor = at::Tensor;
using Four = std::tuple<Tensor, Tensor, Tensor, Tensor>;

// The CUDA device of the first CUDA tensor among ts.
inline c10::Device cuda_device_of(std::initializer_list<const Tensor*> ts, const char* who) {
  for (const Tensor* t : ts) {
    if (t->defined() && t->is_cuda()) return t->device();
  }
  TORCH_CHECK(false, who, ": no CUDA tensor among the inputs");
  return c10::Device(c10::kCUDA);  // not reached
}

inline void check_on(const Tensor& t, c10::Device dev, const char* who, const char* name) {
  TORCH_CHECK_VALUE(t.device() == dev, who, ": ", name, " is on ", t.device(),
                    " but the op runs on ", dev, "; move every tensor (except batch_sizes) there");
}

// A pinned host int64 tensor of v, copied to dev without blocking the host (the caching
// host allocator keeps the pinned block alive until the copy has run).
inline Tensor to_device_i64(const std::vector<int64_t>& v, c10::Device dev) {
  Tensor h = at::empty({static_cast<int64_t>(v.size())},
                       at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  if (!v.empty()) std::memcpy(h.data_ptr<int64_t>(), v.data(), v.size() * sizeof(int64_t));
  return h.to(dev, /*non_blocking=*/true);
}

}  // namespace cuda_launch
}  // namespace seqkit
