// A minimal work-sharing loop over independent tasks with std::thread.
// Dynamic scheduling (an atomic counter) because tiles differ in cost (diagonal tiles, ragged edges).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace gm {

// Calls body(task, thread_index) for task in [0, n_tasks) on up to n_threads threads.
// The first exception thrown by any task is rethrown on the calling thread.
template <class Body>
void parallel_for(std::size_t n_tasks, int n_threads, Body&& body) {
  const int workers = static_cast<int>(std::min<std::size_t>(std::max(n_threads, 1), std::max<std::size_t>(n_tasks, 1)));
  if (workers <= 1) {
    for (std::size_t t = 0; t < n_tasks; ++t) body(t, 0);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](int thread_index) {
    try {
      for (std::size_t t = next++; t < n_tasks; t = next++) body(t, thread_index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = n_tasks;  // stop handing out work
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (int w = 1; w < workers; ++w) pool.emplace_back(run, w);
  run(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace gm
