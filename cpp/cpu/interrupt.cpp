// Ctrl-C between passes: the bindings install a checker that raises KeyboardInterrupt.
#include <atomic>

#include "rankwise/cpu_backend.hpp"

namespace rankwise {
namespace {
std::atomic<void (*)()> g_checker{nullptr};
}

void set_interrupt_checker(void (*checker)()) { g_checker.store(checker); }

void CpuBackend::check_interrupt() const {
    if (auto* checker = g_checker.load()) checker();
}

}  // namespace rankwise
