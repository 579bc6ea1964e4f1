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
#include "neighbors.hpp"
#include "numerics.hpp"

namespace py = pybind11;

namespace {

using gm::index_t;

template <class T>
using CArray = py::array_t<T, py::array::c_style>;

// Runs f with the GIL released. The engine's loops poll python_interrupt_poll between tiles; when a signal
// handler raised (Ctrl-C: KeyboardInterrupt) the work stops and that exception reaches the caller.
bool python_interrupt_poll() {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

template <class F>
void without_gil(F&& f) {
  bool interrupted = false, out_of_memory = false;
  {
    py::gil_scoped_release release;
    try {
      f();
    } catch (const gm::Interrupted&) {
      interrupted = true;
    } catch (const std::bad_alloc&) {
      out_of_memory = true;
    }
  }
  if (interrupted) throw py::error_already_set();
  if (out_of_memory) {
    PyErr_SetString(PyExc_MemoryError,
                    "genmetrics engine: not enough memory for its tiles and threads (set GENMETRICS_NUM_THREADS "
                    "lower, or free memory)");
    throw py::error_already_set();
  }
}

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

py::array gram(const py::array& x_in, const std::optional<py::array>& y_in, const std::string& kernel, double bandwidth,
               double gamma, double coef0, int degree, int n_threads) {
  const gm::KernelParams kp = make_params(kernel, bandwidth, gamma, coef0, degree);
  return dispatch(x_in, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const gm::Matrix<T> x = as_matrix<T>(x_in, "X");
    const auto y = optional_other<T>(y_in, x);
    CArray<T> out({x.rows, y ? y->rows : x.rows});
    T* out_data = out.mutable_data();
    without_gil([&] { gm::gram(x, y ? &*y : nullptr, kp, out_data, n_threads); });
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
    without_gil([&] { ok = gm::kernel_row_sums(x, y ? &*y : nullptr, kp, power, out_data, n_threads); });
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
    without_gil([&] { gm::kernel_matvec(x, y ? &*y : nullptr, kp, v.data, v.cols, out_data, n_threads); });
    return std::move(out);
  });
}

py::array column_gram(const py::array& x_in, int n_threads) {
  return dispatch(x_in, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const gm::Matrix<T> x = as_matrix<T>(x_in, "X");
    CArray<double> out({x.cols, x.cols});
    double* out_data = out.mutable_data();
    without_gil([&] { gm::column_gram(x, out_data, n_threads); });
    return std::move(out);
  });
}

template <class T>
gm::PointSet<T> point_set(const py::array& tile, const py::array& exact, double scale, const char* name) {
  gm::PointSet<T> set{as_matrix<T>(tile, name), as_matrix<T>(exact, name).data, scale};
  const gm::Matrix<T> e = as_matrix<T>(exact, name);
  if (e.rows != set.tile.rows || e.cols != set.tile.cols)
    throw std::invalid_argument(std::string(name) + ": the exact and tile arrays differ in shape");
  return set;
}

py::tuple knn(const py::array& q_tile, const py::array& q_exact, const std::optional<py::array>& r_tile,
              const std::optional<py::array>& r_exact, double scale, index_t k, int n_threads) {
  return dispatch(q_tile, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const gm::PointSet<T> queries = point_set<T>(q_tile, q_exact, scale, "queries");
    std::optional<gm::PointSet<T>> refs;
    if (r_tile) {
      if (!r_exact) throw std::invalid_argument("refs: the exact array is missing");
      refs = point_set<T>(*r_tile, *r_exact, scale, "refs");
      if (refs->tile.cols != queries.tile.cols) throw std::invalid_argument("refs: feature dimension differs");
    }
    const index_t available = refs ? refs->tile.rows : queries.tile.rows - 1;
    if (k < 1 || k > available) throw std::invalid_argument("k: must be in [1, number of candidate neighbours]");
    CArray<double> distance({queries.tile.rows, k});
    CArray<std::int64_t> index({queries.tile.rows, k});
    double* d = distance.mutable_data();
    std::int64_t* i = index.mutable_data();
    without_gil([&] { gm::knn(queries, refs ? &*refs : nullptr, k, d, i, n_threads); });
    return py::make_tuple(distance, index);
  });
}

