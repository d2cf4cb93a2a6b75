// Static, strided work sharing for the diagnostics kernels: worker w handles items w, w+T, ...
// The schedule never changes a result (items are independent), only who computes them.
#pragma once
#include <cstdint>
#include <thread>
#include <vector>

namespace fastmc {

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

}  // namespace fastmc
