// Work-matrix storage (cpu/host_buffers.cpp): a freed buffer is handed to the next matrix of
// a fitting size on the same thread, never to one it is too small or far too large for, and
// storage handed out (to a numpy array, in the bindings) is never shared.
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "rankwise/cpu_backend.hpp"

namespace rankwise::test {
namespace {

constexpr index_t kRows = 4000, kCols = 42;  // 1.3 MB of doubles: a cached size

TEST(HostBuffers, AFreedBufferIsReusedByTheNextMatrixThatFits) {
    const double* first = nullptr;
    {
        HostMatrix<double> A(kRows, kCols);
        first = A.data();
        A.data()[0] = 1.0;
    }
    HostMatrix<double> B(kRows, kCols - 1);  // a little smaller: fits
    EXPECT_EQ(B.data(), first);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(B.data()) % 64, 0u);
}

TEST(HostBuffers, TooSmallOrMuchLargerBuffersAreNotHandedOut) {
    const double* small = nullptr;
    { HostMatrix<double> A(kRows, 10); small = A.data(); }
    HostMatrix<double> B(kRows, 30);  // needs 3x the cached buffer: a fresh one
    EXPECT_NE(B.data(), small);
    const double* big = nullptr;
    { HostMatrix<double> C(kRows, kCols); big = C.data(); }
    HostMatrix<double> D(kRows, 5);  // the 1.3 MB buffer is over twice what D needs
    EXPECT_NE(D.data(), big);
}

TEST(HostBuffers, ReleasedStorageIsNotSharedWhileItsOwnerLives) {
    HostMatrix<double> A(kRows, kCols);
    HostBuffer<double> owned = A.release();  // as to_numpy does
    HostMatrix<double> B(kRows, kCols);
    EXPECT_NE(B.data(), owned.get());
    owned.reset();  // back to the cache
    HostMatrix<double> C(kRows, kCols);
    EXPECT_NE(C.data(), B.data());
}

TEST(HostBuffers, BuffersFreedOnAnotherThreadAreSafe) {
    HostBuffer<double> owned = HostMatrix<double>(kRows, kCols).release();
    std::thread([&] { owned.reset(); }).join();  // cached there, freed at that thread's end
    std::vector<HostMatrix<double>> many;
    for (int i = 0; i < 20; ++i) many.emplace_back(kRows, kCols);  // more than the cache holds
    for (std::size_t i = 1; i < many.size(); ++i) EXPECT_NE(many[i].data(), many[i - 1].data());
}

}  // namespace
}  // namespace rankwise::test
