#include "blas_threads.hpp"

#include <atomic>

#include "rankwise/lapack.hpp"

namespace rankwise::cpu {
namespace {
std::atomic<LocalThreadsSetter> local_setter{nullptr};
}  // namespace

void register_local_blas_threads(LocalThreadsSetter setter) { local_setter.store(setter); }

bool serial_blas_available() { return local_setter.load() != nullptr; }

SerialBlas::SerialBlas() {
    if (auto set = local_setter.load()) previous_ = set(1);
}

SerialBlas::~SerialBlas() {
    // MKL returns 0 for "no thread-local setting", which is also how it is restored.
    if (auto set = local_setter.load()) set(previous_);
}

}  // namespace rankwise::cpu

namespace rankwise::lapack {
void register_local_threads_setter(int (*setter)(int)) { cpu::register_local_blas_threads(setter); }
bool local_threads_setter_registered() { return cpu::serial_blas_available(); }
}  // namespace rankwise::lapack
