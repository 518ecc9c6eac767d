// cpu::parallel_for (cpu/parallel.hpp): every index visited once on either path, and the
// serial path entered without any OpenMP region (not even a team of one: omp_get_level()
// counts inactive regions too, so `#pragma omp parallel for if (false)` would fail here).
#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

#include "../../cpp/cpu/parallel.hpp"

namespace rankwise::test {
namespace {

TEST(ParallelFor, SerialPathVisitsEveryIndexInOrderOutsideAnyRegion) {
    for (const index_t n : {index_t{0}, index_t{1}, index_t{37}}) {
        std::vector<index_t> seen;
        std::vector<int> levels;
        cpu::parallel_for(n, false, [&](index_t i) {
            seen.push_back(i);
            levels.push_back(omp_get_level());
        });
        ASSERT_EQ(static_cast<index_t>(seen.size()), n);
        for (index_t i = 0; i < n; ++i) {
            EXPECT_EQ(seen[i], i);
            EXPECT_EQ(levels[i], 0);
        }
    }
}

TEST(ParallelFor, ParallelPathVisitsEveryIndexOnceInARegion) {
    for (const index_t n : {index_t{0}, index_t{1}, index_t{1000}}) {
        std::vector<int> count(static_cast<std::size_t>(n), 0);
        std::vector<int> level(static_cast<std::size_t>(n), -1);
        cpu::parallel_for(n, true, [&](index_t i) {
            ++count[i];  // each index has one writer
            level[i] = omp_get_level();
        });
        for (index_t i = 0; i < n; ++i) {
            EXPECT_EQ(count[i], 1) << "index " << i;
            EXPECT_EQ(level[i], 1) << "index " << i;
        }
    }
}

}  // namespace
}  // namespace rankwise::test
