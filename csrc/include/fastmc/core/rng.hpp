// xoshiro256** with a 256-layer ziggurat for normal draws.
// Twin: fastmc/_numba/core/rng.py. Every chain owns a generator seeded from (seed, chain) only, so
// draws never depend on the thread count; both twins produce the same bits and the same doubles.
#pragma once
#include "fastmc/core/inline.hpp"
#include <cmath>
#include <cstdint>
#include <cstring>

namespace fastmc {

inline uint64_t splitmix64_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

struct ZigguratTables {
    double x[257];  // layer edges: x[0] is the base layer's virtual width, x[1] = R, x[256] = 0
    double f[257];  // exp(-x^2 / 2) at the edges
    ZigguratTables() {
        const double R = 3.6541528853610088;
        const double V = 0.00492867323399;  // area of each of the 256 layers
        const double fR = std::exp(-0.5 * R * R);
        x[0] = V / fR;
        x[1] = R;
        for (int i = 1; i < 255; ++i) x[i + 1] = std::sqrt(-2.0 * std::log(V / x[i] + std::exp(-0.5 * x[i] * x[i])));
        x[256] = 0.0;
        for (int i = 0; i < 257; ++i) f[i] = std::exp(-0.5 * x[i] * x[i]);
    }
};

inline const ZigguratTables& ziggurat_tables() {
    static const ZigguratTables t;
    return t;
}

struct Rng {
    uint64_t s[4];
    const ZigguratTables* zt;

    // State from (seed, chain) only: four splitmix64 outputs from a chain-mixed start.
    Rng(uint64_t seed, uint64_t chain) : zt(&ziggurat_tables()) {
        uint64_t z = seed + splitmix64_mix(chain + 1);
        for (int i = 0; i < 4; ++i) {
            z += 0x9E3779B97F4A7C15ULL;
            s[i] = splitmix64_mix(z);
        }
    }

    // A generator continuing from a saved state (4,), as the samplers receive it from Python.
    explicit Rng(const uint64_t* state) : s{state[0], state[1], state[2], state[3]}, zt(&ziggurat_tables()) {}

    void save(uint64_t* state) const {
        for (int i = 0; i < 4; ++i) state[i] = s[i];
    }

    FASTMC_INLINE uint64_t next() {
        const uint64_t result = rotl(s[1] * 5, 7) * 9;
        const uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
    }

    // [0, 1) with 53 random bits.
    FASTMC_INLINE double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    // (0, 1): safe for log.
    FASTMC_INLINE double uniform_open() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }

    // x (>= 0) negated when bit 8 of u is set, by flipping the sign bit: the same value as
    // neg ? -x : x, without a branch that would mispredict on every other draw
    static FASTMC_INLINE double with_sign_bit(double x, uint64_t u) {
        uint64_t b;
        std::memcpy(&b, &x, 8);
        b ^= (u & 0x100) << 55;
        std::memcpy(&x, &b, 8);
        return x;
    }

    // Ziggurat (Marsaglia & Tsang 2000, 256 layers): bits 0-7 pick the layer, bit 8 the sign,
    // bits 11-63 the position; the rare wedge and tail cases draw further words.
    FASTMC_INLINE double normal() {
        const double* X = zt->x;
        for (;;) {
            const uint64_t u = next();
            const int i = static_cast<int>(u & 0xFF);
            const bool neg = (u >> 8) & 1;
            const double x = static_cast<double>(u >> 11) * 0x1.0p-53 * X[i];
            if (x < X[i + 1]) return with_sign_bit(x, u);
            if (i == 0) {
                const double R = X[1];
                double a, b;
                do {
                    a = -std::log(uniform_open()) / R;
                    b = -std::log(uniform_open());
                } while (b + b < a * a);
                return neg ? -(R + a) : (R + a);
            }
            const double* F = zt->f;
            if (F[i + 1] + uniform() * (F[i] - F[i + 1]) < std::exp(-0.5 * x * x)) return neg ? -x : x;
        }
    }
};

}  // namespace fastmc