// Outputs of one direction of a ball query, allocated as requested.
struct SideOutputs {
  std::optional<CArray<std::int64_t>> counts, nearest_index;
  std::optional<CArray<double>> nearest_distance, max_ratio;
  std::optional<CArray<double>> radius, weight;  // inputs, kept alive

  gm::BallSide make(index_t queries, index_t refs, const std::optional<py::array>& radius_in, bool nearest,
                    const std::optional<py::array>& weight_in, const char* name) {
    gm::BallSide side;
    auto per_ref = [&](const py::array& a) {
      CArray<double> v = CArray<double>::ensure(a);
      if (!v || v.ndim() != 1 || v.shape(0) != refs)
        throw std::invalid_argument(std::string(name) + ": expected one float64 value per reference");
      return v;
    };
    if (radius_in) {
      radius = per_ref(*radius_in);
      side.ref_radius = radius->data();
      counts.emplace(queries);
      side.counts = counts->mutable_data();
    }
    if (nearest) {
      nearest_distance.emplace(queries);
      nearest_index.emplace(queries);
      side.nearest_distance = nearest_distance->mutable_data();
      side.nearest_index = nearest_index->mutable_data();
    }
    if (weight_in) {
      weight = per_ref(*weight_in);
      side.ref_weight = weight->data();
      max_ratio.emplace(queries);
      side.max_ratio = max_ratio->mutable_data();
    }
    return side;
  }

  void into(py::dict& out, const std::string& prefix) const {
    if (counts) out[(prefix + "counts").c_str()] = *counts;
    if (nearest_distance) out[(prefix + "nearest_distance").c_str()] = *nearest_distance;
    if (nearest_index) out[(prefix + "nearest_index").c_str()] = *nearest_index;
    if (max_ratio) out[(prefix + "max_ratio").c_str()] = *max_ratio;
  }
};

py::dict ball_query(const py::array& a_tile, const py::array& a_exact, const py::array& b_tile,
                    const py::array& b_exact, double scale, bool inclusive, const std::optional<py::array>& a_radius,
                    bool a_nearest, const std::optional<py::array>& a_weight, const std::optional<py::array>& b_radius,
                    bool b_nearest, int n_threads) {
  return dispatch(a_tile, [&](auto tag) -> py::dict {
    using T = decltype(tag);
    const gm::PointSet<T> a = point_set<T>(a_tile, a_exact, scale, "a");
    const gm::PointSet<T> b = point_set<T>(b_tile, b_exact, scale, "b");
    if (a.tile.cols != b.tile.cols) throw std::invalid_argument("b: feature dimension differs from a");
    SideOutputs a_out, b_out;
    const gm::BallSide a_side = a_out.make(a.tile.rows, b.tile.rows, a_radius, a_nearest, a_weight, "a_radius");
    const gm::BallSide b_side = b_out.make(b.tile.rows, a.tile.rows, b_radius, b_nearest, std::nullopt, "b_radius");
    without_gil([&] { gm::ball_query(a, b, inclusive, a_side, b_side, n_threads); });
    py::dict out;
    a_out.into(out, "a_");
    b_out.into(out, "b_");
    return out;
  });
}

// genmetrics._core._numerics: the shared rules of numerics.hpp evaluated on arrays, so that tests can hold the
// Python copies to them (tests/test_numerics.py). Not part of the engine's interface.
template <class F>
auto dispatch_dtype(const std::string& dtype, F&& f) {
  if (dtype == "float32") return f(float{});
  if (dtype == "float64") return f(double{});
  throw std::invalid_argument("dtype: expected 'float32' or 'float64'");
}

