#include "neighbors.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "target.hpp"

// This file is compiled with -ffp-contract=off: a fused multiply-add in the float64 distance would round
// differently from NumPy's (x - y)**2 followed by a sum.

namespace gm {
namespace {

// ------------------------------------------------------------------------------------------------------
// The float64 distance every decision is made on
// ------------------------------------------------------------------------------------------------------

// sum_k (a_k - b_k)^2 in float64, in NumPy's pairwise summation order (8 accumulators over blocks of at most
// 128 terms, halves above that), so that it equals np.sum((a - b)**2, axis=-1) bit for bit, and ties
// decided here are the ties NumPy sees.
template <class T>
GM_INLINE double pairwise_block(const T* a, const T* b, index_t n) {  // n <= 128
  auto term = [&](index_t i) {
    const double t = double(a[i]) - double(b[i]);
    return t * t;
  };
  if (n < 8) {
    double sum = 0.0;
    for (index_t i = 0; i < n; ++i) sum += term(i);
    return sum;
  }
  double r[8];
  for (int j = 0; j < 8; ++j) r[j] = term(j);
  index_t i = 8;
  for (; i < n - (n % 8); i += 8)
    for (int j = 0; j < 8; ++j) r[j] += term(i + j);
  double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (; i < n; ++i) sum += term(i);
  return sum;
}

GM_CLONES double pairwise_block_sum(const float* a, const float* b, index_t n) { return pairwise_block(a, b, n); }
GM_CLONES double pairwise_block_sum(const double* a, const double* b, index_t n) { return pairwise_block(a, b, n); }

template <class T>
double exact_sq_distance(const T* a, const T* b, index_t n) {
  if (n <= 128) return pairwise_block_sum(a, b, n);
  index_t half = n / 2;
  half -= half % 8;
  return exact_sq_distance(a, b, half) + exact_sq_distance(a + half, b + half, n - half);
}

// Below the smallest normal number the tiles' rounding is absolute (up to half of it per operation, denormal or
// flushed to zero), not relative: a set spread ~1e-20 around the frame's origin next to points near 1 is not
// rescaled, and its distances live there.
constexpr double smallest_normal(float) { return 0x1p-126; }
constexpr double smallest_normal(double) { return 0x1p-1022; }
constexpr double unit_roundoff(float) { return 0x1p-24; }
constexpr double unit_roundoff(double) { return 0x1p-53; }

// |approximate - exact| <= margin_coefficient * (|q|^2 + |r|^2), with the norms of the tile rows.
// The approximate value carries the GEMM's dot-product error (at most d u |q||r|), the rounding of the
// norms, of the sum and of the difference, and the rounding of the shifted rows to T (about 4u); the
// float64 value carries (d + 1) u64 of its own sum of squares, over at most 2 (|q|^2 + |r|^2).
// 25 % on top absorbs the rounding of the margin itself and of the thresholds in T.
template <class T>
double margin_coefficient(index_t d) {
  return 1.25 * ((double(d) + 16.0) * unit_roundoff(T{}) + 2.0 * (double(d) + 2.0) * 0x1p-53);
}

// ------------------------------------------------------------------------------------------------------
// Approximate squared distances from a tile of dot products, and the tile's transpose
// ------------------------------------------------------------------------------------------------------

template <class T>
GM_INLINE void dots_to_sq_distances_impl(T* tile, index_t rows, index_t cols, index_t ld, const T* row_sq,
                                         const T* col_sq) {
  for (index_t i = 0; i < rows; ++i) {
    T* row = tile + i * ld;
    const T qi = row_sq[i];
    for (index_t j = 0; j < cols; ++j) row[j] = (qi + col_sq[j]) - T(2) * row[j];
  }
}
GM_CLONES void dots_to_sq_distances(float* t, index_t r, index_t c, index_t ld, const float* a, const float* b) {
  dots_to_sq_distances_impl(t, r, c, ld, a, b);
}
GM_CLONES void dots_to_sq_distances(double* t, index_t r, index_t c, index_t ld, const double* a, const double* b) {
  dots_to_sq_distances_impl(t, r, c, ld, a, b);
}

// out (cols x rows, leading dimension rows) <- tile^T, in cache-sized blocks.
template <class T>
void transpose(const T* tile, index_t rows, index_t cols, index_t ld, T* out) {
  constexpr index_t B = 32;
  for (index_t i0 = 0; i0 < rows; i0 += B)
    for (index_t j0 = 0; j0 < cols; j0 += B) {
      const index_t i1 = std::min(rows, i0 + B), j1 = std::min(cols, j0 + B);
      for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j) out[j * rows + i] = tile[i * ld + j];
    }
}

// ------------------------------------------------------------------------------------------------------
// Top-K candidates per query
// ------------------------------------------------------------------------------------------------------

// Per query, the K smallest (approximate distance, index) pairs seen so far, kept as a max-heap in that
// lexicographic order; the order does not depend on the order in which tiles arrive.
template <class T>
struct TopK {
  index_t K;
  std::vector<T> value;
  std::vector<std::int64_t> index;
  std::vector<std::int32_t> size;

