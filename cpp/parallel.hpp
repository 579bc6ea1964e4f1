// A minimal work-sharing loop over independent tasks with std::thread, with cooperative cancellation.
// Dynamic scheduling (an atomic counter) because tiles differ in cost (diagonal tiles, ragged edges).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace gm {

// Thrown by parallel_for when the interrupt poll asked to stop (Ctrl-C): the work is abandoned, every thread is
// joined, and the caller's outputs are left incomplete.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

// Asked between tasks, on the thread that started the work, at most every INTERRUPT_POLL_INTERVAL: true means
// stop. The Python bindings install one that runs the interpreter's signal handlers (PyErr_CheckSignals), so
// that Ctrl-C stops a long call within about a second. nullptr (the default): never interrupted.
using InterruptPoll = bool (*)();
inline InterruptPoll& interrupt_poll() {
  static InterruptPoll poll = nullptr;
  return poll;
}
constexpr auto INTERRUPT_POLL_INTERVAL = std::chrono::milliseconds(100);

// Threads beyond this many per core only add stacks, BLAS buffers and contention: the engine never runs more.
constexpr int MAX_THREADS_PER_CORE = 4;

// Under an address-space limit (ulimit -v, RLIMIT_AS) every new thread costs virtual memory before it does any
// work: its stack (8 MiB), a malloc arena (glibc reserves 64 MiB per thread) and OpenBLAS's buffer and
// thread-local data. When those cannot be had, glibc and OpenBLAS end the process (abort, exit(1)) instead of
// reporting, so the engine starts no more threads than half the remaining address space holds at this much each.
constexpr std::size_t ADDRESS_SPACE_PER_THREAD = std::size_t(96) << 20;

inline int address_space_thread_cap() {
#if defined(__linux__)
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return INT_MAX;
  unsigned long long pages = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%llu", &pages) != 1) pages = 0;
    std::fclose(statm);
  }
  const unsigned long long used = pages * static_cast<unsigned long long>(sysconf(_SC_PAGESIZE));
  const unsigned long long headroom = limit.rlim_cur > used ? limit.rlim_cur - used : 0;
  // the calling thread exists already: new threads get half of the headroom
  return 1 + static_cast<int>(std::min<unsigned long long>(headroom / 2 / ADDRESS_SPACE_PER_THREAD, 1u << 12));
#else
  return INT_MAX;
#endif
}

inline int thread_cap() {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return std::min(static_cast<int>(std::min<unsigned>(cores * MAX_THREADS_PER_CORE, 1u << 12)),
                  address_space_thread_cap());
}

// Calls body(task, thread_index) for task in [0, n_tasks) on up to n_threads threads (fewer when the system
// cannot create more: the work then runs on the threads it got). The first exception thrown by any task is
// rethrown on the calling thread once every thread has stopped; an interrupt is rethrown as Interrupted.
template <class Body>
void parallel_for(std::size_t n_tasks, int n_threads, Body&& body) {
  const int workers = static_cast<int>(
      std::min<std::size_t>(std::min(std::max(n_threads, 1), thread_cap()), std::max<std::size_t>(n_tasks, 1)));
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto fail = [&](std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (!error) error = e;
    next = n_tasks;  // stop handing out work
  };
  const InterruptPoll poll = interrupt_poll();
  auto last_poll = std::chrono::steady_clock::now();
  auto run = [&](int thread_index) {
    try {
      for (std::size_t t = next++; t < n_tasks; t = next++) {
        body(t, thread_index);
        if (thread_index == 0 && poll) {  // the calling thread: the one that may hold the interpreter
          const auto now = std::chrono::steady_clock::now();
          if (now - last_poll >= INTERRUPT_POLL_INTERVAL) {
            last_poll = now;
            if (poll()) throw Interrupted();
          }
        }
      }
    } catch (...) {
      fail(std::current_exception());
    }
  };
  std::vector<std::thread> pool;
  try {
    pool.reserve(workers - 1);
    for (int w = 1; w < workers; ++w) pool.emplace_back(run, w);
  } catch (...) {
    // No more threads (a process limit, no memory for a stack): the ones that started and this one finish the
    // work. Thread indices stay below `workers`, so per-thread buffers sized for `workers` remain valid.
  }
  run(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace gm
