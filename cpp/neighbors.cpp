#include "neighbors.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "numerics.hpp"
#include "target.hpp"

// This file is compiled with -ffp-contract=off: a fused multiply-add in the float64 distance would round
// differently from NumPy's (x - y)**2 followed by a sum.

namespace gm {
namespace {

// ------------------------------------------------------------------------------------------------------
// The float64 distance every decision is made on
// ------------------------------------------------------------------------------------------------------

// The pairwise block of numerics.hpp, cloned per CPU level (-ffp-contract=off keeps its roundings NumPy's).
GM_CLONES double pairwise_block_sum(const float* a, const float* b, index_t n) { return pairwise_block(a, b, n); }
GM_CLONES double pairwise_block_sum(const double* a, const double* b, index_t n) { return pairwise_block(a, b, n); }

// sum_k (a_k - b_k)^2 in float64, equal to np.sum((a - b)**2, axis=-1) bit for bit (numerics.hpp).
template <class T>
double exact_sq_distance(const T* a, const T* b, index_t n) {
  if (n <= PAIRWISE_BLOCK) return pairwise_block_sum(a, b, n);
  const index_t half = pairwise_half(n);
  return exact_sq_distance(a, b, half) + exact_sq_distance(a + half, b + half, n - half);
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
    for (index_t j = 0; j < cols; ++j) row[j] = sq_distance_from_dot(qi, col_sq[j], row[j]);
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
  index_t K = 0;
  std::vector<T> value;
  std::vector<std::int64_t> index;
  std::vector<std::int32_t> size;

  void reset(index_t queries, index_t K_) {
    K = K_;
    value.assign(queries * K_, T(0));
    index.assign(queries * K_, 0);
    size.assign(queries, 0);
  }

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
// by more than the rounding margin for the candidates to be provably the k nearest (see TopKCollector::finish).
constexpr index_t TOP_K_SLACK = 8;

// ------------------------------------------------------------------------------------------------------
// One direction of a query: queries from one set, references from the other (or the same) set
// ------------------------------------------------------------------------------------------------------

template <class T>
struct SetInfo {  // what the collectors need of a point set
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

// What every collector of a direction shares: the two sets and the rounding margin between a tile's approximate
// squared distance and the float64 one, |approx - exact| <= coef (|q|^2 + |r|^2) + floor_margin (numerics.hpp).
template <class T>
struct Direction {
  const SetInfo<T>& queries;
  const SetInfo<T>& refs;
  bool exclude_self;    // queries and references are the same set: q is not its own neighbour
  double scale;         // (tile units) = scale * (the caller's units)
  double scale2;        // the same for squared distances
  double coef;          // margin_coefficient
  double floor_margin;  // underflow_margin, in tile units

  Direction(const SetInfo<T>& q, const SetInfo<T>& r, bool self, double scale_)
      : queries(q), refs(r), exclude_self(self), scale(scale_), scale2(scale_ * scale_),
        coef(margin_coefficient<T>(q.dim)), floor_margin(underflow_margin<T>(q.dim, scale_)) {}

  double exact_sq(index_t q, index_t r) const {
    return exact_sq_distance(queries.exact_row(q), refs.exact_row(r), queries.dim);
  }
};

// One kind of result, collected over the traversal in the lifecycle of FAISS's ResultHandler: begin() before
// the first tile (state allocated, outputs cleared), add() for one query's row of a tile of approximate squared
// distances (called under the lock of the query's block: one query's rows never race), finish() after the last
// tile (the outputs written).
template <class T>
struct Collector {
  virtual ~Collector() = default;
  virtual void begin() = 0;
  virtual void add(index_t q, const T* row, index_t r_begin, index_t nr) = 0;
  virtual void finish(int n_threads) = 0;
};

// The k nearest references of every query: K = k + TOP_K_SLACK candidates by approximate distance, then the
// answer in float64.
template <class T>
struct TopKCollector final : Collector<T> {
  const Direction<T>& dir;
  index_t k;
  double* distance;      // queries x k
  std::int64_t* index;   // queries x k
  TopK<T> top;

  TopKCollector(const Direction<T>& d, index_t k_, double* distance_, std::int64_t* index_)
      : dir(d), k(k_), distance(distance_), index(index_) {}

  void begin() override { top.reset(dir.queries.rows, std::min<index_t>(k + TOP_K_SLACK, dir.refs.rows)); }

  void add(index_t q, const T* row, index_t r_begin, index_t nr) override {
    T threshold = top.threshold(q);
    constexpr index_t CHUNK = 32;
    for (index_t j0 = 0; j0 < nr; j0 += CHUNK) {
      const index_t j1 = std::min(nr, j0 + CHUNK);
      bool any = false;  // a vectorisable test first: most chunks hold no candidate
      for (index_t j = j0; j < j1; ++j) any |= row[j] <= threshold;
      if (!any) continue;
      for (index_t j = j0; j < j1; ++j) {
        if (!(row[j] <= threshold)) continue;
        const index_t r = r_begin + j;
        if (dir.exclude_self && r == q) continue;
        top.push(q, row[j], r);
        threshold = top.threshold(q);
      }
    }
  }

  // Exact: the candidates' float64 distances, sorted by (distance, index), are the answer when the k-th of them
  // lies below every non-candidate's lower bound (the K-th approximate value minus the margin); otherwise the
  // query is scanned again in float64. Ties are ties of the distances, not of their squares: two squares an
  // ulp apart can have the same square root, and the lower index must then come first.
  void finish(int n_threads) override {
    const SetInfo<T>& queries = dir.queries;
    const SetInfo<T>& refs = dir.refs;
    const index_t chunk = 64;
    parallel_for((queries.rows + chunk - 1) / chunk, n_threads, [&](std::size_t c, int) {
      std::vector<std::pair<double, std::int64_t>> candidates;  // (float64 distance, index)
      std::vector<T> approx;
      const index_t end = std::min<index_t>(queries.rows, (index_t(c) + 1) * chunk);
      for (index_t q = index_t(c) * chunk; q < end; ++q) {
        const index_t n = top.size[q];
        // >= |approx - exact|
        const double margin = dir.coef * (double(queries.sq[q]) + refs.max_sq) + dir.floor_margin;
        candidates.clear();
        // Fewer than k kept (only when a tile held NaN, which SetInfo refuses): no proof, the full scan below.
        bool proven = n >= k;
        if (proven) {
          // Only candidates within twice the margin of the k-th approximate value can be among the k nearest
          // (the k first ones are all within the margin of it): the others need no float64 distance.
          approx.assign(top.value.begin() + q * top.K, top.value.begin() + q * top.K + n);
          std::nth_element(approx.begin(), approx.begin() + (k - 1), approx.end());
          const double reach = double(approx[k - 1]) + 2.0 * margin;
          for (index_t s = 0; s < n; ++s)
            if (double(top.value[q * top.K + s]) <= reach) {
              const std::int64_t r = top.index[q * top.K + s];
              candidates.emplace_back(std::sqrt(dir.exact_sq(q, r)), r);
            }
          std::sort(candidates.begin(), candidates.end());
          proven = index_t(candidates.size()) >= k;
        }
        // Every reference is a candidate, or every reference outside the heap (at least the K-th approximate
        // value, the heap's root, away) is farther than the k-th: squares above d_k^2 (1 + 2^-50) have a
        // larger square root. The absolute 2^-1073 keeps that true where d_k^2 is denormal, and the relative
        // factor rounds away.
        if (proven && n != refs.rows - (dir.exclude_self ? 1 : 0)) {
          const double kth = candidates[k - 1].first;
          proven = (kth * kth * (1.0 + 0x1p-50) + 0x1p-1073) * dir.scale2 < double(top.value[q * top.K]) - margin;
        }
        if (!proven) {  // ties or near-ties at the k-th place: every reference in float64
          candidates.clear();
          for (index_t r = 0; r < refs.rows; ++r)
            if (!(dir.exclude_self && r == q)) candidates.emplace_back(std::sqrt(dir.exact_sq(q, r)), r);
          std::partial_sort(candidates.begin(), candidates.begin() + k, candidates.end());
        }
        for (index_t s = 0; s < k; ++s) {
          distance[q * k + s] = candidates[s].first;
          index[q * k + s] = candidates[s].second;
        }
      }
    });
  }
};

// Per query, the number of references whose ball holds it: d(q, r) < radius_r (<= if inclusive), exact.
template <class T>
struct BallCountCollector final : Collector<T> {
  const Direction<T>& dir;
  const double* radius;       // per reference, in the caller's units
  bool inclusive;
  std::int64_t* counts;       // per query
  std::vector<T> radius2_tile;  // squared radii in tile units, in T

  BallCountCollector(const Direction<T>& d, const double* ref_radius, bool inclusive_, std::int64_t* counts_)
      : dir(d), radius(ref_radius), inclusive(inclusive_), counts(counts_) {}

  void begin() override {
    std::fill(counts, counts + dir.queries.rows, 0);
    const double scale = dir.scale;
    radius2_tile.resize(dir.refs.rows);
    for (index_t r = 0; r < dir.refs.rows; ++r) radius2_tile[r] = T((radius[r] * scale) * (radius[r] * scale));
  }

  bool exact_inside(index_t q, index_t r) const {
    const double d = std::sqrt(dir.exact_sq(q, r));
    return inclusive ? d <= radius[r] : d < radius[r];
  }

  void add(index_t q, const T* row, index_t r_begin, index_t nr) override {
    const T q_margin = T(dir.coef * double(dir.queries.sq[q]) + dir.floor_margin);
    const T coef_t = T(dir.coef);
    const T* r_sq = dir.refs.sq.data() + r_begin;
    const T* r2 = radius2_tile.data() + r_begin;
    std::int64_t count = 0;
    constexpr index_t CHUNK = 64;
    for (index_t j0 = 0; j0 < nr; j0 += CHUNK) {
      const index_t j1 = std::min(nr, j0 + CHUNK);
      int inside = 0, unsure = 0;
      for (index_t j = j0; j < j1; ++j) {  // settled by the approximate value: inside or outside for sure
        const T margin = q_margin + coef_t * r_sq[j];
        const bool in = surely_inside(row[j], margin, r2[j]);
        const bool out = surely_outside(row[j], margin, r2[j]);
        inside += in;
        unsure += !in & !out;
      }
      count += inside;
      if (!unsure) continue;
      for (index_t j = j0; j < j1; ++j) {  // within the margin of the radius: decided in float64
        const T margin = q_margin + coef_t * r_sq[j];
        if (!surely_inside(row[j], margin, r2[j]) && !surely_outside(row[j], margin, r2[j]))
          count += exact_inside(q, r_begin + j);
      }
    }
    counts[q] += count;
  }

  void finish(int) override {}  // the counts are added in place
};

// Per query, max over references with weight_r >= 0 of weight_r / d(q, r) (the realism score); inf where d = 0,
// 0 when no weight is >= 0. Exact: a reference is evaluated in float64 whenever the upper bound of its ratio
// (the approximate distance minus the margin) reaches the best exact ratio so far, so the maximiser is that of
// the float64 distances (ties: the lower index) however close the points are.
template <class T>
struct MaxRatioCollector final : Collector<T> {
  const Direction<T>& dir;
  const double* weight;  // per reference
  double* max_ratio;     // per query
  std::vector<T> weight2_tile;
  std::vector<double> best_ratio;
  std::vector<std::int64_t> best_index;

  MaxRatioCollector(const Direction<T>& d, const double* ref_weight, double* out)
      : dir(d), weight(ref_weight), max_ratio(out) {}

  void begin() override {
    const double scale = dir.scale;
    weight2_tile.resize(dir.refs.rows);
    for (index_t r = 0; r < dir.refs.rows; ++r)  // negative weight: not a candidate; -1 marks it in tile units too
      weight2_tile[r] = weight[r] < 0 ? T(-1) : T((weight[r] * scale) * (weight[r] * scale));
    best_ratio.assign(dir.queries.rows, 0.0);
    best_index.assign(dir.queries.rows, -1);
  }

  void add(index_t q, const T* row, index_t r_begin, index_t nr) override {
    const double coef = dir.coef;
    const SetInfo<T>& refs = dir.refs;
    double best = best_ratio[q];
    std::int64_t best_r = best_index[q];
    const double q_margin = coef * double(dir.queries.sq[q]) + dir.floor_margin;
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
      const double d = std::sqrt(dir.exact_sq(q, r));
      const double ratio = d > 0 ? weight[r] / d : std::numeric_limits<double>::infinity();
      if (ratio > best || (ratio == best && (best_r < 0 || r < best_r))) {
        best = ratio;
        best_r = r;
      }
    }
    best_ratio[q] = best;
    best_index[q] = best_r;
  }

  void finish(int) override { std::copy(best_ratio.begin(), best_ratio.end(), max_ratio); }
};

// The collectors of one direction, fed the rows of each tile under one lock per block of queries.
template <class T>
struct DirectionCollectors {
  Direction<T> direction;
  std::vector<std::unique_ptr<Collector<T>>> collectors;
  index_t block;
  std::vector<std::mutex> locks;

  DirectionCollectors(const SetInfo<T>& q, const SetInfo<T>& r, bool self, double scale, index_t block_rows)
      : direction(q, r, self, scale), block(block_rows), locks((q.rows + block_rows - 1) / block_rows) {}
  DirectionCollectors(const DirectionCollectors&) = delete;  // the collectors refer to `direction`

  template <class C, class... Args>
  void collect(Args&&... args) {
    collectors.push_back(std::make_unique<C>(direction, std::forward<Args>(args)...));
  }

  void begin() {
    for (auto& c : collectors) c->begin();
  }

  // d2: approximate squared distances, rows = queries [q_begin, q_begin + nq), cols = references from r_begin.
  void add_tile(const T* d2, index_t ld, index_t q_begin, index_t nq, index_t r_begin, index_t nr) {
    std::lock_guard<std::mutex> lock(locks[q_begin / block]);
    for (index_t i = 0; i < nq; ++i)
      for (auto& c : collectors) c->add(q_begin + i, d2 + i * ld, r_begin, nr);
  }

  void finish(int n_threads) {
    for (auto& c : collectors) c->finish(n_threads);
  }
};

// ------------------------------------------------------------------------------------------------------
// The tile handler: approximate distances, then each direction's collectors
// ------------------------------------------------------------------------------------------------------

template <class T>
struct NeighborHandler {
  const SetInfo<T>& row_set;
  const SetInfo<T>& col_set;
  DirectionCollectors<T>* row_queries;  // queries = the tile's rows
  DirectionCollectors<T>* col_queries;  // queries = the tile's columns (symmetric traversal: the same, mirrored)
  bool symmetric;
  std::vector<std::vector<T>> transposed;  // per thread

  NeighborHandler(const SetInfo<T>& rows, const SetInfo<T>& cols, DirectionCollectors<T>* rq,
                  DirectionCollectors<T>* cq, bool sym, int n_threads)
      : row_set(rows), col_set(cols), row_queries(rq), col_queries(cq), symmetric(sym), transposed(n_threads) {}

  void consume(const TileView<T>& tile, int thread) {
    dots_to_sq_distances(tile.values, tile.rows, tile.cols, tile.ld, row_set.sq.data() + tile.row_begin,
                         col_set.sq.data() + tile.col_begin);
    if (row_queries) row_queries->add_tile(tile.values, tile.ld, tile.row_begin, tile.rows, tile.col_begin, tile.cols);
    if (col_queries && (!symmetric || tile.mirrored)) {
      std::vector<T>& t = transposed[thread];
      t.resize(tile.rows * tile.cols);
      transpose(tile.values, tile.rows, tile.cols, tile.ld, t.data());
      col_queries->add_tile(t.data(), tile.rows, tile.col_begin, tile.cols, tile.row_begin, tile.rows);
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
  DirectionCollectors<T> queries_of_refs(query_info, ref_info, symmetric, queries.scale, shape.rows);
  queries_of_refs.template collect<TopKCollector<T>>(k, distance, index);
  queries_of_refs.begin();
  NeighborHandler<T> handler(query_info, ref_info, &queries_of_refs, symmetric ? &queries_of_refs : nullptr, symmetric,
                             n_threads);
  for_each_tile(queries.tile, other.tile, symmetric, shape, n_threads, handler);
  queries_of_refs.finish(n_threads);
}

template <class T>
void ball_query(const PointSet<T>& a, const PointSet<T>& b, bool inclusive, const BallSide& a_side,
                const BallSide& b_side, int n_threads) {
  n_threads = std::max(n_threads, 1);
  const SetInfo<T> a_info(a, n_threads), b_info(b, n_threads);
  const TileShape shape = default_tile_shape(a.tile.rows, b.tile.rows, false);

  auto collectors_for = [&](const BallSide& spec, const SetInfo<T>& q, const SetInfo<T>& r, index_t block) {
    std::unique_ptr<DirectionCollectors<T>> direction;
    if (!spec.wanted()) return direction;
    direction = std::make_unique<DirectionCollectors<T>>(q, r, false, a.scale, block);
    if (spec.nearest_distance)
      direction->template collect<TopKCollector<T>>(1, spec.nearest_distance, spec.nearest_index);
    if (spec.counts) direction->template collect<BallCountCollector<T>>(spec.ref_radius, inclusive, spec.counts);
    if (spec.max_ratio) direction->template collect<MaxRatioCollector<T>>(spec.ref_weight, spec.max_ratio);
    direction->begin();
    return direction;
  };
  auto a_queries = collectors_for(a_side, a_info, b_info, shape.rows);
  auto b_queries = collectors_for(b_side, b_info, a_info, shape.cols);
  if (!a_queries && !b_queries) return;

  NeighborHandler<T> handler(a_info, b_info, a_queries.get(), b_queries.get(), false, n_threads);
  for_each_tile(a.tile, b.tile, false, shape, n_threads, handler);

  if (a_queries) a_queries->finish(n_threads);
  if (b_queries) b_queries->finish(n_threads);
}

#define GM_INSTANTIATE(T)                                                                             \
  template void knn<T>(const PointSet<T>&, const PointSet<T>*, index_t, double*, std::int64_t*, int); \
  template void ball_query<T>(const PointSet<T>&, const PointSet<T>&, bool, const BallSide&, const BallSide&, int);
GM_INSTANTIATE(float)
GM_INSTANTIATE(double)

}  // namespace gm
