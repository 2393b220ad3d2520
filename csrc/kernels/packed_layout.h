// The layout of a packed batch, torch's PackedSequence order (torch-free; used by the CPU
// and CUDA launchers in csrc/torch/ and by the CPU kernels).
//
// The sequences are sorted by length, longest first; step t holds the batch_sizes[t]
// sequences longer than t, and packed row step_offset[t] + b is step t of the b-th sorted
// sequence. Steps reads that layout from a batch's batch_sizes; plan_pack makes it for a
// batch of lengths (the encode-and-pack ops, on both devices and for the text path).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace seqkit {

// The steps of a packed batch (csrc/torch/checks.h: check_steps reads them from
// batch_sizes). bs[t]: active rows at step t; off[t]: first packed row of step t; N: rows
// in all.
struct Steps {
  std::vector<int64_t> bs, off;
  int64_t T = 0, N = 0;
};

// The longest of lengths: the number of steps of their packed batch (the size of the
// batch_sizes that plan_pack writes).
inline int64_t max_length(const std::vector<int64_t>& lengths) {
  int64_t max_len = 0;
  for (int64_t L : lengths) max_len = std::max(max_len, L);
  return max_len;
}

struct PackPlan {
  int64_t n = 0;        // sequences
  int64_t max_len = 0;  // steps
  int64_t total = 0;    // packed rows: the sum of the lengths
  std::vector<int64_t> step_offset;  // [max_len]: first packed row of each step
};

// The packed layout of sequences of the given lengths (values >= 1; max_len =
// max_length(lengths)): a stable counting sort by length, descending (equal lengths keep
// their order). Writes, into the caller's buffers (on the CPU, the op's output tensors):
// sorted[n] (sorted position -> input index: PackedSequence.sorted_indices), unsorted[n]
// (its inverse: unsorted_indices) and batch_sizes[max_len] (#{lengths > t}); returns the
// rest of the plan.
inline PackPlan plan_pack(const std::vector<int64_t>& lengths, int64_t max_len, int64_t* sorted,
                          int64_t* unsorted, int64_t* batch_sizes) {
  PackPlan p;
  p.n = static_cast<int64_t>(lengths.size());
  p.max_len = max_len;
  // counts[L] = how many texts have length L
  std::vector<int64_t> counts(p.max_len + 2, 0);
  for (int64_t L : lengths) counts[L]++;
  // start[L] = first sorted position of length L (descending lengths)
  std::vector<int64_t> start(p.max_len + 2, 0);
  int64_t acc = 0;
  for (int64_t L = p.max_len; L >= 1; --L) {
    start[L] = acc;
    acc += counts[L];
  }
  for (int64_t i = 0; i < p.n; ++i) {
    const int64_t pos = start[lengths[i]]++;
    sorted[pos] = i;
    unsorted[i] = pos;
  }
  // batch_sizes[t] = #{texts with length > t}
  int64_t active = 0;
  for (int64_t t = p.max_len - 1; t >= 0; --t) {
    active += counts[t + 1];
    batch_sizes[t] = active;
  }
  p.step_offset.resize(p.max_len);
  acc = 0;
  for (int64_t t = 0; t < p.max_len; ++t) {
    p.step_offset[t] = acc;
    acc += batch_sizes[t];
  }
  p.total = acc;
  return p;
}

}  // namespace seqkit
