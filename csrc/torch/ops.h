// The CPU ops of seqkit._C: their C++ entry points (the launchers), one file each in this
// folder (encode_pack.cpp, gru.cpp, adam_step.cpp), which also registers them with the
// dispatcher (TORCH_LIBRARY_IMPL(seqkit, CPU)). The schemas and the pybind11 module (which
// exposes encode_pack_texts) are in registration.cpp; the CUDA launchers in cuda/.
#pragma once

#include <torch/extension.h>

#include <tuple>

namespace seqkit {

// ---- encode-and-pack -------------------------------------------------------------
// Packs a pre-encoded corpus: symbols[offsets[r] : offsets[r+1]] for r in rows.
// Returns (data, batch_sizes, sorted_indices, unsorted_indices), as PackedSequence.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> encode_pack_corpus_cpu(
    const at::Tensor& symbols, const at::Tensor& offsets, const at::Tensor& rows,
    int64_t num_symbols, bool one_hot);

// pybind11 entry point: a Python list/tuple of str, read through the strings' code
// point buffers. Returns (data, batch_sizes, sorted_indices, unsorted_indices, kept).
pybind11::tuple encode_pack_texts(pybind11::handle texts, pybind11::handle alphabet,
                                  bool one_hot, int64_t unknown, bool drop_empty);

// ---- fused GRU (one layer, one direction) ----------------------------------------
// Returns (output [N,H], h_n [B,H], gates [N,4H] = r,z,n,(W_hn h + b_hn), hprev [N,H]).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> gru_forward_cpu(
    const at::Tensor& input, const at::Tensor& batch_sizes, const at::Tensor& h0,
    const at::Tensor& w_ih, const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_ih,
    const c10::optional<at::Tensor>& b_hh, bool reverse);

// Returns (grad_input, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh); grad_input
// is empty for index input or when input_grad is false, grad_h0 when h0_grad is false,
// bias grads without bias. An empty grad_output stands for zeros (only h_n was used).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
gru_backward_cpu(const at::Tensor& grad_output, const at::Tensor& grad_hn,
                 const at::Tensor& input, const at::Tensor& batch_sizes, const at::Tensor& h0,
                 const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& gates,
                 const at::Tensor& hprev, bool reverse, bool has_bias, bool input_grad,
                 bool h0_grad);

// ---- fused GRU, both directions of a layer at once (gru_bidir.cpp) --------------
// The two directions' gru_forward_cpu side by side, one per thread: (output, output_reverse,
// h_n, h_n_reverse, gates, hprev, gates_reverse, hprev_reverse).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
gru_bidir_forward_cpu(const at::Tensor& input, const at::Tensor& batch_sizes, const at::Tensor& h0,
                      const at::Tensor& h0_reverse, const at::Tensor& w_ih, const at::Tensor& w_hh,
                      const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh,
                      const at::Tensor& w_ih_reverse, const at::Tensor& w_hh_reverse,
                      const c10::optional<at::Tensor>& b_ih_reverse,
                      const c10::optional<at::Tensor>& b_hh_reverse,
                      const c10::optional<at::Tensor>& embedding);

// The two directions' gru_backward_cpu side by side: (grad_input (the sum of both
// directions'), grad_h0, grad_h0_reverse, then grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh
// of the forward direction and of the reverse one, then grad_embedding (empty without one)).
// With an embedding E, input is symbol indices and the first layer's input projection is
// the gather of W_ih E^T (folded, see gru_bidir.cpp).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
           at::Tensor, at::Tensor, at::Tensor, at::Tensor>
gru_bidir_backward_cpu(const at::Tensor& grad_output, const at::Tensor& grad_output_reverse,
                       const at::Tensor& grad_hn, const at::Tensor& grad_hn_reverse, const at::Tensor& input,
                       const at::Tensor& batch_sizes, const at::Tensor& h0, const at::Tensor& h0_reverse,
                       const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& w_ih_reverse,
                       const at::Tensor& w_hh_reverse, const at::Tensor& gates, const at::Tensor& hprev,
                       const at::Tensor& gates_reverse, const at::Tensor& hprev_reverse, bool has_bias,
                       bool input_grad, bool h0_grad, const c10::optional<at::Tensor>& embedding);

// ---- dropout masks (dropout.cpp) -----------------------------------------------------
// A contiguous tensor shaped like `like`: 1/(1-p) where kept (probability 1 - p), else 0,
// a function of (seed, element index) only.
at::Tensor dropout_mask_cpu(const at::Tensor& like, double p, int64_t seed);

// ---- optimizer --------------------------------------------------------------------
// Adam (adamw=false) / AdamW update of every tensor of the lists, as torch's fused CPU
// kernel (see csrc/kernels/cpu/adam.h for the last-bit details); with max_norm, first the
// gradients' total 2-norm (summed in double) and clipping as nn.utils.clip_grad_norm_
// (nothing changes when the norm is not finite). Returns the norm (0 without max_norm). steps[i] is
// incremented before its update.
double adam_step_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                     at::TensorList exp_avg_sqs, at::TensorList steps, double lr, double beta1, double beta2,
                     double weight_decay, double eps, bool adamw, c10::optional<double> max_norm);

}  // namespace seqkit
