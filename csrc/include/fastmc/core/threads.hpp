// The chain driver's thread pool: chains 0..n_chains-1 on up to n_threads threads, handed out by
// an atomic counter, so a chain's result depends only on its index, never on which thread ran it.
// Never aborts the process: a thread that cannot be created leaves its chains to the others, and
// an exception inside a chain (an allocation that failed) stops handing out chains and is
// rethrown to the caller once every thread has joined.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace fastmc {

template <class F>
void parallel_chains(int64_t n_chains, int64_t n_threads, F&& run_chain) {
    const int64_t workers = std::max<int64_t>(1, std::min(n_threads, n_chains));
    std::atomic<int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_lock;
    auto worker = [&]() {
        for (int64_t c = next++; c < n_chains; c = next++) {
            try {
                run_chain(c);
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_lock);
                if (!error) error = std::current_exception();
                next = n_chains;  // start no further chain
            }
        }
    };
    std::vector<std::thread> pool;
    try {
        pool.reserve(static_cast<size_t>(workers - 1));
        for (int64_t w = 1; w < workers; ++w) pool.emplace_back(worker);
    } catch (const std::system_error&) {  // fewer threads than asked: the ones running share the chains
    } catch (const std::bad_alloc&) {
    }
    worker();
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
}

// Progress that another thread may read while the chain runs.
inline void publish(int64_t* counter, int64_t value) { __atomic_store_n(counter, value, __ATOMIC_RELAXED); }
inline void publish(double* value_out, double value) { __atomic_store(value_out, &value, __ATOMIC_RELAXED); }

// The run's stop request (Ctrl-C, a time limit), set by another thread: every chain checks it
// before each iteration and ends there, so its draws are the first n_done of the full run.
inline bool interrupted(const int64_t* flag) { return __atomic_load_n(flag, __ATOMIC_RELAXED) != 0; }

}  // namespace fastmc
