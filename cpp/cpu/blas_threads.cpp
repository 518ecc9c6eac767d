#include "rankwise/blas_threads.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

namespace rankwise::cpu {
namespace {

// The setter of the backend's own BLAS and those of other BLAS libraries in the process
// (NumPy's own OpenBLAS), the open scopes, and the counts to restore when the last closes.
struct SerialState {
    std::mutex lock;
    ThreadsSetter own = nullptr;
    std::vector<ThreadsSetter> others;
    std::vector<ThreadsSetter> held;  // what the open scopes set to 1, in order
    std::vector<int> saved_threads;
    int open_scopes = 0;
};

SerialState& serial_state() {
    static SerialState state;
    return state;
}

std::atomic<bool> own_registered{false};  // state.own != nullptr, read without the lock

}  // namespace

void register_blas_threads_setter(ThreadsSetter setter, bool own_blas) {
    SerialState& state = serial_state();
    const std::lock_guard<std::mutex> guard(state.lock);
    if (own_blas) {
        state.own = setter;
        own_registered.store(setter != nullptr);
    } else if (setter != nullptr &&
               std::find(state.others.begin(), state.others.end(), setter) == state.others.end()) {
        state.others.push_back(setter);
    }
}

bool serial_blas_available() { return own_registered.load(); }

SerialBlas::SerialBlas() {
    SerialState& state = serial_state();
    const std::lock_guard<std::mutex> guard(state.lock);
    if (state.open_scopes++ != 0) return;
    state.held.clear();
    state.saved_threads.clear();
    if (state.own != nullptr) state.held.push_back(state.own);
    for (const ThreadsSetter set : state.others)
        if (set != state.own) state.held.push_back(set);  // one library found twice: once
    for (const ThreadsSetter set : state.held) state.saved_threads.push_back(set(1));
}

SerialBlas::~SerialBlas() {
    SerialState& state = serial_state();
    const std::lock_guard<std::mutex> guard(state.lock);
    if (--state.open_scopes != 0) return;
    // MKL reports 0 for "no thread-local setting", which is also how it is restored.
    for (std::size_t i = state.held.size(); i-- > 0;) state.held[i](state.saved_threads[i]);
}

UserBlasThreads::UserBlasThreads() {
    SerialState& state = serial_state();
    const std::lock_guard<std::mutex> guard(state.lock);
    // Only under the one scope of the calling native call: the counts are process-wide, and
    // other threads' native calls (more scopes) rely on their BLAS staying on one thread.
    if (state.open_scopes != 1) return;
    for (std::size_t i = 0; i < state.held.size(); ++i) state.held[i](state.saved_threads[i]);
    resumed_ = true;
}

UserBlasThreads::~UserBlasThreads() {
    if (!resumed_) return;
    SerialState& state = serial_state();
    const std::lock_guard<std::mutex> guard(state.lock);
    for (const ThreadsSetter set : state.held) set(1);
}

}  // namespace rankwise::cpu