  TopK(index_t queries, index_t K_) : K(K_), value(queries * K_), index(queries * K_), size(queries, 0) {}

  T threshold(index_t q) const { return size[q] < K ? std::numeric_limits<T>::infinity() : value[q * K]; }

  static bool worse(T v1, std::int64_t i1, T v2, std::int64_t i2) { return v1 > v2 || (v1 == v2 && i1 > i2); }

  void push(index_t q, T v, std::int64_t idx) {
    T* val = value.data() + q * K;
    std::int64_t* ind = index.data() + q * K;
    index_t n = size[q];
    if (n < K) {  // sift up from the end
      index_t c = n;
      while (c > 0) {
        const index_t p = (c - 1) / 2;
        if (!worse(v, idx, val[p], ind[p])) break;
        val[c] = val[p];
        ind[c] = ind[p];
        c = p;
      }
      val[c] = v;
      ind[c] = idx;
      size[q] = std::int32_t(n + 1);
      return;
    }
    if (!worse(val[0], ind[0], v, idx)) return;  // not better than the worst kept
    index_t p = 0;  // replace the root and sift down
    for (;;) {
      index_t c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && worse(val[c + 1], ind[c + 1], val[c], ind[c])) ++c;
      if (!worse(val[c], ind[c], v, idx)) break;
      val[p] = val[c];
      ind[p] = ind[c];
      p = c;
    }
    val[p] = v;
    ind[p] = idx;
  }
};

// Extra candidates kept beyond k: the k-th float64 distance must come out below the (K)-th approximate one
// by more than the rounding margin for the candidates to be provably the k nearest (see finish_top_k).
constexpr index_t TOP_K_SLACK = 8;

// ------------------------------------------------------------------------------------------------------
// One direction of a query: queries from one set, references from the other (or the same) set
// ------------------------------------------------------------------------------------------------------

template <class T>
struct SetInfo {  // what the handlers need of a point set
  const T* exact;
  index_t rows;
  index_t dim;
  std::vector<T> sq;  // squared norms of the tile rows (float64 sums, stored in T)
  double max_sq = 0.0;

  SetInfo(const PointSet<T>& s, int n_threads) : exact(s.exact), rows(s.tile.rows), dim(s.tile.cols), sq(s.tile.rows) {
    const index_t chunk = 1024;
    parallel_for((rows + chunk - 1) / chunk, n_threads, [&](std::size_t c, int) {
      const index_t end = std::min<index_t>(rows, (index_t(c) + 1) * chunk);
      for (index_t i = index_t(c) * chunk; i < end; ++i) {
        const T* row = s.tile.row(i);
        double sum = 0.0;
        for (index_t k = 0; k < dim; ++k) sum += double(row[k]) * double(row[k]);
        sq[i] = T(sum);
      }
    });
    bool finite = true;
    for (index_t i = 0; i < rows; ++i) {
      max_sq = std::max(max_sq, double(sq[i]));
      finite = finite && std::isfinite(sq[i]);
    }
    // NaN/inf tiles (the caller's frame overflowed) would leave top-k lists short: refuse them here.
    if (!finite)
      throw std::invalid_argument("points: the distance tiles hold non-finite values (magnitudes beyond float64?)");
  }
  const T* exact_row(index_t i) const { return exact + i * dim; }
};

