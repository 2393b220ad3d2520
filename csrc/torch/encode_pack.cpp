// Fused encode-and-pack (CPU): seqkit::encode_pack_corpus and the pybind11 text path
// encode_pack_texts.
//
// One pass over the texts: map characters to symbol indices, stable counting sort by
// length (descending: plan_pack, csrc/kernels/packed_layout.h, shared with the CUDA
// launcher), batch_sizes / sorted_indices / unsorted_indices, and the packed data written
// straight into its final row (int64 indices or float32 one-hot rows). The layout equals
// torch.nn.utils.rnn.pack_padded_sequence of the padded batch taken in our (stable) sorted
// order.
#include "ops.h"

#include <Python.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "../kernels/packed_layout.h"
#include "checks.h"

namespace py = pybind11;

namespace seqkit {
namespace {

// The plan of a batch (shared by both entry points) with the op's three index outputs,
// which plan_pack writes in place.
struct PackedIndex {
  PackPlan plan;
  at::Tensor batch_sizes, sorted_indices, unsorted_indices;
};

// lengths: n values >= 1.
PackedIndex plan_pack_cpu(const std::vector<int64_t>& lengths) {
  const int64_t n = static_cast<int64_t>(lengths.size());
  const int64_t max_len = max_length(lengths);
  auto opts = at::TensorOptions().dtype(at::kLong);
  PackedIndex p;
  p.sorted_indices = at::empty({n}, opts);
  p.unsorted_indices = at::empty({n}, opts);
  p.batch_sizes = at::empty({max_len}, opts);
  p.plan = plan_pack(lengths, max_len, p.sorted_indices.data_ptr<int64_t>(), p.unsorted_indices.data_ptr<int64_t>(),
                     p.batch_sizes.data_ptr<int64_t>());
  return p;
}

// ---- text entry point -------------------------------------------------------------

struct SymbolTable {
  int32_t latin[256];
  std::unordered_map<uint32_t, int32_t> rest;
  int64_t size = 0;

  explicit SymbolTable(PyObject* alphabet) {
    std::fill(latin, latin + 256, -1);
    const Py_ssize_t a = PyUnicode_GET_LENGTH(alphabet);
    const int kind = PyUnicode_KIND(alphabet);
    const void* data = PyUnicode_DATA(alphabet);
    size = a;
    for (Py_ssize_t i = 0; i < a; ++i) {
      const uint32_t cp = PyUnicode_READ(kind, data, i);
      // first occurrence wins, like str.find in the course's encoder
      if (cp < 256) {
        if (latin[cp] < 0) latin[cp] = static_cast<int32_t>(i);
      } else {
        rest.emplace(cp, static_cast<int32_t>(i));
      }
    }
  }
  inline int32_t lookup(uint32_t cp) const {
    if (cp < 256) return latin[cp];
    auto it = rest.find(cp);
    return it == rest.end() ? -1 : it->second;
  }
};

[[noreturn]] void raise_unknown(PyObject* text, int64_t index, int64_t pos, uint32_t cp) {
  py::object ch = py::reinterpret_steal<py::object>(PyUnicode_FromOrdinal(static_cast<int>(cp)));
  char code[16];
  std::snprintf(code, sizeof(code), "U+%04X", cp);
  py::str msg = py::str(
                    "encode_pack: texts[{}] = {} has character {} ({}) at position {}, which is "
                    "not in the alphabet; add it to the alphabet or pass unknown=<symbol index>")
                    .format(index, py::repr(py::handle(text)), py::repr(ch), code, pos);
  throw py::value_error(msg.cast<std::string>());
}

template <typename CharT, typename Out>
inline void write_text(const CharT* chars, int64_t len, const SymbolTable& table, int64_t unknown,
                       const std::vector<int64_t>& step_offset, int64_t b, PyObject* text,
                       int64_t index, Out out) {
  for (int64_t t = 0; t < len; ++t) {
    const uint32_t cp = static_cast<uint32_t>(chars[t]);
    int64_t sym = table.lookup(cp);
    if (sym < 0) {
      if (unknown < 0) raise_unknown(text, index, t, cp);
      sym = unknown;
    }
    out(step_offset[t] + b, sym);
  }
}

template <typename Out>
void write_all(PyObject** items, const std::vector<int64_t>& kept, const PackedIndex& packed,
               const std::vector<int64_t>& lengths, const SymbolTable& table, int64_t unknown,
               Out out) {
  const PackPlan& plan = packed.plan;
  const int64_t* si = packed.sorted_indices.data_ptr<int64_t>();
  for (int64_t b = 0; b < plan.n; ++b) {
    const int64_t k = si[b];
    const int64_t index = kept[k];
    PyObject* s = items[index];
    const int64_t len = lengths[k];
    const void* data = PyUnicode_DATA(s);
    switch (PyUnicode_KIND(s)) {
      case PyUnicode_1BYTE_KIND:
        write_text(static_cast<const Py_UCS1*>(data), len, table, unknown, plan.step_offset, b, s,
                   index, out);
        break;
      case PyUnicode_2BYTE_KIND:
        write_text(static_cast<const Py_UCS2*>(data), len, table, unknown, plan.step_offset, b, s,
                   index, out);
        break;
      default:
        write_text(static_cast<const Py_UCS4*>(data), len, table, unknown, plan.step_offset, b, s,
                   index, out);
        break;
    }
  }
}

}  // namespace

py::tuple encode_pack_texts(py::handle texts, py::handle alphabet, bool one_hot, int64_t unknown,
                            bool drop_empty) {
  PyObject* seq = texts.ptr();
  if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
    throw py::type_error("encode_pack: texts must be a list or tuple of str");
  }
  if (!PyUnicode_Check(alphabet.ptr())) {
    throw py::type_error("encode_pack: alphabet must be a str");
  }
  const SymbolTable table(alphabet.ptr());
  if (table.size == 0) throw py::value_error("encode_pack: the alphabet is empty");
  if (unknown >= table.size) {
    throw py::value_error("encode_pack: unknown=" + std::to_string(unknown) +
                          " is outside the alphabet (size " + std::to_string(table.size) +
                          "); use an index of the alphabet");
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);

