// Philox4x64-10 counter-based generator (Salmon, Moraes, Dror, Shaw, "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011).  The same function as numpy.random.Philox, so the
// raw stream is checked against numpy; written so that a CUDA kernel can include it.
//
// A sketch entry is a pure function of (key, counter), so any thread (or GPU block) can
// generate any part of a random matrix without sharing state.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "rankwise/host_device.hpp"

namespace rankwise::philox {

using Counter = std::array<std::uint64_t, 4>;
using Key = std::array<std::uint64_t, 2>;

RANKWISE_HD inline void mulhilo(std::uint64_t a, std::uint64_t b, std::uint64_t& hi,
                                std::uint64_t& lo) {
#if defined(__CUDA_ARCH__)
    lo = a * b;
    hi = __umul64hi(a, b);
#else
    __extension__ using u128 = unsigned __int128;  // GCC/Clang extension, exact 64x64->128
    const u128 p = static_cast<u128>(a) * b;
    lo = static_cast<std::uint64_t>(p);
    hi = static_cast<std::uint64_t>(p >> 64);
#endif
}

// Ten rounds of Philox4x64 on one counter block.
RANKWISE_HD inline Counter philox4x64_10(Counter ctr, Key key) {
    constexpr std::uint64_t M0 = 0xD2E7470EE14C6C93ULL, M1 = 0xCA5A826395121157ULL;
    constexpr std::uint64_t W0 = 0x9E3779B97F4A7C15ULL, W1 = 0xBB67AE8584CAA73BULL;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            key[0] += W0;
            key[1] += W1;
        }
        std::uint64_t hi0, lo0, hi1, lo1;
        mulhilo(M0, ctr[0], hi0, lo0);
        mulhilo(M1, ctr[2], hi1, lo1);
        ctr = Counter{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    }
    return ctr;
}

// counter + offset, with carry across the four words (little-endian word order, as numpy).
RANKWISE_HD inline Counter advance(Counter ctr, std::uint64_t offset) {
    const std::uint64_t before = ctr[0];
    ctr[0] += offset;
    if (ctr[0] < before) {
        for (int w = 1; w < 4; ++w) {
            if (++ctr[w] != 0) break;
        }
    }
    return ctr;
}

// 53 random bits to a double in the open interval (0, 1): never 0, so log() is finite.
RANKWISE_HD inline double to_open_unit(std::uint64_t x) {
    return (static_cast<double>(x >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Four standard normal deviates from one block, by the Box-Muller transform on two pairs.
RANKWISE_HD inline void normal4(const Counter& bits, double out[4]) {
    constexpr double two_pi = 6.283185307179586476925286766559;
    for (int pair = 0; pair < 2; ++pair) {
        const double r = std::sqrt(-2.0 * std::log(to_open_unit(bits[2 * pair])));
        const double theta = two_pi * to_open_unit(bits[2 * pair + 1]);
        out[2 * pair] = r * std::cos(theta);
        out[2 * pair + 1] = r * std::sin(theta);
    }
}

}  // namespace rankwise::philox
