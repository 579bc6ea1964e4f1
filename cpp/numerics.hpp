// The numerical rules that the CPU engine (cpp/) and the GPU engine (cuda/) share, written once: the kernel
// codes, the exact-zero rule of squared distances, the saturated exponent scale, the cosine clip, powers, NumPy's
// pairwise summation of the float64 re-check, and the rounding margins of the distance tiles.
// Every function is `__host__ __device__` under nvcc (the model: RAFT's RAFT_INLINE_FUNCTION, cuVS's
// distance_ops) and always inlined, so each engine compiles it with its own flags inside its own loops.
// The Python copies (genmetrics' kernels and points modules, the GPU emulator in tests/) are checked against
// these by tests/test_numerics.py through genmetrics._core._numerics.
#pragma once
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define GM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define GM_HOST_DEVICE inline __attribute__((always_inline))
#endif

namespace gm {

// ------------------------------------------------------------------------------------------------------
// Kernels
// ------------------------------------------------------------------------------------------------------

// The codes are part of the GPU module's contract (cuda/engine.hpp) and of its emulator (tests/_fake_gpu.py).
enum class KernelKind : int { Linear = 0, Cosine = 1, Rbf = 2, Laplacian = 3, Polynomial = 4 };

// Host only: the bindings turn Python's kernel names into codes ("gaussian" is rbf's other name).
inline KernelKind parse_kernel(const std::string& name) {
  if (name == "linear") return KernelKind::Linear;
  if (name == "cosine") return KernelKind::Cosine;
  if (name == "rbf" || name == "gaussian") return KernelKind::Rbf;
  if (name == "laplacian") return KernelKind::Laplacian;
  if (name == "polynomial") return KernelKind::Polynomial;
  throw std::invalid_argument("kernel: unknown kernel '" + name + "'");
}

// Whether k(x, x) is identically 1, so the diagonal of a symmetric Gram can be written exactly.
GM_HOST_DEVICE constexpr bool unit_diagonal(KernelKind kind) {
  return kind == KernelKind::Cosine || kind == KernelKind::Rbf || kind == KernelKind::Laplacian;
}

// The constants of each floating-point type, spelled out: std::numeric_limits is not device code.
template <class T>
struct FloatConstants;
template <>
struct FloatConstants<float> {
  static constexpr double epsilon = 0x1p-23;
  static constexpr double largest = 0x1.fffffep127;
  static constexpr double smallest_normal = 0x1p-126;
  static constexpr double unit_roundoff = 0x1p-24;
};
template <>
struct FloatConstants<double> {
  static constexpr double epsilon = 0x1p-52;
  static constexpr double largest = 0x1.fffffffffffffp1023;
  static constexpr double smallest_normal = 0x1p-1022;
  static constexpr double unit_roundoff = 0x1p-53;
};

// Each engine's own math: correctly rounded sqrt on both, pow of the platform, and (for NumPy's summation
// below) float64 additions and products that are never fused into multiply-adds: the _rn intrinsics on the GPU,
// -ffp-contract=off in the CPU files that sum (cpp/neighbors.cpp).
#if defined(__CUDA_ARCH__)
GM_HOST_DEVICE float sqrt_of(float x) { return sqrtf(x); }
GM_HOST_DEVICE double sqrt_of(double x) { return sqrt(x); }
GM_HOST_DEVICE float pow_of(float x, float p) { return powf(x, p); }
GM_HOST_DEVICE double pow_of(double x, double p) { return pow(x, p); }
GM_HOST_DEVICE double floor_of(double x) { return floor(x); }
GM_HOST_DEVICE double add_rn(double a, double b) { return __dadd_rn(a, b); }
GM_HOST_DEVICE double sub_rn(double a, double b) { return __dsub_rn(a, b); }
GM_HOST_DEVICE double mul_rn(double a, double b) { return __dmul_rn(a, b); }
#else
GM_HOST_DEVICE float sqrt_of(float x) { return std::sqrt(x); }
GM_HOST_DEVICE double sqrt_of(double x) { return std::sqrt(x); }
GM_HOST_DEVICE float pow_of(float x, float p) { return std::pow(x, p); }
GM_HOST_DEVICE double pow_of(double x, double p) { return std::pow(x, p); }
GM_HOST_DEVICE double floor_of(double x) { return std::floor(x); }
GM_HOST_DEVICE double add_rn(double a, double b) { return a + b; }
GM_HOST_DEVICE double sub_rn(double a, double b) { return a - b; }
GM_HOST_DEVICE double mul_rn(double a, double b) { return a * b; }
#endif

// cosine: x.y / (|x| |y|) from the inverse norms, clipped to [-1, 1] where rounding pushed it out.
template <class T>
GM_HOST_DEVICE T cosine_kernel(T dot, T x_inverse_norm, T y_inverse_norm) {
  const T c = dot * x_inverse_norm * y_inverse_norm;
  return c > T(1) ? T(1) : (c < T(-1) ? T(-1) : c);
}

// base^exponent (exponent >= 1) by repeated multiplication, as the polynomial kernel and integral powers do:
// the rounding is the same on every engine, unlike pow's.
template <class T>
GM_HOST_DEVICE T repeated_product(T base, int exponent) {
  T value = base;
  for (int p = 1; p < exponent; ++p) value *= base;
  return value;
}

// polynomial: (gamma x.y + coef0)^degree.
template <class T>
GM_HOST_DEVICE T polynomial_kernel(T dot, T gamma, T coef0, int degree) {
  return repeated_product(gamma * dot + coef0, degree);
}

// |x|^2 + |y|^2 - 2 x.y, the approximate squared distance of a tile of dot products.
template <class T>
GM_HOST_DEVICE T sq_distance_from_dot(T x_sq, T y_sq, T dot) {
  return (x_sq + y_sq) - T(2) * dot;
}

// Squared distances within DISTANCE_ROUNDING_ULPS units of rounding of |x|^2 + |y|^2 are taken as 0, so that
// identical rows get k = 1 exactly (the kernels' Python copy applies the same rule).
constexpr double DISTANCE_ROUNDING_ULPS = 8.0;

template <class T>
GM_HOST_DEVICE T distance_zero_below() {
  return T(DISTANCE_ROUNDING_ULPS) * T(FloatConstants<T>::epsilon);
}

template <class T>
GM_HOST_DEVICE T squared_distance(T x_sq, T y_sq, T dot, T zero_below) {
  const T total = x_sq + y_sq;
  const T d2 = total - T(2) * dot;
  return d2 <= total * zero_below ? T(0) : d2;
}

// -numerator / denominator in T, saturated at T's largest finite magnitude: a bandwidth so small that the
// exponent's scale overflows still gives k = 1 at distance 0 and k = 0 beyond it (never 0 * inf = NaN).
template <class T>
GM_HOST_DEVICE T negative_exponent_scale(double numerator, double denominator) {
  const double scale = -numerator / denominator;
  const double lowest = -FloatConstants<T>::largest;
  return T(scale < lowest ? lowest : scale);
}

// rbf: k = exp(d2 * scale) with scale = -1 / (2 sigma^2); laplacian: k = exp(sqrt(d2) * scale), scale = -1 / sigma.
// Each engine takes its own exp of the exponent (the CPU a vectorised one, the GPU expf / exp).
template <class T>
GM_HOST_DEVICE T rbf_exponent_scale(double bandwidth) {
  return negative_exponent_scale<T>(0.5, bandwidth * bandwidth);
}
template <class T>
GM_HOST_DEVICE T laplacian_exponent_scale(double bandwidth) {
  return negative_exponent_scale<T>(1.0, bandwidth);
}
template <class T>
GM_HOST_DEVICE T rbf_exponent(T d2, T scale) {
  return d2 * scale;
}
template <class T>
GM_HOST_DEVICE T laplacian_exponent(T d2, T scale) {
  return sqrt_of(d2) * scale;
}

// ------------------------------------------------------------------------------------------------------
// Powers of kernel values (k^power in the tile's precision)
// ------------------------------------------------------------------------------------------------------

// How k^power is computed, chosen once per power. k^0 = 1 also for k = 0 (the convention of pow and NumPy);
// integral powers up to 64 by repeated multiplication; larger integers (pow is exact in sign for them) and
// fractional powers by pow, fractional ones of k >= 0 only.
enum class PowerMethod { Identity, One, Square, RepeatedProduct, Pow };

GM_HOST_DEVICE PowerMethod power_method(double power) {
  if (power == 1.0) return PowerMethod::Identity;
  if (power == 0.0) return PowerMethod::One;
  if (power == 2.0) return PowerMethod::Square;
  if (power == floor_of(power) && power > 0 && power <= 64) return PowerMethod::RepeatedProduct;
  return PowerMethod::Pow;
}

// The Pow method: a negative base under a non-integer power counts as 0 and sets `negative`.
template <class T>
GM_HOST_DEVICE T pow_of_nonnegative(T base, double power, bool integral, bool& negative) {
  if (!integral && base < T(0)) {
    negative = true;
    base = T(0);
  }
  return pow_of(base, T(power));
}

template <class T>
GM_HOST_DEVICE T power_value(T base, double power, PowerMethod method, bool& negative) {
  switch (method) {
    case PowerMethod::Identity:
      return base;
    case PowerMethod::One:
      return T(1);
    case PowerMethod::Square:
      return base * base;
    case PowerMethod::RepeatedProduct:
      return repeated_product(base, int(power));
    case PowerMethod::Pow:
      break;
  }
  return pow_of_nonnegative(base, power, power == floor_of(power), negative);
}

// ------------------------------------------------------------------------------------------------------
// The float64 re-check of distance decisions
// ------------------------------------------------------------------------------------------------------

// sum_t (a_t - b_t)^2 in float64 in NumPy's pairwise order (numpy/_core/src/umath/loops_utils.h.src), so that
// it equals np.sum((a - b)**2, axis=-1) bit for bit and ties decided on it are the ties NumPy sees: blocks of
// at most PAIRWISE_BLOCK terms summed with 8 accumulators, and above that the sums of two halves split at
// pairwise_half(n). No operation may be fused into a multiply-add (add_rn, sub_rn, mul_rn above).
constexpr std::int64_t PAIRWISE_BLOCK = 128;

GM_HOST_DEVICE std::int64_t pairwise_half(std::int64_t n) { return n / 2 - (n / 2) % 8; }

template <class T>
GM_HOST_DEVICE double squared_difference(T a, T b) {
  const double t = sub_rn(double(a), double(b));
  return mul_rn(t, t);
}

template <class T>
GM_HOST_DEVICE double pairwise_block(const T* a, const T* b, std::int64_t n) {  // n <= PAIRWISE_BLOCK
  if (n < 8) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) sum = add_rn(sum, squared_difference(a[i], b[i]));
    return sum;
  }
  double r[8];
  for (int j = 0; j < 8; ++j) r[j] = squared_difference(a[j], b[j]);
  std::int64_t i = 8;
  for (; i < n - (n % 8); i += 8)
    for (int j = 0; j < 8; ++j) r[j] = add_rn(r[j], squared_difference(a[i + j], b[i + j]));
  double sum = add_rn(add_rn(add_rn(r[0], r[1]), add_rn(r[2], r[3])), add_rn(add_rn(r[4], r[5]), add_rn(r[6], r[7])));
  for (; i < n; ++i) sum = add_rn(sum, squared_difference(a[i], b[i]));
  return sum;
}