template <class T>
struct Side {
  const SetInfo<T>& queries;
  const SetInfo<T>& refs;
  bool exclude_self;     // queries and references are the same set: q is not its own neighbour
  double scale;          // (tile units) = scale * (the caller's units)
  double scale2;         // the same for squared distances
  double coef;           // margin_coefficient
  double floor_margin;   // underflow, absolute: the float64 formula's (d terms below 2^-1074) and the tiles' own
                         // (products, norms and sums below T's smallest normal), in tile units
  // top-k / nearest
  std::unique_ptr<TopK<T>> top;
  // counting inside the reference balls
  const double* radius = nullptr;
  std::vector<T> radius2_tile;  // squared radii in tile units, in T
  bool inclusive = false;
  std::int64_t* counts = nullptr;
  // max weight / distance
  const double* weight = nullptr;
  std::vector<T> weight2_tile;
  std::vector<double> best_ratio;
  std::vector<std::int64_t> best_index;
  // one lock per block of queries
  index_t block;
  std::vector<std::mutex> locks;

  Side(const SetInfo<T>& q, const SetInfo<T>& r, bool self, double scale_, index_t block_rows)
      : queries(q), refs(r), exclude_self(self), scale(scale_), scale2(scale_ * scale_), coef(margin_coefficient<T>(q.dim)),
        floor_margin(double(q.dim + 1) * 0x1p-1074 * scale_ * scale_ + double(4 * q.dim + 16) * smallest_normal(T{})),
        block(block_rows), locks((q.rows + block_rows - 1) / block_rows) {}

  void want_top_k(index_t K) { top = std::make_unique<TopK<T>>(queries.rows, std::min<index_t>(K, refs.rows)); }

  void want_counts(const double* ref_radius, bool incl, std::int64_t* out) {
    radius = ref_radius;
    inclusive = incl;
    counts = out;
    std::fill(counts, counts + queries.rows, 0);
    radius2_tile.resize(refs.rows);
    for (index_t r = 0; r < refs.rows; ++r) radius2_tile[r] = T((radius[r] * scale) * (radius[r] * scale));
  }

  void want_max_ratio(const double* ref_weight) {
    weight = ref_weight;
    weight2_tile.resize(refs.rows);
    for (index_t r = 0; r < refs.rows; ++r)  // negative weight: not a candidate; -1 marks it in tile units too
      weight2_tile[r] = weight[r] < 0 ? T(-1) : T((weight[r] * scale) * (weight[r] * scale));
    best_ratio.assign(queries.rows, 0.0);
    best_index.assign(queries.rows, -1);
  }

  double exact_sq(index_t q, index_t r) const {
    return exact_sq_distance(queries.exact_row(q), refs.exact_row(r), queries.dim);
  }

  // d2: approximate squared distances, rows = queries [q_begin, q_begin + nq), cols = references from r_begin.
  void process(const T* d2, index_t ld, index_t q_begin, index_t nq, index_t r_begin, index_t nr) {
    std::lock_guard<std::mutex> lock(locks[q_begin / block]);
    for (index_t i = 0; i < nq; ++i) {
      const index_t q = q_begin + i;
      const T* row = d2 + i * ld;
      if (top) scan_top_k(q, row, r_begin, nr);
      if (counts) scan_counts(q, row, r_begin, nr);
      if (weight) scan_ratio(q, row, r_begin, nr);
    }
  }

