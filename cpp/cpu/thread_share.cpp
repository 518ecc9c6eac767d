#include "rankwise/thread_share.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>

namespace rankwise::cpu {
namespace {
std::atomic<int> running_calls{0};
}

ThreadShare::ThreadShare() : saved_threads_(omp_get_max_threads()) {
    const int calls = ++running_calls;
    if (calls > 1) {
        omp_set_num_threads(std::max(1, saved_threads_ / calls));
        changed_ = true;
    }
}

ThreadShare::~ThreadShare() {
    --running_calls;
    if (changed_) omp_set_num_threads(saved_threads_);
}

}  // namespace rankwise::cpu
