// Shared by the .cu files: launch checks, type dispatch, and the float <-> orderable-integer maps.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "engine.hpp"

namespace gmcuda {

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

// Launch errors (bad configuration, no device, a sticky fault from an earlier kernel) become a RuntimeError in
// Python with the CUDA message; nothing here synchronises, so asynchronous faults surface at the next check.
inline void check_launch(const char* what) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("genmetrics._cuda: ") + what + ": " + cudaGetErrorString(status));
}

inline unsigned grid_for(index_t work, unsigned block, unsigned cap = 65535u * 8u) {
  const index_t blocks = (work + block - 1) / block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

// Calls fn(T{}) with T the C++ type of `dtype`.
template <class Fn>
void dispatch(Dtype dtype, Fn&& fn) {
  if (dtype == Dtype::Float32)
    fn(float{});
  else
    fn(double{});
}

// Monotone maps from floating-point values to unsigned integers of the same width (negative values flipped),
// so that radix selection on the integers selects on the values.
__device__ __forceinline__ std::uint32_t orderable(float x) {
  const std::uint32_t bits = __float_as_uint(x);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
__device__ __forceinline__ unsigned long long orderable(double x) {
  const unsigned long long bits = static_cast<unsigned long long>(__double_as_longlong(x));
  return (bits & 0x8000000000000000ull) ? ~bits : (bits | 0x8000000000000000ull);
}
__device__ __forceinline__ float from_orderable(std::uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key);
}
__device__ __forceinline__ double from_orderable(unsigned long long key) {
  return __longlong_as_double(
      static_cast<long long>((key & 0x8000000000000000ull) ? (key & 0x7FFFFFFFFFFFFFFFull) : ~key));
}

template <class T>
struct OrderableKey;
template <>
struct OrderableKey<float> {
  using type = std::uint32_t;
};
template <>
struct OrderableKey<double> {
  using type = unsigned long long;
};

}  // namespace gmcuda