  void scan_top_k(index_t q, const T* row, index_t r_begin, index_t nr) {
    T threshold = top->threshold(q);
    constexpr index_t CHUNK = 32;
    for (index_t j0 = 0; j0 < nr; j0 += CHUNK) {
      const index_t j1 = std::min(nr, j0 + CHUNK);
      bool any = false;  // a vectorisable test first: most chunks hold no candidate
      for (index_t j = j0; j < j1; ++j) any |= row[j] <= threshold;
      if (!any) continue;
      for (index_t j = j0; j < j1; ++j) {
        if (!(row[j] <= threshold)) continue;
        const index_t r = r_begin + j;
        if (exclude_self && r == q) continue;
        top->push(q, row[j], r);
        threshold = top->threshold(q);
      }
    }
  }

  bool exact_inside(index_t q, index_t r) const {
    const double d = std::sqrt(exact_sq(q, r));
    return inclusive ? d <= radius[r] : d < radius[r];
  }

  void scan_counts(index_t q, const T* row, index_t r_begin, index_t nr) {
    const T q_margin = T(coef * double(queries.sq[q]) + floor_margin);
    const T coef_t = T(coef);
    const T* r_sq = refs.sq.data() + r_begin;
    const T* r2 = radius2_tile.data() + r_begin;
    std::int64_t count = 0;
    constexpr index_t CHUNK = 64;
    for (index_t j0 = 0; j0 < nr; j0 += CHUNK) {
      const index_t j1 = std::min(nr, j0 + CHUNK);
      int inside = 0, unsure = 0;
      for (index_t j = j0; j < j1; ++j) {  // settled by the approximate value: inside or outside for sure
        const T margin = q_margin + coef_t * r_sq[j];
        const bool in = row[j] + margin < r2[j];
        const bool out = row[j] - margin > r2[j];
        inside += in;
        unsure += !in & !out;
      }
      count += inside;
      if (!unsure) continue;
      for (index_t j = j0; j < j1; ++j) {  // within the margin of the radius: decided in float64
        const T margin = q_margin + coef_t * r_sq[j];
        if (!(row[j] + margin < r2[j]) && !(row[j] - margin > r2[j])) count += exact_inside(q, r_begin + j);
      }
    }
    counts[q] += count;
  }

  // max_r weight_r / d(q, r), exact: a reference is evaluated in float64 whenever the upper bound of its ratio
  // (the approximate distance minus the margin) reaches the best exact ratio so far, so the maximiser is
  // that of the float64 distances (ties: the lower index) however close the points are.
  void scan_ratio(index_t q, const T* row, index_t r_begin, index_t nr) {
    double best = best_ratio[q];
    std::int64_t best_r = best_index[q];
    const double q_margin = coef * double(queries.sq[q]) + floor_margin;
    // A bar the maximum surely reaches: the best exact ratio so far, or a ratio's lower bound in this tile.
    double bar2 = best * best;
    for (index_t j = 0; j < nr; ++j) {
      const double w2 = double(weight2_tile[r_begin + j]);
      const double upper_d2 = double(row[j]) + (q_margin + coef * double(refs.sq[r_begin + j]));
      if (w2 >= 0.0) bar2 = std::max(bar2, upper_d2 > 0.0 ? w2 / upper_d2 : std::numeric_limits<double>::infinity());
    }
    for (index_t j = 0; j < nr; ++j) {
      const double w2 = double(weight2_tile[r_begin + j]);
      if (w2 < 0.0) continue;
      const double lower_d2 = double(row[j]) - (q_margin + coef * double(refs.sq[r_begin + j]));
      if (lower_d2 > 0.0 && w2 < bar2 * lower_d2) continue;  // its ratio is below the bar for sure
      const index_t r = r_begin + j;
      const double d = std::sqrt(exact_sq(q, r));
      const double ratio = d > 0 ? weight[r] / d : std::numeric_limits<double>::infinity();
      if (ratio > best || (ratio == best && (best_r < 0 || r < best_r))) {
        best = ratio;
        best_r = r;
      }
    }
    best_ratio[q] = best;
    best_index[q] = best_r;
  }