void add_numerics_module(py::module_& core) {
  py::module_ m = core.def_submodule("_numerics", "cpp/numerics.hpp's rules on arrays, for the tests");
  m.attr("DISTANCE_ROUNDING_ULPS") = gm::DISTANCE_ROUNDING_ULPS;
  py::dict codes;
  for (const char* name : {"linear", "cosine", "rbf", "laplacian", "polynomial"})
    codes[name] = static_cast<int>(gm::parse_kernel(name));
  m.attr("KERNEL_CODES") = codes;
  m.def(
      "squared_distances",
      [](const py::array& x_sq, const py::array& y_sq, const py::array& dots) {
        return dispatch(dots, [&](auto tag) -> py::array {
          using T = decltype(tag);
          const CArray<T> x = CArray<T>::ensure(x_sq), y = CArray<T>::ensure(y_sq), d = CArray<T>::ensure(dots);
          if (!x || !y || !d || x.ndim() != 1 || x.size() != d.size() || y.size() != d.size())
            throw std::invalid_argument("x_sq, y_sq, dots: 1-D arrays of one length and dtype expected");
          CArray<T> out(d.size());
          const T zero_below = gm::distance_zero_below<T>();
          for (py::ssize_t i = 0; i < d.size(); ++i)
            out.mutable_data()[i] = gm::squared_distance(x.data()[i], y.data()[i], d.data()[i], zero_below);
          return out;
        });
      },
      py::arg("x_sq"), py::arg("y_sq"), py::arg("dots"),
      "Elementwise |x|^2 + |y|^2 - 2 x.y with the exact-zero rule, in the dtype of dots.");
  m.def(
      "negative_exponent_scale",
      [](double numerator, double denominator, const std::string& dtype) {
        return dispatch_dtype(dtype, [&](auto tag) {
          return double(gm::negative_exponent_scale<decltype(tag)>(numerator, denominator));
        });
      },
      py::arg("numerator"), py::arg("denominator"), py::arg("dtype"));
  m.def(
      "margin_coefficient",
      [](index_t d, const std::string& dtype) {
        return dispatch_dtype(dtype, [&](auto tag) { return gm::margin_coefficient<decltype(tag)>(d); });
      },
      py::arg("d"), py::arg("dtype"));
  m.def(
      "underflow_margin",
      [](index_t d, double scale, const std::string& dtype) {
        return dispatch_dtype(dtype, [&](auto tag) { return gm::underflow_margin<decltype(tag)>(d, scale); });
      },
      py::arg("d"), py::arg("scale"), py::arg("dtype"));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "genmetrics CPU engine: tiled Gram products with fused kernels and reductions";
  gm::blas_single_threaded();
  gm::blas_warm_up();
  gm::interrupt_poll() =
      &python_interrupt_poll;  // the engine threads over tiles; nested BLAS threads would oversubscribe
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
  m.def("knn", &knn, py::arg("queries"), py::arg("queries_exact"), py::arg("refs"), py::arg("refs_exact"),
        py::arg("scale"), py::arg("k"), py::arg("n_threads"),
        "(distances (m, k) float64, indices (m, k) int64): the k nearest refs of every query, decided in float64; "
        "refs=None: the queries against themselves, self excluded.");
  m.def("ball_query", &ball_query, py::arg("a"), py::arg("a_exact"), py::arg("b"), py::arg("b_exact"), py::arg("scale"),
        py::arg("inclusive"), py::arg("a_radius"), py::arg("a_nearest"), py::arg("a_weight"), py::arg("b_radius"),
        py::arg("b_nearest"), py::arg("n_threads"),
        "One pass over the (a, b) pairs: for queries a against references b (a_*) and b against a (b_*), "
        "counts inside the references' radii, the nearest reference, the max weight/distance; a dict of arrays.");
  add_numerics_module(m);
}
