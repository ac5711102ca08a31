// Declarations shared by the registration unit and the device kernels.
// Every tensor an op receives is 2-D (rows, features) for values and 1-D
// int64 for indices; the Python layer (geognn/ops) flattens trailing shapes
// and converts int32 indices before calling in.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <tuple>

#include "geognn/reducer.h"

namespace geognn {

using at::Tensor;

ReduceKind parse_reduce(const std::string& reduce);

// ---- argument checks shared by every backend (host code, cheap, shape-only)
void check_index_vector(const Tensor& t, const char* what);
void check_values(const Tensor& t, const char* what);
void check_same_device(const Tensor& a, const Tensor& b, const char* what_a, const char* what_b);
// The graph arguments of message_sum/edge_product: int64 vectors, one entry per edge, non-empty offsets.
void check_graph(const Tensor& src, const Tensor& dst, const Tensor& dst_perm, const Tensor& dst_ptr,
                 const Tensor& src_perm, const Tensor& src_ptr, int64_t E);
// Everything about message_sum's and edge_product's arguments that needs no look at index values:
// 2-D floating values of one dtype and feature count, the graph's shapes (see check_graph).
void check_message_args(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& dst,
                        const Tensor& dst_perm, const Tensor& dst_ptr, const Tensor& src_perm, const Tensor& src_ptr);
void check_edge_product_args(const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib,
                             const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm,
                             const Tensor& ib_ptr);
// An optional segment permutation: an int64 vector with one entry per source row.
void check_perm(const std::optional<Tensor>& perm, int64_t rows);
// A 0-d bool on index's device, computed there without a host read: whether (perm, indptr)
// are the stable CSR layout of `index` (E entries each): every position k of row i holds an
// edge e with index[e] == i, edges in increasing order within a row.
Tensor csr_layout_matches(const Tensor& index, const Tensor& perm, const Tensor& indptr);
// The index checks of message_sum's graph with at most one host read: dst, dst_perm, dst_ptr
// (and src when check_src), and that the layout agrees with dst unless geognn built it from dst
// (known_csr). Both backends thus sum each destination's edges in the same order. Returns what
// geognn::check_indices (validate.h) returns.
bool check_message_graph(const char* op, const Tensor& src, int64_t num_src, const Tensor& dst, const Tensor& perm,
                         const Tensor& indptr, bool check_src);

// ---- kernels, one definition per backend ---------------------------------
// csr: stable counting sort of `index` into CSR (perm, indptr).
std::tuple<Tensor, Tensor> csr_cpu(const Tensor& index, int64_t num_rows);
std::tuple<Tensor, Tensor> segment_reduce_cpu(const Tensor& src, const std::optional<Tensor>& perm,
                                              const Tensor& indptr, c10::string_view reduce);
Tensor segment_broadcast_cpu(const Tensor& grad, const std::optional<Tensor>& perm, const Tensor& indptr,
                             int64_t num_rows, bool mean);
std::tuple<Tensor, Tensor> scatter_reduce_cpu(const Tensor& src, const Tensor& index, int64_t num_rows,
                                              c10::string_view reduce);
Tensor arg_scatter_cpu(const Tensor& grad, const Tensor& arg, int64_t num_rows);
Tensor message_sum_cpu(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& dst,
                       const Tensor& dst_perm, const Tensor& dst_ptr, const Tensor& src_perm,
                       const Tensor& src_ptr);
Tensor edge_product_cpu(const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib,
                        const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm,
                        const Tensor& ib_ptr);
Tensor coulomb_matrix_cpu(const Tensor& z, const Tensor& pos, const Tensor& ptr, const Tensor& diagonal,
                          const std::optional<Tensor>& noise, int64_t n_atoms_max, c10::string_view permutation,
                          double sigma, double tie_rtol, double distance_scale, bool flatten,
                          at::ScalarType dtype);

// CUDA pieces that other CUDA ops compose (kernels/cuda). They take checked or
// unchecked input alike (an entry outside [0, num_rows) lands in no row, a bad
// permutation entry is skipped); `checked` says whether the caller validated it,
// and only then are the results remembered as valid (geognn/validate.h).
std::tuple<Tensor, Tensor> build_csr_cuda(const Tensor& index, int64_t num_rows, bool checked);
std::tuple<Tensor, Tensor> launch_segment_reduce_cuda(const Tensor& src, const std::optional<Tensor>& perm,
                                                      const Tensor& indptr, ReduceKind kind, bool checked);

// ---- shape rules, shared by Meta (fake tensors, torch.compile) and the kernels
inline int64_t num_segments(const Tensor& indptr) { return indptr.size(0) - 1; }

}  // namespace geognn