  // The k nearest references of every query, exact: the candidates' float64 distances, sorted by
  // (distance, index), are the answer when the k-th of them lies below every non-candidate's lower bound
  // (the K-th approximate value minus the margin); otherwise the query is scanned again in float64.
  // Ties are ties of the distances, not of their squares: two squares an ulp apart can have the same square
  // root, and the lower index must then come first.
  void finish_top_k(index_t k, double* distance, std::int64_t* index, int n_threads) const {
    const index_t chunk = 64;
    parallel_for((queries.rows + chunk - 1) / chunk, n_threads, [&](std::size_t c, int) {
      std::vector<std::pair<double, std::int64_t>> candidates;  // (float64 distance, index)
      std::vector<T> approx;
      const index_t end = std::min<index_t>(queries.rows, (index_t(c) + 1) * chunk);
      for (index_t q = index_t(c) * chunk; q < end; ++q) {
        const index_t n = top->size[q];
        const double margin = coef * (double(queries.sq[q]) + refs.max_sq) + floor_margin;  // >= |approx - exact|
        candidates.clear();
        // Fewer than k kept (only when a tile held NaN, which SetInfo refuses): no proof, the full scan below.
        bool proven = n >= k;
        if (proven) {
          // Only candidates within twice the margin of the k-th approximate value can be among the k nearest
          // (the k first ones are all within the margin of it): the others need no float64 distance.
          approx.assign(top->value.begin() + q * top->K, top->value.begin() + q * top->K + n);
          std::nth_element(approx.begin(), approx.begin() + (k - 1), approx.end());
          const double reach = double(approx[k - 1]) + 2.0 * margin;
          for (index_t s = 0; s < n; ++s)
            if (double(top->value[q * top->K + s]) <= reach) {
              const std::int64_t r = top->index[q * top->K + s];
              candidates.emplace_back(std::sqrt(exact_sq(q, r)), r);
            }
          std::sort(candidates.begin(), candidates.end());
          proven = index_t(candidates.size()) >= k;
        }
        // Every reference is a candidate, or every reference outside the heap (at least the K-th approximate
        // value, the heap's root, away) is farther than the k-th: squares above d_k^2 (1 + 2^-50) have a
        // larger square root.
        if (proven && n != refs.rows - (exclude_self ? 1 : 0)) {
          const double kth = candidates[k - 1].first;
          proven = kth * kth * (1.0 + 0x1p-50) * scale2 < double(top->value[q * top->K]) - margin;
        }
        if (!proven) {  // ties or near-ties at the k-th place: every reference in float64
          candidates.clear();
          for (index_t r = 0; r < refs.rows; ++r)
            if (!(exclude_self && r == q)) candidates.emplace_back(std::sqrt(exact_sq(q, r)), r);
          std::partial_sort(candidates.begin(), candidates.begin() + k, candidates.end());
        }
        for (index_t s = 0; s < k; ++s) {
          distance[q * k + s] = candidates[s].first;
          index[q * k + s] = candidates[s].second;
        }
      }
    });
  }

  void finish_max_ratio(double* out) const { std::copy(best_ratio.begin(), best_ratio.end(), out); }
};

// ------------------------------------------------------------------------------------------------------
// The tile handler: approximate distances, then each direction's scans
// ------------------------------------------------------------------------------------------------------

template <class T>
struct NeighborHandler {
  const SetInfo<T>& row_set;
  const SetInfo<T>& col_set;
  Side<T>* row_side;   // queries = the tile's rows
  Side<T>* col_side;   // queries = the tile's columns (symmetric traversal: the same Side, mirrored tiles)
  bool symmetric;
  std::vector<std::vector<T>> transposed;  // per thread

  NeighborHandler(const SetInfo<T>& rows, const SetInfo<T>& cols, Side<T>* rs, Side<T>* cs, bool sym, int n_threads)
      : row_set(rows), col_set(cols), row_side(rs), col_side(cs), symmetric(sym), transposed(n_threads) {}