// |approximate - exact| <= margin_coefficient * (|q|^2 + |r|^2) + underflow_margin, with the norms of the tile
// rows (the tiles are in T; the exact value is the float64 pairwise sum above).
// The approximate value carries the GEMM's dot-product error (at most d u |q||r|), the rounding of the norms,
// of the sum and of the difference, and the rounding of the shifted rows to T (about 4u); the float64 value
// carries (d + 1) u64 of its own sum of squares, over at most 2 (|q|^2 + |r|^2). 25 % on top absorbs the
// rounding of the margin itself and of the thresholds in T.
template <class T>
GM_HOST_DEVICE double margin_coefficient(std::int64_t d) {
  return 1.25 * ((double(d) + 16.0) * FloatConstants<T>::unit_roundoff + 2.0 * (double(d) + 2.0) * 0x1p-53);
}

// The absolute part, in tile units (tile = scale * the caller's units): the float64 formula's underflow
// (d + 1 terms below 2^-1074) and the tiles' own (products, norms and sums below T's smallest normal round
// absolutely, denormal or flushed to zero), which the relative part misses for a set spread ~1e-20 around
// the frame's origin next to points near 1 (not rescaled then).
template <class T>
GM_HOST_DEVICE double underflow_margin(std::int64_t d, double scale) {
  return double(d + 1) * 0x1p-1074 * scale * scale + double(4 * d + 16) * FloatConstants<T>::smallest_normal;
}

// A ball test the approximate squared distance settles: surely inside, surely outside, or (neither) to be
// decided on the float64 distance.
template <class T>
GM_HOST_DEVICE bool surely_inside(T approx_sq, T margin, T radius_sq) {
  return approx_sq + margin < radius_sq;
}
template <class T>
GM_HOST_DEVICE bool surely_outside(T approx_sq, T margin, T radius_sq) {
  return approx_sq - margin > radius_sq;
}

}  // namespace gm
