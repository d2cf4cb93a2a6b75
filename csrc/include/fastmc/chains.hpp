// Runs chains 0..n_chains-1 on up to n_threads threads. Chains are handed out by an atomic
// counter; a chain's result depends only on its index, never on which thread ran it.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace fastmc {

template <class F>
void parallel_chains(int64_t n_chains, int64_t n_threads, F&& run_chain) {
    const int64_t workers = std::max<int64_t>(1, std::min(n_threads, n_chains));
    std::atomic<int64_t> next{0};
    auto worker = [&]() {
        for (int64_t c = next++; c < n_chains; c = next++) run_chain(c);
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(workers - 1));
    for (int64_t w = 1; w < workers; ++w) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
}

}  // namespace fastmc