  void consume(const TileView<T>& tile, int thread) {
    dots_to_sq_distances(tile.values, tile.rows, tile.cols, tile.ld, row_set.sq.data() + tile.row_begin,
                         col_set.sq.data() + tile.col_begin);
    if (row_side) row_side->process(tile.values, tile.ld, tile.row_begin, tile.rows, tile.col_begin, tile.cols);
    if (col_side && (!symmetric || tile.mirrored)) {
      std::vector<T>& t = transposed[thread];
      t.resize(tile.rows * tile.cols);
      transpose(tile.values, tile.rows, tile.cols, tile.ld, t.data());
      col_side->process(t.data(), tile.rows, tile.col_begin, tile.cols, tile.row_begin, tile.rows);
    }
  }
};

}  // namespace

template <class T>
void knn(const PointSet<T>& queries, const PointSet<T>* refs, index_t k, double* distance, std::int64_t* index,
         int n_threads) {
  n_threads = std::max(n_threads, 1);
  const bool symmetric = refs == nullptr;
  const PointSet<T>& other = symmetric ? queries : *refs;
  const SetInfo<T> query_info(queries, n_threads);
  std::unique_ptr<SetInfo<T>> ref_storage;
  if (!symmetric) ref_storage = std::make_unique<SetInfo<T>>(other, n_threads);
  const SetInfo<T>& ref_info = symmetric ? query_info : *ref_storage;

  const TileShape shape = default_tile_shape(queries.tile.rows, other.tile.rows, symmetric);
  Side<T> side(query_info, ref_info, symmetric, queries.scale, shape.rows);
  side.want_top_k(k + TOP_K_SLACK);
  NeighborHandler<T> handler(query_info, ref_info, &side, symmetric ? &side : nullptr, symmetric, n_threads);
  for_each_tile(queries.tile, other.tile, symmetric, shape, n_threads, handler);
  side.finish_top_k(k, distance, index, n_threads);
}

template <class T>
void ball_query(const PointSet<T>& a, const PointSet<T>& b, bool inclusive, const BallSide& a_side,
                const BallSide& b_side, int n_threads) {
  n_threads = std::max(n_threads, 1);
  const SetInfo<T> a_info(a, n_threads), b_info(b, n_threads);
  const TileShape shape = default_tile_shape(a.tile.rows, b.tile.rows, false);

  auto make_side = [&](const BallSide& spec, const SetInfo<T>& q, const SetInfo<T>& r, index_t block) {
    std::unique_ptr<Side<T>> side;
    if (!spec.wanted()) return side;
    side = std::make_unique<Side<T>>(q, r, false, a.scale, block);
    if (spec.counts) side->want_counts(spec.ref_radius, inclusive, spec.counts);
    if (spec.nearest_distance) side->want_top_k(1 + TOP_K_SLACK);
    if (spec.max_ratio) side->want_max_ratio(spec.ref_weight);
    return side;
  };
  auto a_queries = make_side(a_side, a_info, b_info, shape.rows);
  auto b_queries = make_side(b_side, b_info, a_info, shape.cols);
  if (!a_queries && !b_queries) return;

  NeighborHandler<T> handler(a_info, b_info, a_queries.get(), b_queries.get(), false, n_threads);
  for_each_tile(a.tile, b.tile, false, shape, n_threads, handler);

  auto finish = [&](const BallSide& spec, Side<T>* side) {
    if (!side) return;
    if (spec.nearest_distance) side->finish_top_k(1, spec.nearest_distance, spec.nearest_index, n_threads);
    if (spec.max_ratio) side->finish_max_ratio(spec.max_ratio);
  };
  finish(a_side, a_queries.get());
  finish(b_side, b_queries.get());
}

#define GM_INSTANTIATE(T)                                                                                  \
  template void knn<T>(const PointSet<T>&, const PointSet<T>*, index_t, double*, std::int64_t*, int);      \
  template void ball_query<T>(const PointSet<T>&, const PointSet<T>&, bool, const BallSide&, const BallSide&, \
                              int);
GM_INSTANTIATE(float)
GM_INSTANTIATE(double)

}  // namespace gm
