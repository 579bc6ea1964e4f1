// pybind11 bindings of the GPU engine (genmetrics._cuda). Device memory is owned by the caller (CuPy arrays in
// genmetrics/_cuda_engine.py): every function takes device pointers as integers, sizes, and the CUDA stream to
// launch on, and returns without synchronising.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "engine.hpp"

namespace py = pybind11;
using gmcuda::index_t;

namespace {

gmcuda::Dtype parse_dtype(const std::string& name) {
  if (name == "float32") return gmcuda::Dtype::Float32;
  if (name == "float64") return gmcuda::Dtype::Float64;
  throw py::value_error("dtype: expected 'float32' or 'float64', got '" + name + "'");
}

template <class P = void>
P* ptr(std::uintptr_t address) {
  return reinterpret_cast<P*>(address);
}

gmcuda::Tile tile(std::uintptr_t data, const std::string& dtype, index_t rows, index_t cols, index_t ld) {
  if (rows < 0 || cols < 0 || ld < cols) throw py::value_error("tile: bad shape or leading dimension");
  return gmcuda::Tile{ptr(data), parse_dtype(dtype), rows, cols, ld};
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "genmetrics' GPU engine: epilogues on Gram / distance tiles and float64 re-checks (device pointers)";

  m.def("built_runtime_version", &gmcuda::built_runtime_version);

  m.def("device_count", [] {
    const char* reason = "";
    const int count = gmcuda::device_count(&reason);
    return py::make_tuple(count, std::string(reason));
  });

  m.def(
      "apply_kernel",
      [](std::uintptr_t data, const std::string& dtype, index_t rows, index_t cols, index_t ld,
         const std::string& kernel, double bandwidth, double gamma, double coef0, int degree, std::uintptr_t x_factor,
         std::uintptr_t y_factor, index_t diagonal, std::uintptr_t stream) {
        gmcuda::KernelArgs args{gm::parse_kernel(kernel), bandwidth, gamma, coef0, degree};
        py::gil_scoped_release release;
        gmcuda::apply_kernel(tile(data, dtype, rows, cols, ld), args, ptr(x_factor), ptr(y_factor), diagonal,
                             ptr(stream));
      },
      py::arg("data"), py::arg("dtype"), py::arg("rows"), py::arg("cols"), py::arg("ld"), py::arg("kernel"),
      py::arg("bandwidth"), py::arg("gamma"), py::arg("coef0"), py::arg("degree"), py::arg("x_factor"),
      py::arg("y_factor"), py::arg("diagonal"), py::arg("stream"));

  m.def("power_sums_scratch", &gmcuda::power_sums_scratch, py::arg("rows"), py::arg("cols"));

  m.def(
      "power_sums",
      [](std::uintptr_t data, const std::string& dtype, index_t rows, index_t cols, index_t ld, double power,
         std::uintptr_t row_out, std::uintptr_t col_out, std::uintptr_t negative_flag, std::uintptr_t scratch,
         std::uintptr_t stream) {
        py::gil_scoped_release release;
        gmcuda::power_sums(tile(data, dtype, rows, cols, ld), power, ptr<double>(row_out), ptr<double>(col_out),
                           ptr<int>(negative_flag), ptr<double>(scratch), ptr(stream));
      },
      py::arg("data"), py::arg("dtype"), py::arg("rows"), py::arg("cols"), py::arg("ld"), py::arg("power"),
      py::arg("row_out"), py::arg("col_out"), py::arg("negative_flag"), py::arg("scratch"), py::arg("stream"));

  m.def(
      "sq_distances",
      [](std::uintptr_t data, const std::string& dtype, index_t rows, index_t cols, index_t ld, std::uintptr_t row_sq,
         std::uintptr_t col_sq, index_t self_offset, std::uintptr_t stream) {
        py::gil_scoped_release release;
        gmcuda::sq_distances(tile(data, dtype, rows, cols, ld), ptr(row_sq), ptr(col_sq), self_offset, ptr(stream));
      },
      py::arg("data"), py::arg("dtype"), py::arg("rows"), py::arg("cols"), py::arg("ld"), py::arg("row_sq"),
      py::arg("col_sq"), py::arg("self_offset"), py::arg("stream"));

  m.def(
      "row_kth_smallest",
      [](std::uintptr_t data, const std::string& dtype, index_t rows, index_t cols, index_t ld, index_t k,
         std::uintptr_t out, std::uintptr_t stream) {
        gmcuda::Tile t = tile(data, dtype, rows, cols, ld);
        py::gil_scoped_release release;
        gmcuda::row_kth_smallest(t, k, ptr(out), ptr(stream));
      },
      py::arg("data"), py::arg("dtype"), py::arg("rows"), py::arg("cols"), py::arg("ld"), py::arg("k"), py::arg("out"),
      py::arg("stream"));

  m.def(
      "exact_sq_distances",
      [](std::uintptr_t Q, std::uintptr_t R, const std::string& dtype, index_t d, std::uintptr_t q_index,
         std::uintptr_t r_index, index_t pairs, std::uintptr_t out, std::uintptr_t stream) {
        const gmcuda::Dtype type = parse_dtype(dtype);
        py::gil_scoped_release release;
        gmcuda::exact_sq_distances(ptr(Q), ptr(R), type, d, ptr<const std::int64_t>(q_index),
                                   ptr<const std::int64_t>(r_index), pairs, ptr<double>(out), ptr(stream));
      },
      py::arg("Q"), py::arg("R"), py::arg("dtype"), py::arg("d"), py::arg("q_index"), py::arg("r_index"),
      py::arg("pairs"), py::arg("out"), py::arg("stream"));

  m.def(
      "ball_tests",
      [](std::uintptr_t data, const std::string& dtype, index_t rows, index_t cols, index_t ld, std::uintptr_t row_sq,
         std::uintptr_t col_sq, double coefficient, double floor, std::uintptr_t radius2, bool per_row,
         std::uintptr_t sure_counts, std::uintptr_t pair_rows, std::uintptr_t pair_cols, std::uintptr_t pair_count,
         index_t capacity, std::uintptr_t stream) {
        gmcuda::Tile t = tile(data, dtype, rows, cols, ld);
        py::gil_scoped_release release;
        gmcuda::ball_tests(t, ptr(row_sq), ptr(col_sq), coefficient, floor, ptr<const double>(radius2), per_row,
                           ptr<std::int64_t>(sure_counts), ptr<std::int64_t>(pair_rows), ptr<std::int64_t>(pair_cols),
                           ptr<unsigned long long>(pair_count), capacity, ptr(stream));
      },
      py::arg("data"), py::arg("dtype"), py::arg("rows"), py::arg("cols"), py::arg("ld"), py::arg("row_sq"),
      py::arg("col_sq"), py::arg("coefficient"), py::arg("floor"), py::arg("radius2"), py::arg("per_row"),
      py::arg("sure_counts"), py::arg("pair_rows"), py::arg("pair_cols"), py::arg("pair_count"), py::arg("capacity"),
      py::arg("stream"));
}