  std::vector<int64_t> lengths;
  std::vector<int64_t> kept;
  lengths.reserve(n);
  kept.reserve(n);
  std::vector<int64_t> dropped;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* s = items[i];
    if (!PyUnicode_Check(s)) {
      throw py::type_error("encode_pack: texts[" + std::to_string(i) + "] is a " +
                           std::string(Py_TYPE(s)->tp_name) + ", expected str");
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) != 0) throw py::error_already_set();
#endif
    const int64_t len = PyUnicode_GET_LENGTH(s);
    if (len == 0) {
      if (!drop_empty) {
        throw py::value_error("encode_pack: texts[" + std::to_string(i) +
                              "] is empty; a packed sequence needs length >= 1: remove it or "
                              "pass drop_empty=True");
      }
      dropped.push_back(i);
      continue;
    }
    lengths.push_back(len);
    kept.push_back(i);
  }
  if (kept.empty()) {
    throw py::value_error(n == 0 ? "encode_pack: texts is empty; pass at least one text"
                                 : "encode_pack: every text is empty; nothing to pack");
  }

  const PackedIndex packed = plan_pack_cpu(lengths);
  const int64_t total = packed.plan.total;
  at::Tensor data;
  if (one_hot) {
    const int64_t a = table.size;
    data = at::zeros({total, a}, at::TensorOptions().dtype(at::kFloat));
    float* d = data.data_ptr<float>();
    write_all(items, kept, packed, lengths, table, unknown,
              [d, a](int64_t row, int64_t sym) { d[row * a + sym] = 1.0f; });
  } else {
    data = at::empty({total}, at::TensorOptions().dtype(at::kLong));
    int64_t* d = data.data_ptr<int64_t>();
    write_all(items, kept, packed, lengths, table, unknown,
              [d](int64_t row, int64_t sym) { d[row] = sym; });
  }
  at::Tensor kept_t = at::empty({static_cast<int64_t>(kept.size())}, at::kLong);
  std::memcpy(kept_t.data_ptr<int64_t>(), kept.data(), kept.size() * sizeof(int64_t));
  return py::make_tuple(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices,
                        kept_t);
}

// ---- pre-encoded corpus -------------------------------------------------------------

