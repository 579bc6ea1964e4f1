#include "kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "parallel.hpp"
#include "target.hpp"

namespace gm {

template <class T>
std::vector<T> row_factors(const T* data, index_t rows, index_t cols, KernelKind kind, int n_threads) {
  std::vector<T> factor;
  if (kind != KernelKind::Cosine && kind != KernelKind::Rbf && kind != KernelKind::Laplacian) return factor;
  factor.resize(rows);
  const index_t chunk = 1024;
  const index_t n_chunks = (rows + chunk - 1) / chunk;
  parallel_for(n_chunks, n_threads, [&](std::size_t c, int) {
    const index_t end = std::min<index_t>(rows, (c + 1) * chunk);
    for (index_t i = c * chunk; i < end; ++i) {
      const T* row = data + i * cols;
      double sq = 0.0;
      for (index_t k = 0; k < cols; ++k) sq += double(row[k]) * double(row[k]);
      factor[i] = kind == KernelKind::Cosine ? T(1.0 / std::sqrt(sq)) : T(sq);
    }
  });
  return factor;
}
template std::vector<float> row_factors(const float*, index_t, index_t, KernelKind, int);
template std::vector<double> row_factors(const double*, index_t, index_t, KernelKind, int);

// exp(x) for x <= 0, vectorisable: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a Taylor polynomial
// for e^r (truncation below the unit roundoff), and 2^n assembled in the exponent bits. The magic-number
// rounding leaves n in the low mantissa bits of t, so no float->int conversion is needed. Below the smallest
// normal number the result is the denormal that e^x rounds to (2^(n+64) stays normal; the exact product by
// 2^-64 then rounds into the denormals), and 0 below half the smallest denormal: no floor, as NumPy's exp.
GM_INLINE float exp_nonpositive(float x) {
  const bool underflow = x < -104.0f;  // e^-104 < 2^-150, half the smallest denormal: rounds to 0
  x = underflow ? -104.0f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23
  const float t = x * 1.44269504088896341f + magic;
  const float n = t - magic;
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  std::int32_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  const std::int32_t sb = (tb - 0x4B400000 + 127 + 64) << 23;  // 2^(n + 64)
  float scale;
  std::memcpy(&scale, &sb, sizeof scale);
  return underflow ? 0.0f : (p * scale) * 0x1p-64f;
}

GM_INLINE double exp_nonpositive(double x) {
  const bool underflow = x < -746.0;  // e^-746 < 2^-1075, half the smallest denormal: rounds to 0
  x = underflow ? -746.0 : x;
  const double magic = 6755399441055744.0;  // 1.5 * 2^52
  const double t = x * 1.4426950408889634 + magic;
  const double n = t - magic;
  const double r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  std::int64_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  const std::int64_t sb = (tb - 0x4338000000000000LL + 1023 + 64) << 52;  // 2^(n + 64)
  double scale;
  std::memcpy(&scale, &sb, sizeof scale);
  return underflow ? 0.0 : (p * scale) * 0x1p-64;
}

template <class T>
GM_INLINE void apply_kernel_impl(T* tile, index_t rows, index_t cols, index_t ld, const KernelParams& kp, const T* xf,
                                 const T* yf) {
  switch (kp.kind) {
    case KernelKind::Linear:
      return;
    case KernelKind::Cosine:
      for (index_t i = 0; i < rows; ++i) {
        T* row = tile + i * ld;
        const T xi = xf[i];
#pragma omp simd
        for (index_t j = 0; j < cols; ++j) row[j] = cosine_kernel(row[j], xi, yf[j]);
      }
      return;
    case KernelKind::Rbf: {
      const T scale = rbf_exponent_scale<T>(kp.bandwidth);
      const T zero_below = distance_zero_below<T>();
      for (index_t i = 0; i < rows; ++i) {
        T* row = tile + i * ld;
        const T xi = xf[i];
#pragma omp simd
        for (index_t j = 0; j < cols; ++j) {
          const T d2 = squared_distance(xi, yf[j], row[j], zero_below);
          row[j] = exp_nonpositive(rbf_exponent(d2, scale));
        }
      }
      return;
    }
    case KernelKind::Laplacian: {
      const T scale = laplacian_exponent_scale<T>(kp.bandwidth);
      const T zero_below = distance_zero_below<T>();
      for (index_t i = 0; i < rows; ++i) {
        T* row = tile + i * ld;
        const T xi = xf[i];
#pragma omp simd
        for (index_t j = 0; j < cols; ++j) {
          const T d2 = squared_distance(xi, yf[j], row[j], zero_below);
          row[j] = exp_nonpositive(laplacian_exponent(d2, scale));
        }
      }
      return;
    }
    case KernelKind::Polynomial: {
      const T gamma = T(kp.gamma), coef0 = T(kp.coef0);
      const int degree = kp.degree;
      for (index_t i = 0; i < rows; ++i) {
        T* row = tile + i * ld;
#pragma omp simd
        for (index_t j = 0; j < cols; ++j) row[j] = polynomial_kernel(row[j], gamma, coef0, degree);
      }
      return;
    }
  }
}

GM_CLONES void apply_kernel(float* tile, index_t rows, index_t cols, index_t ld, const KernelParams& kp,
                            const float* xf, const float* yf) {
  apply_kernel_impl(tile, rows, cols, ld, kp, xf, yf);
}
GM_CLONES void apply_kernel(double* tile, index_t rows, index_t cols, index_t ld, const KernelParams& kp,
                            const double* xf, const double* yf) {
  apply_kernel_impl(tile, rows, cols, ld, kp, xf, yf);
}

template <class T>
GM_INLINE bool apply_power_impl(T* tile, index_t rows, index_t cols, index_t ld, double power) {
  // One loop per method (power_method in numerics.hpp), each vectorised on its own.
  switch (power_method(power)) {
    case PowerMethod::Identity:
      return true;
    case PowerMethod::One:
      for (index_t i = 0; i < rows; ++i) std::fill(tile + i * ld, tile + i * ld + cols, T(1));
      return true;
    case PowerMethod::Square:
      for (index_t i = 0; i < rows; ++i) {
        T* row = tile + i * ld;
#pragma omp simd
        for (index_t j = 0; j < cols; ++j) row[j] *= row[j];
      }
      return true;
    case PowerMethod::RepeatedProduct: {
      const int whole = static_cast<int>(power);
      for (index_t i = 0; i < rows; ++i) {
        T* row = tile + i * ld;
#pragma omp simd
        for (index_t j = 0; j < cols; ++j) row[j] = repeated_product(row[j], whole);
      }
      return true;
    }
    case PowerMethod::Pow:
      break;
  }
  const bool integral = power == std::floor(power);
  bool negative = false;
  for (index_t i = 0; i < rows; ++i) {
    T* row = tile + i * ld;
    for (index_t j = 0; j < cols; ++j) row[j] = pow_of_nonnegative(row[j], power, integral, negative);
  }
  return !negative;
}

GM_CLONES bool apply_power(float* tile, index_t rows, index_t cols, index_t ld, double power) {
  return apply_power_impl(tile, rows, cols, ld, power);
}
GM_CLONES bool apply_power(double* tile, index_t rows, index_t cols, index_t ld, double power) {
  return apply_power_impl(tile, rows, cols, ld, power);
}

template <class T>
GM_INLINE void add_row_sums_impl(const T* tile, index_t rows, index_t cols, index_t ld, double* out) {
  for (index_t i = 0; i < rows; ++i) {
    const T* row = tile + i * ld;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (index_t j = 0; j < cols; ++j) s += double(row[j]);
    out[i] += s;
  }
}
template <class T>
GM_INLINE void add_col_sums_impl(const T* tile, index_t rows, index_t cols, index_t ld, double* out) {
  for (index_t i = 0; i < rows; ++i) {
    const T* row = tile + i * ld;
#pragma omp simd
    for (index_t j = 0; j < cols; ++j) out[j] += double(row[j]);
  }
}
GM_CLONES void add_row_sums(const float* t, index_t r, index_t c, index_t ld, double* o) {
  add_row_sums_impl(t, r, c, ld, o);
}
GM_CLONES void add_row_sums(const double* t, index_t r, index_t c, index_t ld, double* o) {
  add_row_sums_impl(t, r, c, ld, o);
}
GM_CLONES void add_col_sums(const float* t, index_t r, index_t c, index_t ld, double* o) {
  add_col_sums_impl(t, r, c, ld, o);
}
GM_CLONES void add_col_sums(const double* t, index_t r, index_t c, index_t ld, double* o) {
  add_col_sums_impl(t, r, c, ld, o);
}

}  // namespace gm
