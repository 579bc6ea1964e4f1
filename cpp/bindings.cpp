// Python bindings of the CPU engine (genmetrics._core). Arguments are validated in Python
// (genmetrics._validation); here only dtype, contiguity and shapes are re-checked so that a misuse of
// the private module raises instead of reading out of bounds. The GIL is released during the work.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

#include "covariance.hpp"
#include "gram.hpp"

namespace py = pybind11;

namespace {

using gm::index_t;

template <class T>
using CArray = py::array_t<T, py::array::c_style>;

gm::KernelParams make_params(const std::string& kernel, double bandwidth, double gamma, double coef0, int degree) {
  gm::KernelParams kp;
  kp.kind = gm::parse_kernel(kernel);
  kp.bandwidth = bandwidth;
  kp.gamma = gamma;
  kp.coef0 = coef0;
  kp.degree = degree;
  if ((kp.kind == gm::KernelKind::Rbf || kp.kind == gm::KernelKind::Laplacian) && !(bandwidth > 0))
    throw std::invalid_argument("bandwidth: must be > 0");
  if (kp.kind == gm::KernelKind::Polynomial && degree < 1) throw std::invalid_argument("degree: must be >= 1");
  return kp;
}

template <class T>
gm::Matrix<T> as_matrix(const py::array& a, const char* name) {
  if (a.ndim() != 2) throw std::invalid_argument(std::string(name) + ": expected a 2-D array");
  if (!py::isinstance<CArray<T>>(a) || !(a.flags() & py::array::c_style))
    throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array of the engine's dtype");
  return gm::Matrix<T>{static_cast<const T*>(a.data()), a.shape(0), a.shape(1)};
}

bool is_float32(const py::array& a) { return a.dtype().is(py::dtype::of<float>()); }

// Calls f.template operator()<T>() with T = float or double from X's dtype.
template <class F>
auto dispatch(const py::array& x, F&& f) {
  if (is_float32(x)) return f(float{});
  if (x.dtype().is(py::dtype::of<double>())) return f(double{});
  throw std::invalid_argument("X: expected float32 or float64");
}

template <class T>
std::optional<gm::Matrix<T>> optional_other(const std::optional<py::array>& y, const gm::Matrix<T>& x) {
  if (!y) return std::nullopt;
  gm::Matrix<T> other = as_matrix<T>(*y, "Y");
  if (other.cols != x.cols) throw std::invalid_argument("Y: feature dimension differs from X");
  return other;
}

py::array gram(const py::array& x_in, const std::optional<py::array>& y_in, const std::string& kernel,
               double bandwidth, double gamma, double coef0, int degree, int n_threads) {
  const gm::KernelParams kp = make_params(kernel, bandwidth, gamma, coef0, degree);
  return dispatch(x_in, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const gm::Matrix<T> x = as_matrix<T>(x_in, "X");
    const auto y = optional_other<T>(y_in, x);
    CArray<T> out({x.rows, y ? y->rows : x.rows});
    T* out_data = out.mutable_data();
    {
      py::gil_scoped_release release;
      gm::gram(x, y ? &*y : nullptr, kp, out_data, n_threads);
    }
    return std::move(out);
  });
}

py::tuple kernel_row_sums(const py::array& x_in, const std::optional<py::array>& y_in, const std::string& kernel,
                          double bandwidth, double gamma, double coef0, int degree, double power, int n_threads) {
  const gm::KernelParams kp = make_params(kernel, bandwidth, gamma, coef0, degree);
  return dispatch(x_in, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const gm::Matrix<T> x = as_matrix<T>(x_in, "X");
    const auto y = optional_other<T>(y_in, x);
    CArray<double> out(x.rows);
    double* out_data = out.mutable_data();
    bool ok;
    {
      py::gil_scoped_release release;
      ok = gm::kernel_row_sums(x, y ? &*y : nullptr, kp, power, out_data, n_threads);
    }
    return py::make_tuple(out, ok);
  });
}

py::array kernel_matvec(const py::array& x_in, const std::optional<py::array>& y_in, const py::array& v_in,
                        const std::string& kernel, double bandwidth, double gamma, double coef0, int degree,
                        int n_threads) {
  const gm::KernelParams kp = make_params(kernel, bandwidth, gamma, coef0, degree);
  return dispatch(x_in, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const gm::Matrix<T> x = as_matrix<T>(x_in, "X");
    const auto y = optional_other<T>(y_in, x);
    const gm::Matrix<T> v = as_matrix<T>(v_in, "V");
    if (v.rows != (y ? y->rows : x.rows)) throw std::invalid_argument("V: needs one row per row of Y");
    CArray<double> out({x.rows, v.cols});
    double* out_data = out.mutable_data();
    {
      py::gil_scoped_release release;
      gm::kernel_matvec(x, y ? &*y : nullptr, kp, v.data, v.cols, out_data, n_threads);
    }
    return std::move(out);
  });
}

py::array column_gram(const py::array& x_in, int n_threads) {
  return dispatch(x_in, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const gm::Matrix<T> x = as_matrix<T>(x_in, "X");
    CArray<double> out({x.cols, x.cols});
    double* out_data = out.mutable_data();
    {
      py::gil_scoped_release release;
      gm::column_gram(x, out_data, n_threads);
    }
    return std::move(out);
  });
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "genmetrics CPU engine: tiled Gram products with fused kernels and reductions";
  gm::blas_single_threaded();  // the engine threads over tiles; nested BLAS threads would oversubscribe
  m.def("gram", &gram, py::arg("X"), py::arg("Y"), py::arg("kernel"), py::arg("bandwidth"), py::arg("gamma"),
        py::arg("coef0"), py::arg("degree"), py::arg("n_threads"),
        "K(X, Y) as a dense array of X's dtype; Y=None computes half the tiles and mirrors them.");
  m.def("kernel_row_sums", &kernel_row_sums, py::arg("X"), py::arg("Y"), py::arg("kernel"), py::arg("bandwidth"),
        py::arg("gamma"), py::arg("coef0"), py::arg("degree"), py::arg("power"), py::arg("n_threads"),
        "(row sums of k^power in float64, ok) without storing K; ok is False when a negative kernel value met a "
        "non-integer power.");
  m.def("kernel_matvec", &kernel_matvec, py::arg("X"), py::arg("Y"), py::arg("V"), py::arg("kernel"),
        py::arg("bandwidth"), py::arg("gamma"), py::arg("coef0"), py::arg("degree"), py::arg("n_threads"),
        "K(X, Y) V in float64 without storing K; V has X's dtype.");
  m.def("column_gram", &column_gram, py::arg("X"), py::arg("n_threads"),
        "X^T X (d x d, float64): blocks of rows multiplied in X's dtype, summed in float64.");
}
