// Gram-tile epilogues on the GPU: kernel functions and float64 power sums, the same conventions as
// cpp/kernels.cpp (clipping, exact zero distances, unit diagonal, powers in the tile's precision).
#include <cmath>

#include "common.cuh"

namespace gmcuda {
namespace {

using namespace gm;  // the shared rules of cpp/numerics.hpp

__device__ __forceinline__ float exp_of(float x) { return expf(x); }
__device__ __forceinline__ double exp_of(double x) { return exp(x); }

template <class T>
__global__ void apply_kernel_kernel(T* tile, index_t rows, index_t cols, index_t ld, KernelArgs kp, const T* xf,
                                    const T* yf, index_t diagonal) {
  const T zero_below = distance_zero_below<T>();
  const T rbf_scale = rbf_exponent_scale<T>(kp.bandwidth);
  const T laplacian_scale = laplacian_exponent_scale<T>(kp.bandwidth);
  const bool unit = unit_diagonal(kp.kind);
  const index_t total = rows * cols;
  for (index_t e = blockIdx.x * index_t(blockDim.x) + threadIdx.x; e < total; e += index_t(gridDim.x) * blockDim.x) {
    const index_t i = e / cols, j = e - i * cols;
    T& value = tile[i * ld + j];
    T out = value;
    switch (kp.kind) {
      case KernelKind::Cosine:
        out = cosine_kernel(value, xf[i], yf[j]);
        break;
      case KernelKind::Rbf:
        out = exp_of(rbf_exponent(squared_distance(xf[i], yf[j], value, zero_below), rbf_scale));
        break;
      case KernelKind::Laplacian:
        out = exp_of(laplacian_exponent(squared_distance(xf[i], yf[j], value, zero_below), laplacian_scale));
        break;
      case KernelKind::Polynomial:
        out = polynomial_kernel(value, T(kp.gamma), T(kp.coef0), kp.degree);
        break;
      case KernelKind::Linear:
        break;
    }
    if (diagonal >= 0 && j == i + diagonal && unit) out = T(1);
    value = out;
  }
}

// Partial sums of a (64-row x 32-column) block: per row over its 32 columns (a warp reduction), per column over
// its 64 rows. Fixed shapes and orders: the sums are the same on every run.
constexpr int PARTIAL_COLS = 32;
constexpr int PARTIAL_ROWS = 64;
constexpr int WARPS = 8;

template <class T>
__global__ void power_partials_kernel(const T* tile, index_t rows, index_t cols, index_t ld, double power,
                                      double* row_partial, double* col_partial, int* negative_flag) {
  const PowerMethod method = power_method(power);
  bool negative = false;
  const index_t j = index_t(blockIdx.x) * PARTIAL_COLS + threadIdx.x;
  const index_t row0 = index_t(blockIdx.y) * PARTIAL_ROWS;
  double column_sum = 0.0;
  for (int t = 0; t < PARTIAL_ROWS / WARPS; ++t) {
    const index_t i = row0 + threadIdx.y + WARPS * t;
    double value = 0.0;
    if (i < rows && j < cols) value = double(power_value(tile[i * ld + j], power, method, negative));
    column_sum += value;
    if (row_partial != nullptr) {  // warp = one row, 32 columns (blockDim.x == 32)
      double s = value;
      for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_down_sync(0xffffffffu, s, offset);
      if (threadIdx.x == 0 && i < rows) row_partial[index_t(blockIdx.x) * rows + i] = s;
    }
  }
  if (col_partial != nullptr) {
    __shared__ double shared[WARPS][PARTIAL_COLS];
    shared[threadIdx.y][threadIdx.x] = column_sum;
    __syncthreads();
    if (threadIdx.y == 0 && j < cols) {
      double s = 0.0;
      for (int w = 0; w < WARPS; ++w) s += shared[w][threadIdx.x];
      col_partial[index_t(blockIdx.y) * cols + j] = s;
    }
  }
  if (negative) *negative_flag = 1;  // every writer stores the same value: no atomic needed
}

__global__ void add_partials_kernel(const double* partial, index_t blocks, index_t length, double* out) {
  for (index_t i = blockIdx.x * index_t(blockDim.x) + threadIdx.x; i < length; i += index_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (index_t b = 0; b < blocks; ++b) s += partial[b * length + i];
    out[i] += s;
  }
}

index_t blocks_of(index_t n, index_t size) { return (n + size - 1) / size; }

}  // namespace

void apply_kernel(Tile tile, const KernelArgs& kernel, const void* x_factor, const void* y_factor, index_t diagonal,
                  void* stream) {
  if (tile.rows == 0 || tile.cols == 0 || (kernel.kind == KernelKind::Linear && diagonal < 0)) return;
  dispatch(tile.dtype, [&](auto zero) {
    using T = decltype(zero);
    apply_kernel_kernel<T><<<grid_for(tile.rows * tile.cols, 256), 256, 0, as_stream(stream)>>>(
        static_cast<T*>(tile.data), tile.rows, tile.cols, tile.ld, kernel, static_cast<const T*>(x_factor),
        static_cast<const T*>(y_factor), diagonal);
  });
  check_launch("apply_kernel");
}

index_t power_sums_scratch(index_t rows, index_t cols) {
  return rows * blocks_of(cols, PARTIAL_COLS) + cols * blocks_of(rows, PARTIAL_ROWS);
}

void power_sums(Tile tile, double power, double* row_out, double* col_out, int* negative_flag, double* scratch,
                void* stream) {
  if (tile.rows == 0 || tile.cols == 0) return;
  const index_t col_blocks = blocks_of(tile.cols, PARTIAL_COLS), row_blocks = blocks_of(tile.rows, PARTIAL_ROWS);
  if (row_blocks > 65535) throw std::invalid_argument("power_sums: tile has too many rows");
  double* row_partial = row_out != nullptr ? scratch : nullptr;
  double* col_partial = col_out != nullptr ? scratch + tile.rows * col_blocks : nullptr;
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(row_blocks));
  const dim3 block(PARTIAL_COLS, WARPS);
  dispatch(tile.dtype, [&](auto zero) {
    using T = decltype(zero);
    power_partials_kernel<T><<<grid, block, 0, as_stream(stream)>>>(static_cast<const T*>(tile.data), tile.rows,
                                                                    tile.cols, tile.ld, power, row_partial, col_partial,
                                                                    negative_flag);
  });
  check_launch("power_sums");
  if (row_out != nullptr)
    add_partials_kernel<<<grid_for(tile.rows, 256), 256, 0, as_stream(stream)>>>(row_partial, col_blocks, tile.rows,
                                                                                 row_out);
  if (col_out != nullptr)
    add_partials_kernel<<<grid_for(tile.cols, 256), 256, 0, as_stream(stream)>>>(col_partial, row_blocks, tile.cols,
                                                                                 col_out);
  check_launch("power_sums (totals)");
}

int built_runtime_version() { return CUDART_VERSION; }

int device_count(const char** reason) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    *reason = cudaGetErrorString(status);
    cudaGetLastError();  // clear it: a machine without a driver is not an error state for later calls
    return 0;
  }
  *reason = count > 0 ? "" : "no CUDA device";
  return count;
}

}  // namespace gmcuda
