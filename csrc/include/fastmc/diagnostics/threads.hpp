// Work sharing for the diagnostics kernels.  The schedule never changes a result (items are
// independent; per-worker scratch only holds intermediate values), only who computes them.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace fastmc {

// Static: worker w handles items w, w+T, ...  For phases whose items are the workers themselves
// (each owning a fixed share of the data).
template <class F>
inline void strided_parallel(int64_t n_items, int n_threads, F&& body) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > n_items) n_threads = static_cast<int>(n_items < 1 ? 1 : n_items);
    if (n_threads == 1) {
        for (int64_t i = 0; i < n_items; ++i) body(0, i);
        return;
    }
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(n_threads - 1));
    for (int w = 1; w < n_threads; ++w)
        pool.emplace_back([&, w] {
            for (int64_t i = w; i < n_items; i += n_threads) body(w, i);
        });
    for (int64_t i = 0; i < n_items; i += n_threads) body(0, i);
    for (auto& t : pool) t.join();
}

// Dynamic: workers take the next item from a shared counter, so a worker slowed down by other
// processes on its core (the machines this runs on are shared), or by costlier items, leaves more
// items to the others instead of holding everyone up.
template <class F>
inline void dynamic_parallel(int64_t n_items, int n_threads, F&& body) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > n_items) n_threads = static_cast<int>(n_items < 1 ? 1 : n_items);
    if (n_threads == 1) {
        for (int64_t i = 0; i < n_items; ++i) body(0, i);
        return;
    }
    std::atomic<int64_t> next{0};
    auto work = [&](int w) {
        for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n_items;
             i = next.fetch_add(1, std::memory_order_relaxed))
            body(w, i);
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(n_threads - 1));
    for (int w = 1; w < n_threads; ++w) pool.emplace_back(work, w);
    work(0);
    for (auto& t : pool) t.join();
}

}  // namespace fastmc
