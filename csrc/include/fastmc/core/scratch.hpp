// Per-chain scratch memory, 64-byte aligned, and the padded stride its arrays are laid out with.
// With every array starting on a 32-byte boundary, no 4-lane load of the kernels straddles a
// cache line: malloc's 16-byte alignment would split half of them, and a run's speed would depend
// on the alignment its buffer happened to get.
#pragma once
#include <cstdint>
#include <vector>

namespace fastmc {

// n rounded up to a multiple of 4 doubles (32 bytes): the stride between consecutive arrays of
// length n in a scratch buffer.
inline int64_t pad4(int64_t n) { return (n + 3) & ~int64_t(3); }

// n doubles from a vector over-allocated by 7, starting at its first 64-byte boundary (portable:
// no aligned_alloc on MSVC).
class Scratch {
   public:
    explicit Scratch(int64_t n) : buf_(static_cast<size_t>(n > 0 ? n : 0) + 7) {
        const auto a = reinterpret_cast<uintptr_t>(buf_.data());
        p_ = buf_.data() + ((64 - a % 64) % 64) / sizeof(double);
    }
    double* data() { return p_; }

   private:
    std::vector<double> buf_;
    double* p_;
};

}  // namespace fastmc