namespace {

constexpr const char* kCorpusOp = "encode_pack_corpus";

template <typename SymT, typename OffT>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> pack_corpus(
    const at::Tensor& symbols, const at::Tensor& offsets, const at::Tensor& rows,
    int64_t num_symbols, bool one_hot) {
  const SymT* sym = symbols.data_ptr<SymT>();
  const OffT* off = offsets.data_ptr<OffT>();
  const int64_t* row = rows.data_ptr<int64_t>();
  const int64_t n = rows.numel();
  const std::vector<int64_t> lengths =
      corpus_lengths(off, offsets.numel() - 1, row, n, symbols.numel(), kCorpusOp);
  const PackedIndex packed = plan_pack_cpu(lengths);
  const PackPlan& plan = packed.plan;
  const int64_t* si = packed.sorted_indices.data_ptr<int64_t>();
  auto check = [&](int64_t s, int64_t i, int64_t t) {
    if (s < 0 || (num_symbols >= 0 && s >= num_symbols)) {
      TORCH_CHECK_VALUE(false, "encode_pack_corpus: symbol ", s, " at position ", t, " of rows[", i,
                        "] = ", row[i], " is outside [0, ", num_symbols,
                        "); fix the corpus or num_symbols");
    }
  };
  // every symbol of the batch, checked, to out(its packed row, the symbol)
  auto write_rows = [&](auto out) {
    for (int64_t b = 0; b < n; ++b) {
      const int64_t i = si[b];
      const SymT* p = sym + static_cast<int64_t>(off[row[i]]);
      for (int64_t t = 0; t < lengths[i]; ++t) {
        const int64_t s = static_cast<int64_t>(p[t]);
        check(s, i, t);
        out(plan.step_offset[t] + b, s);
      }
    }
  };
  at::Tensor data;
  if (one_hot) {
    data = at::zeros({plan.total, num_symbols}, at::TensorOptions().dtype(at::kFloat));
    float* d = data.data_ptr<float>();
    write_rows([d, num_symbols](int64_t r, int64_t s) { d[r * num_symbols + s] = 1.0f; });
  } else {
    data = at::empty({plan.total}, at::TensorOptions().dtype(at::kLong));
    int64_t* d = data.data_ptr<int64_t>();
    write_rows([d](int64_t r, int64_t s) { d[r] = s; });
  }
  return {data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices};
}

template <typename OffT>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> pack_corpus_sym(
    const at::Tensor& symbols, const at::Tensor& offsets, const at::Tensor& rows,
    int64_t num_symbols, bool one_hot) {
  switch (symbols.scalar_type()) {
    case at::kByte: return pack_corpus<uint8_t, OffT>(symbols, offsets, rows, num_symbols, one_hot);
    case at::kChar: return pack_corpus<int8_t, OffT>(symbols, offsets, rows, num_symbols, one_hot);
    case at::kShort: return pack_corpus<int16_t, OffT>(symbols, offsets, rows, num_symbols, one_hot);
    case at::kInt: return pack_corpus<int32_t, OffT>(symbols, offsets, rows, num_symbols, one_hot);
    case at::kLong: return pack_corpus<int64_t, OffT>(symbols, offsets, rows, num_symbols, one_hot);
    case at::kUInt16: return pack_corpus<uint16_t, OffT>(symbols, offsets, rows, num_symbols, one_hot);
    case at::kUInt32: return pack_corpus<uint32_t, OffT>(symbols, offsets, rows, num_symbols, one_hot);
    default:
      TORCH_CHECK_TYPE(false, "encode_pack_corpus: symbols must be an integer tensor, got ",
                       symbols.scalar_type());
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> encode_pack_corpus_cpu(
    const at::Tensor& symbols_in, const at::Tensor& offsets_in, const at::Tensor& rows_in,
    int64_t num_symbols, bool one_hot) {
  check_corpus_args(symbols_in, offsets_in, rows_in, num_symbols, one_hot, kCorpusOp);
  const at::Tensor symbols = symbols_in.contiguous();
  at::Tensor offsets = offsets_in.contiguous();
  const at::Tensor rows = rows_in.to(at::kLong).contiguous();
  if (offsets.scalar_type() == at::kInt) {
    return pack_corpus_sym<int32_t>(symbols, offsets, rows, num_symbols, one_hot);
  }
  offsets = offsets.to(at::kLong);
  return pack_corpus_sym<int64_t>(symbols, offsets, rows, num_symbols, one_hot);
}

}  // namespace seqkit

TORCH_LIBRARY_IMPL(seqkit, CPU, m) { m.impl("encode_pack_corpus", &seqkit::encode_pack_corpus_cpu); }
