// seqkit's op library: the schemas of every op (TORCH_LIBRARY(seqkit)), the pybind11 module
// seqkit._C and the hash of the sources it was built from. Each op's kernels register
// themselves beside their launcher (TORCH_LIBRARY_IMPL(seqkit, CPU) in encode_pack.cpp,
// gru.cpp, gru_bidir.cpp, dropout.cpp and adam_step.cpp; TORCH_LIBRARY_IMPL(seqkit, CUDA) in cuda/). Autograd and fake
// (meta) kernels are registered from Python, in each op's module of seqkit/ops/, with
// torch.library.register_autograd / register_fake.
#include "ops.h"

#include <torch/library.h>

// Hash of the sources this binary was built from (setup.py / the JIT build pass it), so
// seqkit/ops/extension.py can tell a stale in-place build from a current one without
// importing it. The marker is found by scanning the shared object's bytes.
#ifndef SEQKIT_SOURCE_HASH
#define SEQKIT_SOURCE_HASH unknown
#endif
#define SEQKIT_STR2(x) #x
#define SEQKIT_STR(x) SEQKIT_STR2(x)
extern "C" __attribute__((used)) const char seqkit_source_hash_marker[] =
    "SEQKIT_SOURCE_HASH=" SEQKIT_STR(SEQKIT_SOURCE_HASH) ";";

TORCH_LIBRARY(seqkit, m) {
  m.def(
      "encode_pack_corpus(Tensor symbols, Tensor offsets, Tensor rows, int num_symbols, "
      "bool one_hot) -> (Tensor data, Tensor batch_sizes, Tensor sorted_indices, "
      "Tensor unsorted_indices)");
  m.def(
      "gru_forward(Tensor input, Tensor batch_sizes, Tensor h0, Tensor w_ih, Tensor w_hh, "
      "Tensor? b_ih, Tensor? b_hh, bool reverse) -> (Tensor output, Tensor h_n, "
      "Tensor gates, Tensor hprev)");
  m.def(
      "gru_backward(Tensor grad_output, Tensor grad_hn, Tensor input, Tensor batch_sizes, "
      "Tensor h0, Tensor w_ih, Tensor w_hh, Tensor gates, Tensor hprev, bool reverse, "
      "bool has_bias, bool input_grad, bool h0_grad) -> (Tensor grad_input, Tensor grad_h0, "
      "Tensor grad_w_ih, Tensor grad_w_hh, Tensor grad_b_ih, Tensor grad_b_hh)");
  // both directions of a bidirectional layer at once (gru_bidir.cpp; CPU only)
  m.def(
      "gru_bidir_forward(Tensor input, Tensor batch_sizes, Tensor h0, Tensor h0_reverse, "
      "Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh, Tensor w_ih_reverse, "
      "Tensor w_hh_reverse, Tensor? b_ih_reverse, Tensor? b_hh_reverse, Tensor? embedding=None) "
      "-> (Tensor output, "
      "Tensor output_reverse, Tensor h_n, Tensor h_n_reverse, Tensor gates, Tensor hprev, "
      "Tensor gates_reverse, Tensor hprev_reverse)");
  m.def(
      "gru_bidir_backward(Tensor grad_output, Tensor grad_output_reverse, Tensor grad_hn, "
      "Tensor grad_hn_reverse, Tensor input, Tensor batch_sizes, Tensor h0, Tensor h0_reverse, "
      "Tensor w_ih, Tensor w_hh, Tensor w_ih_reverse, Tensor w_hh_reverse, Tensor gates, "
      "Tensor hprev, Tensor gates_reverse, Tensor hprev_reverse, bool has_bias, bool input_grad, "
      "bool h0_grad, Tensor? embedding=None) -> (Tensor grad_input, Tensor grad_h0, Tensor grad_h0_reverse, "
      "Tensor grad_w_ih, Tensor grad_w_hh, Tensor grad_b_ih, Tensor grad_b_hh, "
      "Tensor grad_w_ih_reverse, Tensor grad_w_hh_reverse, Tensor grad_b_ih_reverse, "
      "Tensor grad_b_hh_reverse, Tensor grad_embedding)");
  // a dropout mask from a seed (dropout.cpp)
  m.def("dropout_mask(Tensor like, float p, int seed) -> Tensor");
  m.def(
      "adam_step_(Tensor(a!)[] params, Tensor(b!)[] grads, Tensor(c!)[] exp_avgs, "
      "Tensor(d!)[] exp_avg_sqs, Tensor(e!)[] steps, float lr, float beta1, float beta2, "
      "float weight_decay, float eps, bool adamw, float? max_norm) -> float");
#ifdef SEQKIT_WITH_CUDA
  // The GPU encode-and-pack of raw texts (code units + lookup table); CUDA builds only
  // (cuda/encode_pack_cuda.cpp).
  m.def(
      "encode_pack_codes(Tensor codes, Tensor offsets, Tensor lut, int unknown, int num_symbols, "
      "bool one_hot, Device device) -> (Tensor data, Tensor batch_sizes, Tensor sorted_indices, "
      "Tensor unsorted_indices)");
#endif
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "seqkit compiled ops (CPU). Use them through seqkit.ops.";
  m.attr("source_hash") = SEQKIT_STR(SEQKIT_SOURCE_HASH);
  m.def("encode_pack_texts", &seqkit::encode_pack_texts, pybind11::arg("texts"),
        pybind11::arg("alphabet"), pybind11::arg("one_hot"), pybind11::arg("unknown"),
        pybind11::arg("drop_empty"),
        "Encode a list of str and pack it: (data, batch_sizes, sorted_indices, "
        "unsorted_indices, kept).");
}
