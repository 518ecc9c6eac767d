#include "rankwise/blas_threads.hpp"

#include <atomic>
#include <mutex>

namespace rankwise::cpu {
namespace {

std::atomic<ThreadsSetter> threads_setter{nullptr};

// Open scopes in the process, and the thread count to restore when the last one closes.
struct SerialState {
    std::mutex lock;
    int open_scopes = 0;
    int saved_threads = 0;
};

SerialState& serial_state() {
    static SerialState state;
    return state;
}

}  // namespace

void register_blas_threads_setter(ThreadsSetter setter) { threads_setter.store(setter); }

bool serial_blas_available() { return threads_setter.load() != nullptr; }

SerialBlas::SerialBlas() {
    const auto set = threads_setter.load();
    if (set == nullptr) return;
    SerialState& state = serial_state();
    const std::lock_guard<std::mutex> guard(state.lock);
    if (state.open_scopes++ == 0) state.saved_threads = set(1);
}

SerialBlas::~SerialBlas() {
    const auto set = threads_setter.load();
    if (set == nullptr) return;
    SerialState& state = serial_state();
    const std::lock_guard<std::mutex> guard(state.lock);
    // MKL reports 0 for "no thread-local setting", which is also how it is restored.
    if (--state.open_scopes == 0) set(state.saved_threads);
}

}  // namespace rankwise::cpu

