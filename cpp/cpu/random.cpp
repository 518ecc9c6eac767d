// CPU backend: Gaussian sketches from the Philox counter-based generator.
#include "rankwise/cpu_backend.hpp"
#include "rankwise/philox.hpp"
#include "parallel.hpp"

namespace rankwise {

template <class T>
void CpuBackend::fill_normal(MatView<T> X, philox::Key key, std::uint64_t stream) const {
    const index_t total = X.rows * X.cols;
    const index_t blocks = (total + 3) / 4;
    // A normal deviate (Philox + Box-Muller) costs about as much as streaming 16 elements.
    cpu::parallel_for(blocks, cpu::worth_parallel(16 * total), [&](index_t b) {
        const philox::Counter ctr{static_cast<std::uint64_t>(b), stream, 0, 0};
        double z[4];
        philox::normal4(philox::philox4x64_10(ctr, key), z);
        for (index_t t = 4 * b, e = 0; e < 4 && t < total; ++t, ++e) {
            X(t % X.rows, t / X.rows) = static_cast<T>(z[e]);
        }
    });
}

template void CpuBackend::fill_normal<float>(MatView<float>, philox::Key, std::uint64_t) const;
template void CpuBackend::fill_normal<double>(MatView<double>, philox::Key, std::uint64_t) const;

}  // namespace rankwise
